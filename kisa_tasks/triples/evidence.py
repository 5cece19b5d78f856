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

import hashlib
import os
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from kisa_tasks.artefacts import ArtefactStore, Partition, schema_for
from kisa_tasks.extract.canonical import normalise
from kisa_tasks.specialties import WHOLE_CORPUS
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


ROW_COLUMNS = ["pmid", "title", "abstract", "mesh", "chemicals"]
MENTION_COLUMNS = ["pmid", "field", "start", "end", "surface", "type", "entity_id", "name"]


class AbstractRows(Protocol):
    """Where the corpus's abstracts are: scanned in order once, then read
    back by PMID for the few the expansion visits."""

    def scan(self, columns: Sequence[str]) -> Iterator[pa.Table]: ...

    def rows(self, pmids: Sequence[str]) -> dict[str, dict[str, Any]]: ...


class TableRows:
    """Abstracts held as one Arrow table (tests, small corpora)."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table.select(ROW_COLUMNS)
        self._at: dict[str, int] | None = None

    def scan(self, columns: Sequence[str]) -> Iterator[pa.Table]:
        yield self.table.select(list(columns))

    def rows(self, pmids: Sequence[str]) -> dict[str, dict[str, Any]]:
        if self._at is None:
            self._at = {p: i for i, p in enumerate(self.table.column("pmid").to_pylist())}
        found = [(p, self._at[p]) for p in pmids if p in self._at]
        taken = self.table.take(pa.array([i for _, i in found], pa.int64())).to_pylist()
        return {p: row for (p, _), row in zip(found, taken, strict=True)}


class PartitionRows:
    """A committed ``abstracts`` partition: scanned a part at a time, and read
    by PMID from a local Arrow file of its text columns, memory-mapped, so
    only the pages of the abstracts asked for are ever resident. The file is
    written once per commit under ``cache_dir``."""

    def __init__(self, store: ArtefactStore, partition: Partition, cache_dir: Path) -> None:
        self.store, self.partition = store, partition
        marker = store.marker(partition)
        key = hashlib.sha256(f"{partition.prefix}|{marker.version}".encode()).hexdigest()[:24]
        self.path = cache_dir / f"{key}.arrow"
        self._reader: Any = None
        self._pmids: np.ndarray | None = None
        self._starts: np.ndarray | None = None

    def scan(self, columns: Sequence[str]) -> Iterator[pa.Table]:
        yield from self.store.iter_parts(self.partition, columns)

    def _open(self) -> tuple[Any, np.ndarray, np.ndarray]:
        """The file's reader, its PMIDs and where each record batch starts."""
        if self._reader is None:
            if not self.path.exists():
                self._write()
            self._reader = ipc.open_file(pa.memory_map(str(self.path)))
            batches = [self._reader.get_batch(i) for i in range(self._reader.num_record_batches)]
            self._pmids = np.concatenate(
                [b.column(0).to_numpy() for b in batches] or [np.zeros(0, np.int64)]
            )
            self._starts = np.cumsum([0] + [b.num_rows for b in batches])
        assert self._pmids is not None and self._starts is not None
        return self._reader, self._pmids, self._starts

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".{os.getpid()}.part")
        schema = schema_for("abstracts")
        fields = [pa.field("pmid_int", pa.int64()), *(schema.field(c) for c in ROW_COLUMNS)]
        with ipc.new_file(str(tmp), pa.schema(fields)) as sink:
            for part in self.scan(ROW_COLUMNS):
                pmid_int = pc.cast(part["pmid"], pa.int64())
                sink.write_table(part.add_column(0, "pmid_int", pmid_int))
        tmp.rename(self.path)

    def rows(self, pmids: Sequence[str]) -> dict[str, dict[str, Any]]:
        reader, known, starts = self._open()
        wanted = np.array([int(p) for p in pmids], dtype=np.int64)
        at = np.clip(np.searchsorted(known, wanted), 0, max(known.size - 1, 0))
        hit = known.size > 0
        found = [(p, int(i)) for p, i, w in zip(pmids, at, wanted, strict=True)
                 if hit and known[i] == w]  # fmt: skip
        # Row by row from its own record batch: a take over the whole table
        # would first copy every batch into one (the whole corpus's text).
        out: dict[str, dict[str, Any]] = {}
        batch_of = np.searchsorted(starts, [i for _, i in found], side="right") - 1
        for batch in np.unique(batch_of).tolist():
            mine = [found[k] for k in np.flatnonzero(batch_of == batch).tolist()]
            local = pa.array([i - int(starts[batch]) for _, i in mine], pa.int64())
            taken = reader.get_batch(batch).take(local).select(ROW_COLUMNS).to_pylist()
            out.update((p, row) for (p, _), row in zip(mine, taken, strict=True))
        return {p: out[p] for p, _ in found}


_SEP = "\x1f"  # joins a combination's fields; never in MEDLINE text
_NO_NAME = "\x00"  # a mention without an entry name


class _Codes:
    """Strings as small ints (one list of each distinct value)."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.values: list[str] = []

    def __call__(self, value: str) -> int:
        code = self.index.get(value)
        if code is None:
            code = self.index[value] = len(self.values)
            self.values.append(value)
        return code


def run_evidence(
    store: ArtefactStore,
    run_id: str,
    idmap: Mapping[str, str],
    cache_dir: Path | None = None,
    extractor: BatchExtractor = rules_extractor,
) -> EvidenceCorpus:
    """The evidence corpus of a run's whole-corpus partitions, read a part at
    a time (``cache_dir``: where the memory-mapped text lives; the system's
    temporary directory when None)."""
    abstracts = Partition("abstracts", WHOLE_CORPUS, run_id)
    mentions = Partition("mentions", WHOLE_CORPUS, run_id)
    cache = cache_dir or Path(tempfile.gettempdir()) / "kisa-evidence"
    return EvidenceCorpus(
        PartitionRows(store, abstracts, cache),
        store.iter_parts(mentions, MENTION_COLUMNS),
        idmap,
        extractor,
    )


class EvidenceCorpus:
    """The corpus's abstracts and canonical mentions, and triples per PMID.

    Built in one pass over the abstracts' MeSH columns and one over the
    mentions, holding per mention only a few integers (PMID, field, offsets,
    codes of entity, name, type and kind), never a record: the text of an
    abstract is read when its triples are first asked for."""

    def __init__(
        self,
        abstracts: pa.Table | AbstractRows,
        mentions: pa.Table | Iterable[pa.Table],
        idmap: Mapping[str, str],
        extractor: BatchExtractor = rules_extractor,
    ) -> None:
        self.idmap = dict(idmap)
        self.extractor = extractor
        self.abstracts = TableRows(abstracts) if isinstance(abstracts, pa.Table) else abstracts
        # Every qualifier a heading carries in the corpus: a concept's kind.
        profile: dict[str, set[str]] = {}
        # MEDLINE's own name for each MeSH UI it indexes with.
        indexed_names: dict[str, str] = {}
        for part in self.abstracts.scan(["mesh", "chemicals"]):
            for row in part.to_pylist():
                for heading in row["mesh"] or ():
                    ui = f"mesh:{heading['descriptor_ui']}"
                    indexed_names.setdefault(ui, heading["name"] or "")
                    profile.setdefault(self.canonical(ui), set()).update(
                        q.lower() for q in heading["qualifiers"] or ()
                    )
                for chemical in row["chemicals"] or ():
                    indexed_names.setdefault(f"mesh:{chemical['ui']}", chemical["name"] or "")
        self.entities: dict[str, EntityInfo] = {}
        self._surfaces: dict[str, set[str]] = {}
        self._written: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.kinds: dict[str, str] = {}  # signatures.entity_kind per entity
        self.mislinked = 0  # mentions whose dictionary id was replaced
        ui_by_name: dict[str, str] = {}
        for ui, name in sorted(indexed_names.items()):
            ui_by_name.setdefault(normalise(name), ui)
        self._entities, self._fields = _Codes(), _Codes()
        # A mention's identity, name, surface and type ("a combination")
        # decide its canonical entity: decided once per distinct combination
        # (a few per entity), not once per mention.
        self._combos: dict[str, int] = {}
        self._combo_entity: list[int] = []
        self._combo_name: list[str | None] = []
        self._combo_type: list[str] = []
        self._combo_mislinked: list[bool] = []
        rows: dict[str, list[np.ndarray]] = {c: [] for c in ("pmid", "field", "start", "end",
                                                             "combo")}  # fmt: skip
        parts = [mentions] if isinstance(mentions, pa.Table) else mentions
        for part in parts:
            part = part.select(MENTION_COLUMNS)
            combos = self._add_combos(part, indexed_names, ui_by_name, profile)
            fields = pc.dictionary_encode(part["field"].combine_chunks())
            field_codes = np.array([self._fields(f) for f in fields.dictionary.to_pylist()])
            rows["pmid"].append(pc.cast(part["pmid"], pa.int64()).to_numpy())
            rows["field"].append(field_codes[fields.indices.to_numpy()].astype(np.int32))
            rows["start"].append(part["start"].to_numpy().astype(np.int32))
            rows["end"].append(part["end"].to_numpy().astype(np.int32))
            rows["combo"].append(combos)
        arrays = {
            c: np.concatenate(chunks) if chunks else np.zeros(0, np.int64)
            for c, chunks in rows.items()
        }
        del rows
        # Mentions by PMID (stable: text order within an abstract is kept) ...
        by_pmid = np.argsort(arrays["pmid"], kind="stable")
        self._mentions = {c: values[by_pmid] for c, values in arrays.items()}
        del by_pmid
        # ... and the PMIDs of each entity.
        entity_of_row = np.asarray(self._combo_entity, dtype=np.int32)[arrays["combo"]]
        by_entity = np.argsort(entity_of_row, kind="stable")
        self._entity_sorted = entity_of_row[by_entity]
        self._entity_pmids = arrays["pmid"][by_entity]
        self._triples: dict[str, tuple[TripleEvidence, ...]] = {}
        self.failures: dict[str, str] = {}

    def _add_combos(
        self,
        part: pa.Table,
        indexed_names: Mapping[str, str],
        ui_by_name: Mapping[str, str],
        profile: Mapping[str, set[str]],
    ) -> np.ndarray:
        """Each row's combination code; new combinations decided, and the
        per-entity facts (first name, type and kind, surfaces, counts) kept."""
        names = pc.fill_null(part["name"], _NO_NAME)
        keys = pc.binary_join_element_wise(
            part["entity_id"], names, part["surface"], part["type"], _SEP
        ).combine_chunks()
        encoded = pc.dictionary_encode(keys)
        local = np.array(
            [self._combo(key, indexed_names, ui_by_name) for key in encoded.dictionary.to_pylist()],
            dtype=np.int32,
        )
        combos: np.ndarray = local[encoded.indices.to_numpy()]
        counts = np.bincount(encoded.indices.to_numpy(), minlength=local.size)
        for key, combo, n in zip(encoded.dictionary.to_pylist(), local.tolist(), counts.tolist(),
                                 strict=True):  # fmt: skip
            canonical = self._entities.values[self._combo_entity[combo]]
            surface = key.split(_SEP)[2]
            self._surfaces.setdefault(canonical, set()).add(surface)
            self._written[canonical][surface.casefold()] += n
            if self._combo_mislinked[combo]:
                self.mislinked += n
        # The first mention of an entity decides its name, type and kind.
        entities = np.asarray(self._combo_entity, dtype=np.int32)[combos]
        _, first = np.unique(entities, return_index=True)
        for row in sorted(first.tolist()):
            combo = int(combos[row])
            canonical = self._entities.values[self._combo_entity[combo]]
            if canonical in self.entities:
                continue
            name, kind = self._combo_name[combo], self._combo_type[combo]
            self.entities[canonical] = EntityInfo(name or canonical, kind)
            # One kind per entity, so the evidence and the committed triple agree.
            self.kinds[canonical] = entity_kind(kind, profile.get(canonical, ()))
        return combos

    def _combo(
        self, key: str, indexed_names: Mapping[str, str], ui_by_name: Mapping[str, str]
    ) -> int:
        code = self._combos.get(key)
        if code is not None:
            return code
        entity_id, written_name, surface, kind = key.split(_SEP)
        name = None if written_name == _NO_NAME else written_name
        mention = {"entity_id": entity_id, "name": name, "surface": surface, "type": kind}
        wrong = mislinked(mention, indexed_names, ui_by_name)
        if wrong:
            entity_id = relink(mention, ui_by_name)
        code = self._combos[key] = len(self._combo_entity)
        self._combo_entity.append(self._entities(self.canonical(entity_id)))
        self._combo_name.append(name)
        self._combo_type.append(kind)
        self._combo_mislinked.append(wrong)
        return code

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
        """Abstracts that mention the entity, sorted (as strings)."""
        code = self._entities.index.get(entity_id)
        if code is None:
            return []
        lo, hi = np.searchsorted(self._entity_sorted, [code, code + 1])
        return sorted(str(p) for p in np.unique(self._entity_pmids[lo:hi]))

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

    def spans(self, pmid: str) -> dict[str, list[EntitySpan]]:
        """The abstract's canonical entity spans per text field, in text order."""
        m = self._mentions
        lo, hi = np.searchsorted(m["pmid"], [int(pmid), int(pmid) + 1])
        out: dict[str, list[EntitySpan]] = {name: [] for name in TEXT_FIELDS}
        for i in range(lo, hi):
            field_name = self._fields.values[m["field"][i]]
            if field_name not in out:
                continue
            combo = int(m["combo"][i])
            entity = self._entities.values[self._combo_entity[combo]]
            out[field_name].append(EntitySpan(
                entity, self._combo_name[combo], self._combo_type[combo],  # type: ignore[arg-type]
                int(m["start"][i]), int(m["end"][i]), self.kinds[entity],
            ))  # fmt: skip
        return out

    def entities_in(self, pmid: str) -> list[str]:
        """Canonical ids mentioned anywhere in one abstract, in text order."""
        spans = [s for field_spans in self.spans(pmid).values() for s in field_spans]
        return list(dict.fromkeys(s.entity_id for s in spans))

    def record(self, pmid: str) -> EvidenceRecord | None:
        return self.records([pmid]).get(pmid)

    def records(self, pmids: Sequence[str]) -> dict[str, EvidenceRecord]:
        """The evidence records of these PMIDs that the corpus holds."""
        return {pmid: self._record(pmid, row) for pmid, row in self.abstracts.rows(pmids).items()}

    def _record(self, pmid: str, row: dict[str, Any]) -> EvidenceRecord:
        spans = self.spans(pmid)
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
        asked = [
            p for p in dict.fromkeys(pmids) if p not in self._triples and p not in self.failures
        ]
        found = self.records(asked) if asked else {}
        records = [found[p] for p in asked if p in found]
        if not records:
            return
        extracted = self.extractor(records)
        self._triples.update(extracted.triples)
        self.failures.update(extracted.failures)

    def triples(self, pmid: str) -> tuple[TripleEvidence, ...]:
        """Typed relations in one abstract (remembered: expansion revisits pmids)."""
        self.prefetch([pmid])
        return self._triples.get(pmid, ())
