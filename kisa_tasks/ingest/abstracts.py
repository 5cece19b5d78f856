"""The ``abstracts`` stage: MEDLINE events -> one row per live citation.

Pure functions over ``Citation`` records; the reader and the artefact store
are the I/O at the edges.

- Across files (baseline first, then updates in order) a newer version of a
  PMID replaces the older one and a ``DeleteCitation`` withdraws it.
- Records a later stage cannot use are rejected with their reason, never
  dropped: malformed XML, no abstract, not English, absurdly long.
- A record belongs to every specialty whose MeSH branch covers one of its
  descriptors' tree numbers. A partition's rejections are its specialty's
  records plus the malformed ones (which have no specialty to go by).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from kisa_tasks.artefacts import Rejection, register_stage
from kisa_tasks.ingest.medline import Citation, Deletion, Event, Malformed
from kisa_tasks.ingest.mesh_tree import tree_numbers
from kisa_tasks.schedule import in_window
from kisa_tasks.specialties import specialties_for

MAX_ABSTRACT_CHARS = 20_000  # the longest real abstracts are ~10k characters
ENGLISH = "eng"

_MESH = pa.struct(
    [
        pa.field("descriptor_ui", pa.string()),
        pa.field("name", pa.string()),
        pa.field("major", pa.bool_()),
        pa.field("qualifiers", pa.list_(pa.string())),
    ]
)
_CHEMICAL = pa.struct([pa.field("ui", pa.string()), pa.field("name", pa.string())])

ABSTRACTS_SCHEMA = register_stage(
    "abstracts",
    pa.schema(
        [
            pa.field("pmid", pa.string(), nullable=False),
            pa.field("version", pa.int32(), nullable=False),
            pa.field("title", pa.string()),
            pa.field("abstract", pa.string(), nullable=False),
            pa.field("language", pa.string()),
            pa.field("journal", pa.string()),
            pa.field("pub_year", pa.int32()),
            pa.field("pub_date", pa.string()),
            pa.field("publication_types", pa.list_(pa.string())),
            pa.field("mesh", pa.list_(_MESH)),
            pa.field("chemicals", pa.list_(_CHEMICAL)),
            pa.field("keywords", pa.list_(pa.string())),
            pa.field("tree_numbers", pa.list_(pa.string())),
            pa.field("specialties", pa.list_(pa.string())),
            pa.field("source", pa.string()),
        ]
    ),
)


@dataclass
class IngestResult:
    kept: list[Citation]
    rejections: list[Rejection]
    counts: Counter[str] = field(default_factory=Counter)


def latest_citations(events: Iterable[Event]) -> tuple[dict[str, Citation], list[Rejection]]:
    """Apply file order: newer versions replace, deletions withdraw.

    Events must come baseline first, then update files in their release order.
    """
    live: dict[str, Citation] = {}
    rejected: list[Rejection] = []
    for event in events:
        if isinstance(event, Citation):
            current = live.get(event.pmid)
            # A re-issued record in a later file wins even at the same version.
            if current is None or event.version >= current.version:
                live[event.pmid] = event
        elif isinstance(event, Deletion):
            for pmid in event.pmids:
                live.pop(pmid, None)
        elif isinstance(event, Malformed):
            rejected.append(
                Rejection(
                    record_key=event.pmid,
                    reason=f"malformed: {event.reason}",
                    record={
                        "source": event.source,
                        "position": event.position,
                        "xml": event.snippet,
                    },
                )
            )
    return live, rejected


def rejection_reason(citation: Citation) -> str | None:
    """Why a citation cannot feed the KISA stages, or None if it can."""
    if not citation.abstract.strip():
        return "empty abstract"
    if citation.language and citation.language != ENGLISH:
        return f"not English (language={citation.language})"
    if len(citation.abstract) > MAX_ABSTRACT_CHARS:
        return f"abstract longer than {MAX_ABSTRACT_CHARS} characters ({len(citation.abstract)})"
    return None


def reason_count_key(reason: str) -> str:
    """The count a rejection reason adds to: ``rejected.not_English`` for
    "not English (language=spa)"."""
    return f"rejected.{reason.split(' (')[0].replace(' ', '_')}"


def citation_specialties(citation: Citation) -> tuple[list[str], list[str]]:
    trees = tree_numbers([m.descriptor_ui for m in citation.mesh])
    return trees, specialties_for(trees)


def select_abstracts(
    events: Iterable[Event], specialty: str | None, limit: int | None = None
) -> IngestResult:
    """Live, usable citations of one specialty (all when None), by PMID order."""
    live, malformed = latest_citations(events)
    return partition_citations(live, malformed, specialty, limit)


def partition_citations(
    live: dict[str, Citation],
    malformed: list[Rejection],
    specialty: str | None,
    limit: int | None = None,
    window: tuple[str, str] | None = None,
) -> IngestResult:
    """The usable citations of one specialty (all when None) out of the live
    ones, by PMID order, with a rejection for each unusable one; with a
    ``window`` [start, end), only those published in it (``kisa_tasks.schedule``)."""
    rejections = list(malformed)
    counts: Counter[str] = Counter({"citations_live": len(live), "malformed": len(malformed)})
    kept: list[Citation] = []
    for pmid in sorted(live, key=int):
        citation = live[pmid]
        if specialty is not None and specialty not in citation_specialties(citation)[1]:
            counts["other_specialties"] += 1
            continue
        if not in_window(citation.pub_date, window):
            counts["outside_window"] += 1
            continue
        reason = rejection_reason(citation)
        if reason is not None:
            counts[reason_count_key(reason)] += 1
            rejections.append(Rejection(pmid, reason, {"pmid": pmid, "source": citation.source}))
            continue
        if limit is not None and len(kept) >= limit:
            counts["beyond_limit"] += 1
            continue
        kept.append(citation)
    counts["kept"] = len(kept)
    return IngestResult(kept=kept, rejections=rejections, counts=counts)


def to_row(citation: Citation) -> dict[str, Any]:
    trees, specialties = citation_specialties(citation)
    return {
        "pmid": citation.pmid,
        "version": citation.version,
        "title": citation.title,
        "abstract": citation.abstract,
        "language": citation.language,
        "journal": citation.journal,
        "pub_year": citation.pub_year,
        "pub_date": citation.pub_date,
        "publication_types": list(citation.publication_types),
        "mesh": [m._asdict() | {"qualifiers": list(m.qualifiers)} for m in citation.mesh],
        "chemicals": [c._asdict() for c in citation.chemicals],
        "keywords": list(citation.keywords),
        "tree_numbers": trees,
        "specialties": specialties,
        "source": citation.source,
    }


def to_tables(citations: list[Citation], rows_per_part: int = 20_000) -> Iterator[pa.Table]:
    """Arrow tables of at most ``rows_per_part`` rows, in the stage schema."""
    for start in range(0, len(citations), rows_per_part):
        chunk = citations[start : start + rows_per_part]
        yield pa.Table.from_pylist([to_row(c) for c in chunk], schema=ABSTRACTS_SCHEMA)
