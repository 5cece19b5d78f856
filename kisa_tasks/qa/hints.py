"""The hints of a QA item as a guided rollout reads them (Masked Trajectory
Guidance): the reasoning path with the path entities masked.

Path entities become "Entity A", "Entity B", ... and the answer "the
target"; clues are spelled out, since they describe path entities through
their neighbours (the context the paper gives). A generator may write a
path entity's name in the reasoning path in another case, or the answer by
a synonym: every name of the mapping and every accepted answer is masked as
whole words in any case, and the QA validators refuse an item whose hints
still name a path entity (``hint_leak``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from kisa_tasks.qa.records import QAItem

MIN_MASKED_CHARS = 3  # shorter names ("A", "MI") would mask ordinary words
_PLACEHOLDER = re.compile(r"\b(?:Entity_[A-Z]|Target_Entity|Clue_\d+)\b")


def readable(placeholder: str) -> str:
    if placeholder == "Target_Entity":
        return "the target"
    match = re.fullmatch(r"Entity_([A-Z])", placeholder)
    return f"Entity {match.group(1)}" if match else placeholder


def _surface(name: str) -> re.Pattern[str]:
    """``name`` as whole words, any case, any run of spaces between words."""
    words = r"\s+".join(re.escape(w) for w in name.split())
    return re.compile(rf"(?<!\w){words}(?!\w)", re.IGNORECASE)


def masked_hints(item: QAItem) -> str:
    """The reasoning path with clues spelled out and path entities masked."""
    mapping: Mapping[str, str] = dict(item.entity_mapping)

    def fill(match: re.Match[str]) -> str:
        placeholder = match.group(0)
        if placeholder.startswith("Clue_"):
            return f"[{mapping.get(placeholder, placeholder)}]"
        return readable(placeholder)

    text = _PLACEHOLDER.sub(fill, item.reasoning_path)
    masks = [(v, readable(p)) for p, v in mapping.items() if not p.startswith("Clue_")]
    masks += [(name, "the target") for name in (item.answer, *item.answer_aliases)]
    # Longest first, so "Heart Failure, Diastolic" is masked before "Heart Failure".
    for name, label in sorted(masks, key=lambda m: -len(m[0])):
        if len(name.strip()) >= MIN_MASKED_CHARS:
            text = _surface(name).sub(label, text)
    return text
