"""Post-processing of rollouts: the correctness judge and the filters.

The judge compares the whole answer with the item's answer and aliases after
normalisation (``qa.calibrate.is_correct``), so "vitamin A" is never read as
option "A". An answer written as prose (as outside trajectories are) is
judged by its emphasised spans (``**...**``): one of at least two words
whose words all occur in an accepted answer counts ("Jim Douglas" for "jim
douglas race car driver"; "vitamin A" never for "vitamin B"). With a model
configured, what that rejects goes to the LLM judge, whose verdict is a JSON
enum (``correct`` / ``incorrect``): the answer's text is never searched for a
verdict letter, so "vitamin A" or "hepatitis B" cannot pass as one. A
"correct" counts only if the judge also refuses a decoy (an entity the
question names). A judge call that fails leaves the rollout unjudged
(refused, asked again on rerun).
Filters give every rejected trajectory its reason; explore rollouts are kept
only when judged correct, like guided ones.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kisa_tasks.agent.loop import Rollout
from kisa_tasks.agent.react import parse_turn
from kisa_tasks.llm.sync import LLMGateway
from kisa_tasks.qa.calibrate import is_correct
from kisa_tasks.qa.records import QAItem
from kisa_tasks.qa.text import normalise

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
    """Whole-answer match, or an emphasised span of 2+ words inside an accepted answer."""
    wanted = {normalise(a) for a in accepted} - {""}
    if normalise(given) in wanted:
        return True
    for span in re.findall(r"\*\*(.+?)\*\*", given):
        words = normalise(span).split()
        if normalise(span) in wanted:
            return True
        if len(words) >= 2 and any(set(words) <= set(a.split()) for a in wanted):
            return True
    return False


JUDGE_PROMPT = (
    "You check answers to medical research questions. Decide whether the candidate "
    "answer names the same entity as the reference answer (synonyms, abbreviations and "
    "extra explanation are fine; a different or more general entity is not). Reply with "
    'JSON: {"verdict": "correct" or "incorrect", "reason": "<one sentence>"}.'
)
JUDGE_SCHEMA = {
    "type": "object",
    "properties": {
        "verdict": {"type": "string", "enum": ["correct", "incorrect"]},
        "reason": {"type": "string", "maxLength": 300},
    },
    "required": ["verdict"],
    "additionalProperties": False,
}


def llm_judge(gateway: LLMGateway, question: str, accepted: Sequence[str], given: str) -> bool:
    """The model's verdict; raises ``LLMError`` when it cannot be had."""
    from kisa_tasks.llm.client import Sampling

    content = (
        f"Question: {question}\nReference answer: {' / '.join(accepted)}\nCandidate answer: {given}"
    )
    result = gateway.complete(
        [{"role": "system", "content": JUDGE_PROMPT}, {"role": "user", "content": content}],
        sampling=Sampling(temperature=0.0, max_tokens=200),
        schema=JUDGE_SCHEMA,
    )
    verdict = (result.data or {}).get("verdict")  # validated against JUDGE_SCHEMA
    return bool(verdict == "correct")


def probed_llm_judge(
    gateway: LLMGateway, question: str, accepted: Sequence[str], given: str, decoy: str | None
) -> tuple[bool, str | None]:
    """The LLM verdict, trusted only if the judge also refuses a decoy (an
    entity the question names, never its answer): a weak model that calls
    everything correct (SmolLM2-135M does) must not fill the dataset with
    wrong answers. (correct, why the verdict was not trusted)."""
    if not llm_judge(gateway, question, accepted, given):
        return False, None
    if decoy is not None and llm_judge(gateway, question, accepted, decoy):
        return False, f"judge_unreliable: it also accepted the decoy {decoy!r}"
    return True, None


def decoy(item: QAItem) -> str | None:
    """A name the question gives that is no accepted answer (a clue's entity)."""
    accepted = [item.answer, *item.answer_aliases]
    named = [v for _, v in item.entity_mapping if v and not matches(v, accepted)]
    return next((v for v in named if v in item.question), None)


def judge(rollout: Rollout, item: QAItem) -> bool:
    if rollout.answer is None:
        return False
    return is_correct(rollout.answer, item) or matches(
        rollout.answer, [item.answer, *item.answer_aliases]
    )


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
