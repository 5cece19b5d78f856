"""Masked Trajectory Guidance: the reasoning path as hints with the path
entities masked.

Path entities become "Entity A", "Entity B", ... and the answer "the target";
clues are spelled out, since they describe path entities through their
neighbours (the context the paper gives). No path entity's name reaches the
prompt. Guided and explore rollouts are mixed 7:3 by default
(``agent.select.rollout_modes``). The hints steer the rollout only: the
trajectory is recorded with the question alone as its user turn.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from kisa_tasks.qa.records import QAItem

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


def _readable(placeholder: str) -> str:
    if placeholder == "Target_Entity":
        return "the target"
    match = re.fullmatch(r"Entity_([A-Z])", placeholder)
    return f"Entity {match.group(1)}" if match else placeholder


def masked_hints(item: QAItem) -> str:
    """The reasoning path with clues spelled out and path entities masked."""
    mapping: Mapping[str, str] = dict(item.entity_mapping)
    text = item.reasoning_path

    def fill(match: re.Match[str]) -> str:
        placeholder = match.group(0)
        if placeholder.startswith("Clue_"):
            return f"[{mapping.get(placeholder, placeholder)}]"
        return _readable(placeholder)

    text = re.sub(r"\b(?:Entity_[A-Z]|Target_Entity|Clue_\d+)\b", fill, text)
    for placeholder, value in mapping.items():
        if not placeholder.startswith("Clue_") and value and value in text:
            text = text.replace(value, _readable(placeholder))  # never a path entity's name
    return text


def masked_guidance(item: QAItem) -> str:
    """The hints a guided rollout is given; empty when the item has no
    reasoning path (it can then only be explored)."""
    return GUIDANCE_PREFIX + masked_hints(item) if item.reasoning_path else ""


def guided_question(item: QAItem, hints: str) -> str:
    """What a guided rollout is asked. Only the rollout sees this: the
    trajectory is recorded, and trained, with the question alone."""
    return f"{item.question}\n\n{hints}" if hints else item.question
