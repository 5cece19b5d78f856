"""Rewriting of thoughts (``llm`` mode): each assistant turn's ``<think>``
is rewritten by the model into fluent reasoning, while its tool calls and
answer stay byte for byte, so the filters' verdicts still hold. A turn whose
rewrite fails keeps its thought. Every rewrite is one cached call, so a rerun
after a crash asks only for the turns not rewritten yet.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from kisa_tasks.agent.loop import Message
from kisa_tasks.agent.react import Turn, parse_turn
from kisa_tasks.llm.client import LLMError, Sampling
from kisa_tasks.llm.sync import LLMGateway

PROMPT_VERSION = "rewrite-v1"
REWRITE_PROMPT = (
    f"(prompt {PROMPT_VERSION}) You edit the reasoning of a medical research agent. "
    "Rewrite the agent's thought as clear, natural first-person reasoning about what it "
    "knows so far and why it takes its next step. Keep every fact, entity name and "
    "decision; add nothing the conversation does not show. Reply with JSON: "
    '{"thought": "<the rewritten thought>"}.'
)
SCHEMA = {
    "type": "object",
    "properties": {"thought": {"type": "string", "minLength": 1, "maxLength": 2000}},
    "required": ["thought"],
    "additionalProperties": False,
}
_THINK = re.compile(r"<think>.*?</think>", re.S)
CONTEXT_CHARS = 1500  # of the turn before, enough to know what was just seen


@dataclass(frozen=True)
class Rewritten:
    messages: list[Message]
    rewritten: int
    failed: int
    refused: int = 0  # rewrites that changed the turn's calls, answer or errors


def rewrite_thoughts(gateway: LLMGateway, messages: Sequence[Message]) -> Rewritten:
    out: list[Message] = []
    rewritten = failed = refused = 0
    for i, message in enumerate(messages):
        turn = parse_turn(message["content"]) if message["role"] == "assistant" else None
        if turn is None or turn.errors or len(_THINK.findall(message["content"])) != 1:
            out.append(dict(message))
            continue
        before = messages[i - 1]["content"][-CONTEXT_CHARS:] if i else ""
        request = [
            {"role": "system", "content": REWRITE_PROMPT},
            {"role": "user", "content": f"What the agent just saw:\n{before}\n\n"
                                        f"The agent's thought:\n{turn.think}"},
        ]  # fmt: skip
        try:
            result = gateway.complete(
                request, sampling=Sampling(temperature=0.0, max_tokens=600), schema=SCHEMA
            )
        except LLMError:
            failed += 1
            out.append(dict(message))
            continue
        thought = str((result.data or {}).get("thought", "")).strip() or turn.think
        content = message["content"]
        found = _THINK.search(content)
        assert found is not None  # checked above: exactly one
        content = f"{content[: found.start()]}<think>\n{thought}\n</think>{content[found.end() :]}"
        if not same_structure(turn, parse_turn(content)):
            # A thought that smuggles in a tag (</think>, <answer>, a tool
            # call or response) would change the turn the filters passed.
            refused += 1
            out.append(dict(message))
            continue
        out.append({"role": "assistant", "content": content})
        rewritten += 1
    return Rewritten(out, rewritten, failed, refused)


def same_structure(before: Turn, after: Turn) -> bool:
    """The rewritten turn makes the same calls and answer, with no new error."""
    return (after.calls, after.answers, after.errors) == (
        before.calls,
        before.answers,
        before.errors,
    )
