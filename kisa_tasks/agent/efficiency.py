"""How efficiently a trajectory researched: the three kinds of wasted tool
call the paper's efficiency penalty weighs (GRPO's ``r_efficiency`` in
``training.rewards``) and the trajectories stage's redundancy filter use."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kisa_tasks.agent.react import RESPONSE_BLOCK, parse_turn
from kisa_tasks.agent.tools import failed_output

Message = Mapping[str, str]
_WORD = re.compile(r"[a-z0-9]{4,}")
_ANSWER_TAG = "<answer>"
_CALL_TAG = re.compile(r"<tool_call>(.*?)</tool_call>", re.S)


@dataclass(frozen=True)
class EfficiencyCounts:
    redundant: int  # a tool call repeating an earlier one (same tool, same arguments)
    post_answer: int  # tool calls written after the first <answer>
    irrelevant: int  # calls whose output shares no content word with the question

    @property
    def penalty(self) -> float:
        return round(0.1 * self.redundant + 0.2 * self.post_answer + 0.15 * self.irrelevant, 6)


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.casefold()))


def observations(messages: Sequence[Message]) -> list[str]:
    out: list[str] = []
    for m in messages:
        if m["role"] == "user":
            out += [block[1] for block in RESPONSE_BLOCK.findall(m["content"])]
    return out


def efficiency_counts(messages: Sequence[Message], question: str) -> EfficiencyCounts:
    """Count the three inefficiencies the efficiency penalty weighs.

    >>> call = '<tool_call>{"name": "search", "arguments": {"query": "fabry"}}</tool_call>'
    >>> msgs = [
    ...     {"role": "assistant", "content": call},
    ...     {"role": "user", "content": "<tool_response>\\nnothing on this\\n</tool_response>"},
    ...     {"role": "assistant", "content": call},
    ...     {"role": "user", "content": "<tool_response>\\nFabry disease, GLA\\n</tool_response>"},
    ...     {"role": "assistant", "content": "<answer>GLA</answer>" + call},
    ... ]
    >>> c = efficiency_counts(msgs, "Which gene causes Fabry disease?")
    >>> (c.redundant, c.post_answer, c.irrelevant), c.penalty
    ((2, 1, 1), 0.55)
    """
    seen: set[str] = set()
    redundant = post_answer = 0
    answered = False
    last: list[str] = []  # the keys of the last turn's calls
    for m in messages:
        if m["role"] != "assistant":
            # A call whose service failed may be made again: that is no waste.
            outputs = [block[1] for block in RESPONSE_BLOCK.findall(m["content"])]
            seen -= {k for k, o in zip(last, outputs, strict=False) if failed_output(o)}
            continue
        text = m["content"]
        last = [
            json.dumps([c.name, c.arguments], sort_keys=True, default=str)
            for c in parse_turn(text).calls
        ]
        # Calls written after an answer (same turn or a later one) are wasted work.
        if answered:
            post_answer += len(_CALL_TAG.findall(text))
        elif _ANSWER_TAG in text:
            post_answer += len(_CALL_TAG.findall(text.split(_ANSWER_TAG, 1)[1]))
            answered = True
        for key in last:
            redundant += key in seen
            seen.add(key)
    wanted = _words(question)
    irrelevant = sum(1 for o in observations(messages) if not (_words(o) & wanted))
    return EfficiencyCounts(redundant, post_answer, irrelevant)
