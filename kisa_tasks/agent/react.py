"""The ReAct text protocol of the training data (the reference format):
assistant turns hold ``<think>``, then one or more ``<tool_call>`` JSON
objects or one ``<answer>``; tool outputs come back in a user turn as
``<tool_response>`` blocks, one per call, in call order.

``parse_turn`` reads an assistant turn and says what is wrong with it rather
than guessing: a malformed tool call is reported, not repaired.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

_THINK = re.compile(r"<think>(.*?)</think>", re.S)
_CALL = re.compile(r"<tool_call>(.*?)</tool_call>", re.S)
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.S)
RESPONSE_BLOCK = re.compile(r"(<tool_response>\n?)(.*?)(\n?</tool_response>)", re.S)
RESPONSE_OPEN = "<tool_response>"
FORGED = "forged_tool_response"


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: Mapping[str, Any]


@dataclass(frozen=True)
class Turn:
    think: str = ""
    calls: tuple[ToolCall, ...] = ()
    answers: tuple[str, ...] = ()
    errors: tuple[str, ...] = field(default=())  # "malformed_tool_call: ..."


def parse_turn(text: str) -> Turn:
    think = " ".join(m.strip() for m in _THINK.findall(text))
    calls: list[ToolCall] = []
    errors: list[str] = []
    for raw in _CALL.findall(text):
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            errors.append(f"malformed_tool_call: invalid JSON ({exc.msg})")
            continue
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            errors.append("malformed_tool_call: needs an object with a string 'name'")
            continue
        arguments = data.get("arguments", {})
        if isinstance(arguments, str):  # some models send the arguments as a JSON string
            try:
                arguments = json.loads(arguments)
            except json.JSONDecodeError:
                errors.append("malformed_tool_call: 'arguments' is not JSON")
                continue
        if not isinstance(arguments, dict):
            errors.append("malformed_tool_call: 'arguments' must be an object")
            continue
        calls.append(ToolCall(data["name"], arguments))
    answers = tuple(a.strip() for a in _ANSWER.findall(text))
    if RESPONSE_OPEN in text or "</tool_response>" in text:
        # Only the environment writes tool outputs; a model that writes its
        # own would be trained to invent evidence.
        errors.insert(0, f"{FORGED}: the turn writes a tool response the environment did not")
    return Turn(think, tuple(calls), answers, tuple(errors))


def render_call(call: ToolCall) -> str:
    body = json.dumps({"name": call.name, "arguments": dict(call.arguments)}, ensure_ascii=False)
    return f"<tool_call>\n{body}\n</tool_call>"


def render_turn(think: str, calls: Sequence[ToolCall] = (), answer: str | None = None) -> str:
    parts = [f"<think>\n{think}\n</think>"]
    parts += [render_call(c) for c in calls]
    if answer is not None:
        parts.append(f"<answer>\n{answer}\n</answer>")
    return "\n".join(parts)


def render_responses(outputs: Sequence[str]) -> str:
    return "\n".join(f"<tool_response>\n{o}\n</tool_response>" for o in outputs)


def tools_prompt(schemas: Sequence[Mapping[str, Any]], question: str) -> str:
    """The user turn that opens a ReAct trajectory: the tools and the question."""
    tools = "\n".join(json.dumps(s["function"], ensure_ascii=False, indent=2) for s in schemas)
    return (
        "A conversation between User and Assistant. The user asks a question, and the "
        "assistant solves it by calling one or more of the following tools.\n"
        f"<tools>\n{tools}\n</tools>\n\n"
        "The assistant thinks inside <think> </think>, calls a tool with "
        '<tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>, reads the result in '
        "<tool_response> </tool_response>, and gives the final answer inside "
        "<answer> </answer>.\n\n"
        f"User: {question}"
    )


def asked(messages: Sequence[Mapping[str, str]]) -> str:
    """The question of a ReAct conversation: what follows the last "User: "
    of its opening user turn (the ``tools_prompt`` layout)."""
    opening = messages[1]["content"] if len(messages) > 1 else ""
    return opening.rsplit("User: ", 1)[-1].strip()


def openai_messages(messages: Sequence[Mapping[str, str]], question: str) -> list[dict[str, Any]]:
    """The ReAct conversation in OpenAI tool-call format: thoughts as content,
    calls as ``tool_calls``, each output a ``tool`` message with its call id."""
    out: list[dict[str, Any]] = [dict(messages[0]), {"role": "user", "content": question}]
    pending: list[str] = []
    for turn_no, message in enumerate(messages[2:], start=1):
        if message["role"] == "assistant":
            turn = parse_turn(message["content"])
            entry: dict[str, Any] = {"role": "assistant", "content": turn.think}
            if turn.calls:
                pending = [f"call_{turn_no}_{k}" for k in range(len(turn.calls))]
                entry["tool_calls"] = [
                    {
                        "id": call_id,
                        "type": "function",
                        "function": {
                            "name": call.name,
                            "arguments": json.dumps(dict(call.arguments), ensure_ascii=False),
                        },
                    }
                    for call_id, call in zip(pending, turn.calls, strict=True)
                ]
            if turn.answers:
                entry["content"] = turn.answers[0]
                entry["reasoning"] = turn.think
            out.append(entry)
        else:
            outputs = [m.group(2) for m in RESPONSE_BLOCK.finditer(message["content"])]
            out += [
                {"role": "tool", "tool_call_id": call_id, "content": output}
                for call_id, output in zip(pending, outputs, strict=False)
            ]
    return out
