"""The agent loop: think, call tools, read their real outputs, ..., answer.

A ``Policy`` writes each assistant turn in the ReAct text format; the loop
runs its tool calls (in parallel, each answered exactly once, in order) and
feeds the outputs back. Every way a rollout ends has a label:

- ``answered``: one final answer;
- ``answered_twice``: more than one answer in a turn, or an answer with tool calls;
- ``malformed_tool_call``: a tool call that is not valid JSON of the right shape;
- ``forged_tool_response``: a turn that writes a tool response itself;
- ``no_action``: a turn with neither a tool call nor an answer;
- ``loop_detected``: the same tool with the same arguments again;
- ``max_turns`` / ``max_tool_calls`` / ``max_tokens`` / ``timeout``: a limit
  reached (tokens counted by the caller's tokenizer, the training one);
- ``policy_error``: the model could not be asked (the reason is kept).

Unknown tools, tools that raise and tools that hang are answered with a
structured tool error and the rollout goes on; the filters decide later.
A simulated service failure (``FlakyToolbox``) is answered with a blank or a
refusal; the policy sees it, and making the same call again is not a loop.

An optional ``on_event`` observer sees each step as it happens (``Event``:
an assistant turn, each tool call, each observation, the end), for a person
watching a rollout live (``kisa ask``); it changes nothing in the rollout.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from kisa_tasks.agent.react import (
    FORGED,
    ToolCall,
    Turn,
    parse_turn,
    render_responses,
    tools_prompt,
)
from kisa_tasks.agent.tools import Toolbox, tool_error_text

Message = dict[str, str]
Policy = Callable[[Sequence[Message]], str]

TERMINATIONS = (
    "answered",
    "answered_twice",
    "malformed_tool_call",
    "forged_tool_response",
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
    call_names: list[str] = field(default_factory=list)  # every tool call, in order
    failed_calls: list[int] = field(default_factory=list)  # simulated failures (call numbers)

    @property
    def turns(self) -> int:
        return sum(1 for m in self.messages if m["role"] == "assistant")

    @property
    def recovered(self) -> int:
        """Failed calls after which the agent used the same tool again and got
        an answer: it searched again instead of giving up or guessing."""
        failed = set(self.failed_calls)
        return sum(
            any(
                later not in failed and self.call_names[later] == self.call_names[number]
                for later in range(number + 1, len(self.call_names))
            )
            for number in self.failed_calls
        )


EventKind = Literal["assistant", "tool_call", "observation", "end"]


@dataclass(frozen=True)
class Event:
    """One step of a rollout, as it happens.

    - ``assistant``: ``text`` is the turn, ``think`` and ``answer`` parsed
      from it, ``took`` the policy call;
    - ``tool_call``: ``name`` and ``arguments`` of a call about to run;
    - ``observation``: ``name``, ``text`` the output (or the tool error, then
      also in ``error``), ``took`` the batch of parallel calls it ran in;
    - ``end``: ``name`` the termination label, ``text`` its detail.
    """

    kind: EventKind
    seconds: float  # since the rollout started
    text: str = ""
    name: str = ""
    arguments: Mapping[str, Any] = field(default_factory=dict)
    think: str = ""
    answer: str | None = None
    error: str | None = None
    took: float = 0.0


def run_agent(
    policy: Policy,
    toolbox: Toolbox,
    system: str,
    question: str,
    limits: Limits = Limits(),
    clock: Callable[[], float] = time.monotonic,
    count_tokens: Callable[[str], int] | None = None,
    on_event: Callable[[Event], None] | None = None,
) -> Rollout:
    # Event times come from a timer of their own: the limit ``clock`` may be
    # a test's ticking one, and reading it more often would change when the
    # rollout times out.
    began = time.perf_counter()

    def emit(kind: EventKind, **values: Any) -> None:
        if on_event is not None:
            on_event(Event(kind, time.perf_counter() - began, **values))

    rollout = _run(policy, toolbox, system, question, limits, clock, count_tokens, emit)
    emit("end", name=rollout.termination, text=rollout.detail, answer=rollout.answer)
    return rollout


def _run(
    policy: Policy,
    toolbox: Toolbox,
    system: str,
    question: str,
    limits: Limits,
    clock: Callable[[], float],
    count_tokens: Callable[[str], int] | None,
    emit: Callable[..., None],
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
        asked = time.perf_counter()
        try:
            text = policy(messages)
        except Exception as exc:  # noqa: BLE001 - any policy failure ends this rollout only
            return _end(rollout, "policy_error", f"{type(exc).__name__}: {exc}")
        took = time.perf_counter() - asked
        messages.append({"role": "assistant", "content": text})
        turn = parse_turn(text)
        emit("assistant", text=text, think=turn.think,
             answer=turn.answers[0] if turn.answers else None, took=took)  # fmt: skip
        if count_tokens is not None:
            used = sum(count_tokens(m["content"]) for m in messages)
            if used > limits.max_tokens:
                return _end(rollout, "max_tokens", f"{used} tokens > {limits.max_tokens}")
        ending = turn_ending(turn)
        if ending is not None:
            rollout.answer = turn.answers[0] if ending[0] == "answered" else None
            return _end(rollout, *ending)
        if not turn.calls:
            return _end(rollout, "no_action", "neither a tool call nor an answer")
        keys = [_key(c) for c in turn.calls]
        if any(k in seen for k in keys) or len(set(keys)) < len(keys):
            return _end(rollout, "loop_detected", f"repeated call {turn.calls[0].name}")
        if rollout.tool_calls + len(turn.calls) > limits.max_tool_calls:
            return _end(rollout, "max_tool_calls", f"over {limits.max_tool_calls} tool calls")
        for call in turn.calls:
            emit("tool_call", name=call.name, arguments=call.arguments)
        ran = time.perf_counter()
        results = toolbox.call_all([(c.name, c.arguments) for c in turn.calls])
        took = time.perf_counter() - ran
        # A call that failed may be made again: searching again is no loop.
        seen.update(k for k, r in zip(keys, results, strict=True) if not r.failed)
        rollout.failed_calls += [rollout.tool_calls + i for i, r in enumerate(results) if r.failed]
        rollout.call_names += [r.name for r in results]
        rollout.tool_calls += len(results)
        rollout.tool_errors += [r.error for r in results if r.error]
        outputs = [r.output if r.ok else tool_error_text(r) for r in results]
        for result, output in zip(results, outputs, strict=True):
            emit("observation", name=result.name, text=output, error=result.error, took=took)
        messages.append({"role": "user", "content": render_responses(outputs)})
    return _end(rollout, "max_turns", f"no answer in {limits.max_turns} turns")


def turn_ending(turn: Turn) -> tuple[str, str] | None:
    """(label, detail) when this assistant turn ends the rollout."""
    if turn.errors:
        label = FORGED if turn.errors[0].startswith(FORGED) else "malformed_tool_call"
        return label, turn.errors[0]
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
        "failed_calls": rollout.failed_calls,
        "detail": rollout.detail,
    }
