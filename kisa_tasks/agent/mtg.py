"""Masked Trajectory Guidance: the reasoning path as hints with the path
entities masked.

Path entities become "Entity A", "Entity B", ... and the answer "the target";
clues are spelled out, since they describe path entities through their
neighbours (the context the paper gives). No path entity's name reaches the
prompt. Guided and explore rollouts are mixed by a seeded draw per item
(7:3 by default).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

from kisa_tasks.qa.records import QAItem

GUIDED_SHARE = 0.7

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
    "Masked entities are named Entity A, Entity B, ...; the answer is the target.\n"
)


@dataclass(frozen=True)
class Guidance:
    text: str  # the masked hints; empty in explore mode
    mode: str  # "guided" or "explore"


def mode_for(qa_id: str, seed: int, guided_share: float = GUIDED_SHARE) -> str:
    """Seeded, per item: the same item and run seed always get the same mode."""
    digest = hashlib.sha256(f"{seed}|{qa_id}".encode()).digest()
    draw = int.from_bytes(digest[:8], "big") / 2**64
    return "guided" if draw < guided_share else "explore"


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


def guidance(item: QAItem, seed: int, guided_share: float = GUIDED_SHARE) -> Guidance:
    mode = mode_for(item.qa_id, seed, guided_share)
    if mode == "explore" or not item.reasoning_path:
        return Guidance("", "explore")
    return Guidance(GUIDANCE_PREFIX + masked_hints(item), "guided")


def question_text(item: QAItem, hints: Guidance) -> str:
    if hints.mode == "explore":
        return item.question
    return f"{item.question}\n\n{hints.text}"
