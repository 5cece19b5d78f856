"""The agent loop: think, call tools, read their real outputs, ..., answer.

A ``Policy`` writes each assistant turn in the ReAct text format; the loop
runs its tool calls (in parallel, each answered exactly once, in order) and
feeds the outputs back. Every way a rollout ends has a label:

- ``answered``: one final answer;
- ``answered_twice``: more than one answer in a turn, or an answer with tool calls;
- ``malformed_tool_call``: a tool call that is not valid JSON of the right shape;
- ``no_action``: a turn with neither a tool call nor an answer;
- ``loop_detected``: the same tool with the same arguments again;
- ``max_turns`` / ``max_tool_calls`` / ``max_tokens`` / ``timeout``: a limit
  reached (tokens counted by the caller's tokenizer, the training one);
- ``policy_error``: the model could not be asked (the reason is kept).

Unknown tools, tools that raise and tools that hang are answered with a
structured tool error and the rollout goes on; the filters decide later.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kisa_tasks.agent.react import ToolCall, Turn, parse_turn, render_responses, tools_prompt
from kisa_tasks.agent.tools import Toolbox, tool_error_text

Message = dict[str, str]
Policy = Callable[[Sequence[Message]], str]

TERMINATIONS = (
    "answered",
    "answered_twice",
    "malformed_tool_call",
    "no_action",
    "loop_detected",
    "max_turns",
    "max_tool_calls",
    "max_tokens",
    "timeout",
    "policy_error",
)


@dataclass(frozen=True)
class Limits:
    max_turns: int = 12
    max_tool_calls: int = 30
    max_seconds: float = 120.0
    max_tokens: int = 32_000  # the whole conversation, when a token counter is given


@dataclass
class Rollout:
    messages: list[Message]
    termination: str = ""
    answer: str | None = None
    tool_calls: int = 0
    tool_errors: list[str] = field(default_factory=list)
    detail: str = ""  # why it ended, in words

    @property
    def turns(self) -> int:
        return sum(1 for m in self.messages if m["role"] == "assistant")


def run_agent(
    policy: Policy,
    toolbox: Toolbox,
    system: str,
    question: str,
    limits: Limits = Limits(),
    clock: Callable[[], float] = time.monotonic,
    count_tokens: Callable[[str], int] | None = None,
) -> Rollout:
    messages: list[Message] = [
        {"role": "system", "content": system},
        {"role": "user", "content": tools_prompt(toolbox.schemas(), question)},
    ]
    rollout = Rollout(messages)
    seen: set[str] = set()
    started = clock()
    for _ in range(limits.max_turns):
        if clock() - started > limits.max_seconds:
            return _end(rollout, "timeout", f"over {limits.max_seconds:g}s")
        try:
            text = policy(messages)
        except Exception as exc:  # noqa: BLE001 - any policy failure ends this rollout only
            return _end(rollout, "policy_error", f"{type(exc).__name__}: {exc}")
        messages.append({"role": "assistant", "content": text})
        if count_tokens is not None:
            used = sum(count_tokens(m["content"]) for m in messages)
            if used > limits.max_tokens:
                return _end(rollout, "max_tokens", f"{used} tokens > {limits.max_tokens}")
        turn = parse_turn(text)
        ending = turn_ending(turn)
        if ending is not None:
            rollout.answer = turn.answers[0] if ending[0] == "answered" else None
            return _end(rollout, *ending)
        if not turn.calls:
            return _end(rollout, "no_action", "neither a tool call nor an answer")
        keys = [_key(c) for c in turn.calls]
        if any(k in seen for k in keys) or len(set(keys)) < len(keys):
            return _end(rollout, "loop_detected", f"repeated call {turn.calls[0].name}")
        seen.update(keys)
        if rollout.tool_calls + len(turn.calls) > limits.max_tool_calls:
            return _end(rollout, "max_tool_calls", f"over {limits.max_tool_calls} tool calls")
        results = toolbox.call_all([(c.name, c.arguments) for c in turn.calls])
        rollout.tool_calls += len(results)
        rollout.tool_errors += [r.error for r in results if r.error]
        outputs = [r.output if r.ok else tool_error_text(r) for r in results]
        messages.append({"role": "user", "content": render_responses(outputs)})
    return _end(rollout, "max_turns", f"no answer in {limits.max_turns} turns")


def turn_ending(turn: Turn) -> tuple[str, str] | None:
    """(label, detail) when this assistant turn ends the rollout."""
    if turn.errors:
        return "malformed_tool_call", turn.errors[0]
    if len(turn.answers) > 1 or (turn.answers and turn.calls):
        return "answered_twice", "more than one final action in a turn"
    if turn.answers:
        return "answered", ""
    return None


def _key(call: ToolCall) -> str:
    return json.dumps([call.name, call.arguments], sort_keys=True, default=str)


def _end(rollout: Rollout, label: str, detail: str) -> Rollout:
    rollout.termination = label
    rollout.detail = detail
    return rollout


def as_json(rollout: Rollout) -> dict[str, Any]:
    return {
        "messages": rollout.messages,
        "termination": rollout.termination,
        "answer": rollout.answer,
        "tool_calls": rollout.tool_calls,
        "tool_errors": rollout.tool_errors,
        "detail": rollout.detail,
    }
