"""SFT examples for TRL from the ``sft`` artefact: conversations checked
before any job starts, so a bad dataset is refused with its reason."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ROLES = ("system", "user", "assistant")


class DatasetRefused(ValueError):
    """The SFT data cannot train anything; the message says why."""


@dataclass(frozen=True)
class Prepared:
    examples: list[dict[str, Any]]  # {"messages": [...]} for SFTTrainer
    refused: list[tuple[str, str]]  # (trajectory id, reason)
    items: list[str]  # the QA items the examples answer, in order


def problem(messages: Sequence[Mapping[str, Any]]) -> str | None:
    """Why a conversation cannot be an SFT example, or None."""
    if not messages:
        return "no messages"
    for i, m in enumerate(messages):
        if m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            return f"message {i} is not a {ROLES} turn with text"
    if not any(m["role"] == "assistant" and m["content"].strip() for m in messages):
        return "no assistant turn to train on"
    return None


def conversation(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    # An assistant turn starting with a newline merges with the template's
    # header newline into one token, which would then be trained (measured).
    return [
        {
            "role": m["role"],
            "content": m["content"].lstrip() if m["role"] == "assistant" else m["content"],
        }
        for m in messages
    ]


def _trimmed(message: Mapping[str, Any]) -> str:
    content = str(message["content"])
    return content.lstrip() if message["role"] == "assistant" else content


def prepare(rows: Iterable[Mapping[str, Any]]) -> Prepared:
    """Every usable row as an example; the others with their reason. Refuses
    a dataset with no usable example at all."""
    examples, refused, items = [], [], []
    for row in rows:
        reason = problem(row.get("messages") or [])
        if row.get("split", "train") != "train":  # defence in depth: the export refuses them
            reason = f"a {row['split']} item: evaluation data never trains"
        if reason:
            refused.append((str(row.get("trajectory_id", "?")), reason))
        else:
            examples.append({"messages": conversation(row["messages"])})
            items.append(str(row.get("qa_id", "")))
    if not examples:
        why = "; ".join(f"{t}: {r}" for t, r in refused[:5]) or "the dataset is empty"
        raise DatasetRefused(f"no usable SFT example ({why})")
    return Prepared(examples, refused, items)
