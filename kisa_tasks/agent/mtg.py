"""Masked Trajectory Guidance: the reasoning path as hints with the path
entities masked.

The hints are ``qa.hints.masked_hints``: path entities masked in any case
and by any accepted name, clues spelled out; the QA validators refuse an
item whose hints would still name a path entity. Guided and explore
rollouts are mixed 7:3 by default (``agent.select.rollout_modes``). The
hints steer the rollout only: the trajectory is recorded with the question
alone as its user turn.
"""

from __future__ import annotations

from kisa_tasks.qa.hints import masked_hints
from kisa_tasks.qa.records import QAItem

__all__ = [
    "AGENT_PROMPT_VERSION",
    "GUIDANCE_PREFIX",
    "SYSTEM_PROMPT",
    "guided_question",
    "masked_guidance",
    "masked_hints",
]

AGENT_PROMPT_VERSION = "agent-v1"  # the system prompt and the tools prompt
SYSTEM_PROMPT = (
    "You are a careful medical research assistant. You answer hard questions by "
    "searching the literature with the tools you are given, reading the documents you "
    "find, and checking every fact before you rely on it. Think step by step inside "
    "<think> </think>, call tools, and give one final answer, the name of one entity, "
    "inside <answer> </answer>."
)
GUIDANCE_PREFIX = (
    "Hints for planning your research follow. They are directions only: they may be "
    "incomplete, and every fact you use must be found and verified with the tools. "
    "Masked entities are named Entity A, Entity B, ...; the answer is the target. "
    "Never mention the hints or the masked names in your reasoning: the trajectory is "
    "kept without them (a rollout whose thoughts echo them is refused).\n"
)


def masked_guidance(item: QAItem) -> str:
    """The hints a guided rollout is given; empty when the item has no
    reasoning path (it can then only be explored)."""
    return GUIDANCE_PREFIX + masked_hints(item) if item.reasoning_path else ""


def guided_question(item: QAItem, hints: str) -> str:
    """What a guided rollout is asked. Only the rollout sees this: the
    trajectory is recorded, and trained, with the question alone."""
    return f"{item.question}\n\n{hints}" if hints else item.question
