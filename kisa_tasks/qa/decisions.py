"""QA review decisions: a reviewer accepts or rejects an item with a note.

Decisions live beside the artefacts, one small JSON document per QA item
(``reviews/qa/specialty=S/<qa_id>.json``), so a decision outlives the run it
was made on and every later stage can honour it (``rejected_by_review``).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from kisa_tasks.artefacts import ArtefactStore

_SAFE = re.compile(r"[A-Za-z0-9_.:+\-]{1,200}")


class NotFound(LookupError):
    """What a page asked for does not exist; the message says what."""


def safe(value: str, what: str) -> str:
    """A path component from a URL, refused unless plainly an id."""
    if not _SAFE.fullmatch(value) or ".." in value:
        raise NotFound(f"no such {what}: {value!r}")
    return value


DECISIONS = ("accept", "reject")


@dataclass(frozen=True)
class Decision:
    qa_id: str
    specialty: str
    decision: str
    note: str
    reviewer: str
    decided_at: str


def decision_key(specialty: str, qa_id: str) -> str:
    return f"reviews/qa/specialty={safe(specialty, 'specialty')}/{safe(qa_id, 'QA item')}.json"


def save_decision(
    store: ArtefactStore, specialty: str, qa_id: str, decision: str, note: str, reviewer: str
) -> Decision:
    if decision not in DECISIONS:
        raise ValueError(f"decision must be one of {DECISIONS}, not {decision!r}")
    made = Decision(
        qa_id, specialty, decision, note.strip()[:2000], reviewer,
        datetime.now(UTC).isoformat(timespec="seconds"),
    )  # fmt: skip
    store.put_json(decision_key(specialty, qa_id), asdict(made))
    return made


def decisions(store: ArtefactStore, specialty: str) -> dict[str, Decision]:
    """Every review decision for a specialty, by QA id."""
    prefix = f"reviews/qa/specialty={safe(specialty, 'specialty')}/"
    return {
        d.qa_id: d
        for d in (
            Decision(**store.get_json(k)) for k in store.list_keys(prefix) if k.endswith(".json")
        )
    }


def rejected_by_review(store: ArtefactStore, specialty: str) -> dict[str, str]:
    """QA ids a reviewer rejected, with the note: later stages leave them out."""
    return {q: d.note for q, d in decisions(store, specialty).items() if d.decision == "reject"}
