"""Abstracts and their entity mentions by PMID, and the triples in them.

Mentions carry the identifiers the extractor found; ``idmap`` (from the
``entities`` stage) maps each to its canonical id so triples speak of one
entity per real-world thing. Identifiers the canonicalisation never saw (an
entity outside the specialty) stay as they are.

Triples come from a batch extractor (``rules`` by default, ``llm`` through
the shared client), asked once per PMID and remembered; the expansion asks
for a whole round's PMIDs at once (``prefetch``) so an LLM sees them as one
concurrent batch. A PMID whose extraction failed yields no triples this run
and is listed in ``failures`` with the reason (a rerun asks again).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import pyarrow as pa

from kisa_tasks.subgraphs.graph import EntityInfo
from kisa_tasks.triples.rules import EntitySpan, TripleEvidence, sentence_triples

TEXT_FIELDS = ("title", "abstract")  # the mentions stage's fields


@dataclass(frozen=True)
class EvidenceRecord:
    """One abstract as the extractors see it: texts, canonical entity spans
    per field, and MeSH qualifiers by canonical entity."""

    pmid: str
    texts: dict[str, str]
    spans: dict[str, list[EntitySpan]]
    qualifiers: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Extracted:
    triples: dict[str, tuple[TripleEvidence, ...]]
    failures: dict[str, str] = field(default_factory=dict)


BatchExtractor = Callable[[Sequence[EvidenceRecord]], Extracted]


def rules_extractor(records: Sequence[EvidenceRecord]) -> Extracted:
    out: dict[str, tuple[TripleEvidence, ...]] = {}
    for record in records:
        found: list[TripleEvidence] = []
        for name in TEXT_FIELDS:
            spans = record.spans.get(name)
            if spans:
                found.extend(
                    sentence_triples(record.pmid, record.texts[name], spans, record.qualifiers)
                )
        out[record.pmid] = tuple(found)
    return Extracted(out)


class EvidenceCorpus:
    def __init__(
        self,
        abstracts: pa.Table,
        mentions: pa.Table,
        idmap: Mapping[str, str],
        extractor: BatchExtractor = rules_extractor,
    ) -> None:
        self.idmap = dict(idmap)
        self.extractor = extractor
        cols = abstracts.select(["pmid", "title", "abstract", "mesh"]).to_pylist()
        self._rows = {r["pmid"]: r for r in cols}
        self._spans: dict[tuple[str, str], list[EntitySpan]] = {}
        self.entities: dict[str, EntityInfo] = {}
        self._surfaces: dict[str, set[str]] = {}
        columns = ["pmid", "field", "start", "end", "surface", "type", "entity_id", "name"]
        for m in mentions.select(columns).to_pylist():
            canonical = self.canonical(m["entity_id"])
            self.entities.setdefault(canonical, EntityInfo(m["name"] or canonical, m["type"]))
            self._surfaces.setdefault(canonical, set()).add(m["surface"])
            self._spans.setdefault((m["pmid"], m["field"]), []).append(
                EntitySpan(canonical, m["name"], m["type"], m["start"], m["end"])
            )
        self._triples: dict[str, tuple[TripleEvidence, ...]] = {}
        self.failures: dict[str, str] = {}

    def canonical(self, identifier: str) -> str:
        return self.idmap.get(identifier, identifier)

    def aliases(self, entity_id: str) -> list[str]:
        """Every other way the corpus writes the entity (case-folded, sorted)."""
        name = self.name(entity_id).casefold()
        return sorted({s.casefold() for s in self._surfaces.get(entity_id, ())} - {name})

    def name(self, entity_id: str) -> str:
        info = self.entities.get(entity_id)
        return info.name if info else entity_id

    def entities_in(self, pmid: str) -> list[str]:
        """Canonical ids mentioned anywhere in one abstract, in text order."""
        spans = [s for name in TEXT_FIELDS for s in self._spans.get((pmid, name), ())]
        return list(dict.fromkeys(s.entity_id for s in spans))

    def record(self, pmid: str) -> EvidenceRecord | None:
        row = self._rows.get(pmid)
        if row is None:
            return None
        qualifiers: dict[str, list[str]] = {}
        for heading in row["mesh"] or ():
            entity = self.canonical(f"mesh:{heading['descriptor_ui']}")
            qualifiers.setdefault(entity, []).extend(q.lower() for q in heading["qualifiers"] or ())
        return EvidenceRecord(
            pmid,
            {name: row[name] or "" for name in TEXT_FIELDS},
            {name: self._spans.get((pmid, name), []) for name in TEXT_FIELDS},
            qualifiers,
        )

    def prefetch(self, pmids: Iterable[str]) -> None:
        """Extract the triples of every PMID not asked before, in one batch."""
        records = [
            r
            for p in dict.fromkeys(pmids)
            if p not in self._triples and p not in self.failures and (r := self.record(p))
        ]
        if not records:
            return
        extracted = self.extractor(records)
        self._triples.update(extracted.triples)
        self.failures.update(extracted.failures)

    def triples(self, pmid: str) -> tuple[TripleEvidence, ...]:
        """Typed relations in one abstract (remembered: expansion revisits pmids)."""
        self.prefetch([pmid])
        return self._triples.get(pmid, ())
