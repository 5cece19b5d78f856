"""Abstracts and their entity mentions by PMID, ready for triple extraction.

Mentions carry the identifiers the extractor found; ``idmap`` (from the
``entities`` stage) maps each to its canonical id so triples speak of one
entity per real-world thing. Identifiers the canonicalisation never saw (an
entity outside the specialty) stay as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

import pyarrow as pa

from kisa_tasks.subgraphs.graph import EntityInfo
from kisa_tasks.triples.rules import EntitySpan, TripleEvidence, sentence_triples

TEXT_FIELDS = ("title", "abstract")  # the mentions stage's fields


class EvidenceCorpus:
    def __init__(self, abstracts: pa.Table, mentions: pa.Table, idmap: Mapping[str, str]) -> None:
        self.idmap = dict(idmap)
        cols = abstracts.select(["pmid", "title", "abstract", "mesh"]).to_pylist()
        self._records = {r["pmid"]: r for r in cols}
        self._spans: dict[tuple[str, str], list[EntitySpan]] = {}
        self.entities: dict[str, EntityInfo] = {}
        for m in mentions.select(
            ["pmid", "field", "start", "end", "type", "entity_id", "name"]
        ).to_pylist():
            canonical = self.canonical(m["entity_id"])
            self.entities.setdefault(canonical, EntityInfo(m["name"] or canonical, m["type"]))
            self._spans.setdefault((m["pmid"], m["field"]), []).append(
                EntitySpan(canonical, m["name"], m["type"], m["start"], m["end"])
            )
        self.triples = lru_cache(maxsize=None)(self._triples)

    def canonical(self, identifier: str) -> str:
        return self.idmap.get(identifier, identifier)

    def name(self, entity_id: str) -> str:
        info = self.entities.get(entity_id)
        return info.name if info else entity_id

    def _triples(self, pmid: str) -> tuple[TripleEvidence, ...]:
        """Typed relations in one abstract (cached: expansion revisits pmids)."""
        record = self._records.get(pmid)
        if record is None:
            return ()
        qualifiers: dict[str, list[str]] = {}
        for heading in record["mesh"] or ():
            entity = self.canonical(f"mesh:{heading['descriptor_ui']}")
            qualifiers.setdefault(entity, []).extend(q.lower() for q in heading["qualifiers"] or ())
        out: list[TripleEvidence] = []
        for field in TEXT_FIELDS:
            spans = self._spans.get((pmid, field))
            if spans:
                out.extend(sentence_triples(pmid, record[field] or "", spans, qualifiers))
        return tuple(out)
