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

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from kisa_tasks.extract.canonical import normalise
from kisa_tasks.triples.mesh_claims import claimed_triples, merge_support
from kisa_tasks.triples.records import EntityInfo
from kisa_tasks.triples.rules import EntitySpan, TripleEvidence, sentence_triples
from kisa_tasks.triples.signatures import entity_kind
from kisa_tasks.triples.support import confidence
from kisa_tasks.vocabulary import TEXT_FIELDS


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


def rules_triples(record: EvidenceRecord) -> list[TripleEvidence]:
    """Sentence patterns over title and abstract, once per (head, type, tail),
    with the record's MeSH claims as added support."""
    found: dict[tuple[str, str, str], TripleEvidence] = {}
    for name in TEXT_FIELDS:
        spans = record.spans.get(name)
        if spans:
            for t in sentence_triples(record.pmid, record.texts[name], spans):
                found.setdefault((t.head, t.relation_type, t.tail), t)
    mesh = claimed_triples(record.pmid, record.texts, record.spans, record.qualifiers)
    return merge_support(list(found.values()), mesh)


def rules_extractor(records: Sequence[EvidenceRecord]) -> Extracted:
    return Extracted({record.pmid: tuple(rules_triples(record)) for record in records})


def mislinked(
    mention: Mapping[str, Any],
    indexed_names: Mapping[str, str],
    ui_by_name: Mapping[str, str] | None = None,
) -> bool:
    """A dictionary mention whose MeSH id MEDLINE uses for another name.

    The dictionary packages carry wrong ids (their Hypertension has the UI
    of Vascular Resistance, their COVID-19 that of SARS-CoV-2): when the
    corpus's own indexing names the UI and neither the mention's entry name
    nor its surface is that name, the id is not trusted (``relink``); nor is
    it when MEDLINE indexes the entry's name under another UI (the
    dictionary's Diarrhea id is one the corpus never uses for Diarrhea)."""
    if mention["entity_id"].startswith("mesh:") and ui_by_name is not None:
        ui = ui_by_name.get(normalise(mention["name"] or ""))
        if ui is not None and ui != mention["entity_id"]:
            return True
    indexed = indexed_names.get(mention["entity_id"])
    if not indexed:
        return False
    key = normalise(indexed)
    return key not in (normalise(mention["name"] or ""), normalise(mention["surface"]))


def relink(mention: Mapping[str, Any], ui_by_name: Mapping[str, str]) -> str:
    """A mislinked mention's id by its name: the UI MEDLINE indexes that name
    with, or else an id of the name itself (``disease:hypertension``)."""
    for written in (mention["name"] or "", mention["surface"]):
        ui = ui_by_name.get(normalise(written))
        if ui:
            return ui
    slug = "_".join(normalise(mention["name"] or mention["surface"]).split())
    return f"{mention['type']}:{slug}"


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
        cols = abstracts.select(["pmid", "title", "abstract", "mesh", "chemicals"]).to_pylist()
        self._rows = {r["pmid"]: r for r in cols}
        # Every qualifier a heading carries in the corpus: a concept's kind.
        profile: dict[str, set[str]] = {}
        # MEDLINE's own name for each MeSH UI it indexes with.
        indexed_names: dict[str, str] = {}
        for row in cols:
            for heading in row["mesh"] or ():
                ui = f"mesh:{heading['descriptor_ui']}"
                indexed_names.setdefault(ui, heading["name"] or "")
                profile.setdefault(self.canonical(ui), set()).update(
                    q.lower() for q in heading["qualifiers"] or ()
                )
            for chemical in row["chemicals"] or ():
                indexed_names.setdefault(f"mesh:{chemical['ui']}", chemical["name"] or "")
        self._spans: dict[tuple[str, str], list[EntitySpan]] = {}
        self.entities: dict[str, EntityInfo] = {}
        self._surfaces: dict[str, set[str]] = {}
        self._written: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.kinds: dict[str, str] = {}  # signatures.entity_kind per entity
        self._pmids: dict[str, set[str]] = {}
        self.mislinked = 0  # mentions whose dictionary id was replaced
        columns = ["pmid", "field", "start", "end", "surface", "type", "entity_id", "name"]
        ui_by_name: dict[str, str] = {}
        for ui, name in sorted(indexed_names.items()):
            ui_by_name.setdefault(normalise(name), ui)
        for m in mentions.select(columns).to_pylist():
            if mislinked(m, indexed_names, ui_by_name):
                self.mislinked += 1
                m["entity_id"] = relink(m, ui_by_name)
            canonical = self.canonical(m["entity_id"])
            self.entities.setdefault(canonical, EntityInfo(m["name"] or canonical, m["type"]))
            self._surfaces.setdefault(canonical, set()).add(m["surface"])
            self._written[canonical][m["surface"].casefold()] += 1
            # One kind per entity (its first mention's type decides, as for
            # its name), so the evidence and the committed triple agree.
            kind = self.kinds.setdefault(
                canonical, entity_kind(m["type"], profile.get(canonical, ()))
            )
            self._pmids.setdefault(canonical, set()).add(m["pmid"])
            self._spans.setdefault((m["pmid"], m["field"]), []).append(
                EntitySpan(canonical, m["name"], m["type"], m["start"], m["end"], kind)
            )
        self._triples: dict[str, tuple[TripleEvidence, ...]] = {}
        self.failures: dict[str, str] = {}

    def trusted_neighbours(self, entity_id: str, floor: float, max_pmids: int = 100) -> set[str]:
        """Entities related to this one at confidence ``floor`` or above, from
        the first ``max_pmids`` abstracts that mention it (by PMID)."""
        pmids = self.pmids_of(entity_id)[:max_pmids]
        self.prefetch(pmids)
        supports: dict[tuple[str, str, str], list[str]] = defaultdict(list)
        for pmid in pmids:
            for t in self.triples(pmid):
                if entity_id in (t.head, t.tail):
                    supports[(t.head, t.relation_type, t.tail)].append(t.support)
        return {
            tail if head == entity_id else head
            for (head, relation_type, tail), kinds in supports.items()
            if confidence(relation_type, kinds) >= floor
        }

    def pmids_of(self, entity_id: str) -> list[str]:
        """Abstracts that mention the entity, sorted."""
        return sorted(self._pmids.get(entity_id, ()))

    def canonical(self, identifier: str) -> str:
        return self.idmap.get(identifier, identifier)

    def aliases(self, entity_id: str) -> list[str]:
        """Every other way the corpus writes the entity (case-folded, sorted)."""
        name = self.name(entity_id).casefold()
        return sorted({s.casefold() for s in self._surfaces.get(entity_id, ())} - {name})

    def search_terms(self, entity_id: str, most: int = 3) -> list[str]:
        """The entity's name, then the ways the corpus most often writes it:
        a MeSH name ("Angina Pectoris, Variant") is rarely how abstracts put it."""
        terms = [self.name(entity_id)]
        written = self._written.get(entity_id, Counter())
        for surface, _ in sorted(written.items(), key=lambda kv: (-kv[1], kv[0])):
            if len(terms) >= most:
                break
            if surface not in {t.casefold() for t in terms}:
                terms.append(surface)
        return terms

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
        spans = {name: self._spans.get((pmid, name), []) for name in TEXT_FIELDS}
        # A heading the text names under another id (the drug dictionary's
        # "cefepime" for the heading Cefepime) qualifies that entity too.
        by_name: dict[str, set[str]] = {}
        for name, field_spans in spans.items():
            text = row[name] or ""
            for span in field_spans:
                for written in (span.name, text[span.start : span.end]):
                    by_name.setdefault(normalise(written), set()).add(span.entity_id)
        qualifiers: dict[str, list[str]] = {}
        for heading in row["mesh"] or ():
            named = [q.lower() for q in heading["qualifiers"] or ()]
            entity = self.canonical(f"mesh:{heading['descriptor_ui']}")
            for target in {entity} | by_name.get(normalise(heading["name"] or ""), set()):
                qualifiers.setdefault(target, []).extend(named)
        return EvidenceRecord(
            pmid, {name: row[name] or "" for name in TEXT_FIELDS}, spans, qualifiers
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
