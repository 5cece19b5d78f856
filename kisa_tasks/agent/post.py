"""Post-processing of rollouts: the correctness judge and the filters.

The judge is ``kisa_tasks.judge``, the same for rollouts, imports, the GRPO
task reward and evaluation: the rules (an accepted answer named as a whole
mention, as the whole answer or inside prose, neither in a list of
candidates, nor hedged, nor negated; "vitamin A" is never "vitamin B"), then,
with a model configured, the LLM judge for what the rules reject, except
lists and hedges. The LLM verdict is a JSON enum, trusted only if the judge
also refuses a decoy (an entity the question names). A judge call that fails
leaves the rollout unjudged (refused, asked again on rerun).
Filters give every rejected trajectory its reason; explore rollouts are kept
only when judged correct, like guided ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kisa_tasks.agent.loop import Rollout
from kisa_tasks.agent.react import parse_turn
from kisa_tasks.judge import (
    JUDGE_PROMPT,
    JUDGE_SCHEMA,
    decoy,
    llm_judge,
    probed_llm_judge,
    rules_verdict,
)
from kisa_tasks.qa.records import QAItem

__all__ = [
    "JUDGE_PROMPT",
    "JUDGE_SCHEMA",
    "Filters",
    "decoy",
    "judge",
    "llm_judge",
    "matches",
    "probed_llm_judge",
    "reject_reason",
]

MIN_TOOL_CALLS = 1
MAX_TOKENS = 32_768


def approximate_tokens(text: str) -> int:
    """A stand-in for the training tokenizer where it is not at hand: 3
    characters a token, more than BPE tokenizers give on English and PMIDs,
    so a trajectory it passes is not too long for the real one."""
    return math.ceil(len(text) / 3)


@dataclass(frozen=True)
class Filters:
    min_tool_calls: int = MIN_TOOL_CALLS
    max_tokens: int = MAX_TOKENS  # of the whole conversation
    count_tokens: Callable[[str], int] = approximate_tokens


def matches(given: str, accepted: Sequence[str]) -> bool:
    """The rules judge's verdict (``kisa_tasks.judge.rules_verdict``)."""
    return rules_verdict(given, accepted).correct


def judge(rollout: Rollout, item: QAItem) -> bool:
    """The rules judge on the rollout's answer (no answer: wrong)."""
    if rollout.answer is None:
        return False
    return matches(rollout.answer, [item.answer, *item.answer_aliases])


def calls_answered_in_order(rollout: Rollout) -> bool:
    """Every tool call is followed by exactly one response, in order."""
    messages = rollout.messages[2:]
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        calls = len(parse_turn(message["content"]).calls)
        following = messages[i + 1]["content"] if i + 1 < len(messages) else ""
        if calls and following.count("<tool_response>") != calls:
            return False
    return True


def reject_reason(rollout: Rollout, correct: bool, filters: Filters) -> str | None:
    if rollout.termination != "answered":
        return f"terminated: {rollout.termination} ({rollout.detail})"
    if rollout.tool_calls < filters.min_tool_calls:
        return f"too_few_tool_calls: {rollout.tool_calls} < {filters.min_tool_calls}"
    if rollout.tool_errors:
        return f"tool_error: {rollout.tool_errors[0]}"
    if not calls_answered_in_order(rollout):
        return "unanswered_tool_call: a call without exactly one response"
    if not correct:
        return f"incorrect: answered {rollout.answer!r}"
    # Last, because tokenizing is the dearest check; one call for the whole text.
    size = filters.count_tokens("\n".join(m["content"] for m in rollout.messages))
    if size > filters.max_tokens:
        return f"too_long: {size} tokens > {filters.max_tokens}"
    return None
