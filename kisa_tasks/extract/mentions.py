"""The ``mentions`` stage: abstracts -> entity mentions, one schema for every
backend (``lexicon`` offline, ``llm`` through the shared LLM client)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import pyarrow as pa

from kisa_tasks.artefacts import Rejection, register_stage
from kisa_tasks.extract.canonical import expand_abbreviations
from kisa_tasks.extract.lexicon import LexiconEntry, Mention, find_mentions, record_entries
from kisa_tasks.ingest.medline import Chemical, MeshHeading
from kisa_tasks.ingest.mesh_tree import disease_tree_numbers
from kisa_tasks.llm.batch import run_all, usage_counts
from kisa_tasks.llm.client import LLMClient, Sampling
from kisa_tasks.vocabulary import ENTITY_TYPES, TEXT_FIELDS

MENTIONS_SCHEMA = register_stage(
    "mentions",
    pa.schema(
        [
            pa.field("pmid", pa.string(), nullable=False),
            pa.field("field", pa.string(), nullable=False),
            pa.field("start", pa.int32(), nullable=False),
            pa.field("end", pa.int32(), nullable=False),
            pa.field("surface", pa.string(), nullable=False),
            pa.field("type", pa.string(), nullable=False),
            pa.field("entity_id", pa.string(), nullable=False),
            pa.field("name", pa.string()),
            pa.field("backend", pa.string(), nullable=False),
            # Where an LLM-made row came from (``llm.client.provenance``: prompt
            # and version, model, endpoint, weights); null for rows no model wrote.
            pa.field("provenance", pa.string(), nullable=True),
        ]
    ),
)
INPUT_COLUMNS = ("pmid", "title", "abstract", "mesh", "chemicals")
# Greedy decoding: the same abstract gives the same answer (and cache key).
EXTRACT_SAMPLING = Sampling(temperature=0.0, max_tokens=1024, seed=0)


def record_lexicon(row: Mapping[str, Any], disease_uis: frozenset[str]) -> dict[str, LexiconEntry]:
    """The row's own MeSH headings and chemicals as surface forms."""
    mesh = [
        MeshHeading(m["descriptor_ui"], m["name"], m["major"], tuple(m["qualifiers"] or ()))
        for m in row.get("mesh") or ()
    ]
    chemicals = [Chemical(c["ui"], c["name"]) for c in row.get("chemicals") or ()]
    return record_entries(mesh, chemicals, disease_uis)


def row_texts(row: Mapping[str, Any]) -> dict[tuple[str, str], str]:
    return {(row["pmid"], f): row.get(f) or "" for f in TEXT_FIELDS}


def lexicon_mentions(
    row: Mapping[str, Any], disease_uis: frozenset[str], auto: Any | None = None
) -> list[Mention]:
    """Mentions in one abstracts-stage row (title and abstract)."""
    extra = record_lexicon(row, disease_uis)
    out = []
    for (pmid, field), text in row_texts(row).items():
        if text:
            out.extend(find_mentions(pmid, text, extra, field=field, auto=auto))
    return out


def extract_table(abstracts: pa.Table, auto: Any | None = None) -> pa.Table:
    """Lexicon mentions for a table of abstracts, with abbreviations defined in
    each text bound to their long form. ``auto`` adds surface forms to the
    dictionaries (``automaton_with``)."""
    disease_uis = frozenset(disease_tree_numbers())
    rows: list[dict[str, Any]] = []
    for row in abstracts.select(list(INPUT_COLUMNS)).to_pylist():
        found = [asdict(m) for m in lexicon_mentions(row, disease_uis, auto)]
        rows.extend(expand_abbreviations(found, row_texts(row)))
    return pa.Table.from_pylist(rows, schema=MENTIONS_SCHEMA)


@dataclass
class LLMExtraction:
    table: pa.Table
    rejections: list[Rejection]
    counts: dict[str, int]


def llm_extract_table(abstracts: pa.Table, client: LLMClient) -> LLMExtraction:
    """``llm`` backend mentions for a table of abstracts. An abstract with any
    failed request is rejected whole with the reason (and asked again on the
    next run); it is never committed as done with part of its mentions."""
    from kisa_tasks.extract.llm_extract import (
        ANSWER_SCHEMA,
        PROMPT_VERSION,
        extraction_requests,
        ground_answer,
        record_chunks,
    )

    disease_uis = frozenset(disease_tree_numbers())
    records = abstracts.select(list(INPUT_COLUMNS)).to_pylist()
    chunks = {row["pmid"]: record_chunks(row) for row in records}
    requests = extraction_requests([c for cs in chunks.values() for c in cs])
    outcomes = {
        o.key: o
        for o in run_all(
            client, requests, schema=ANSWER_SCHEMA, sampling=EXTRACT_SAMPLING, label="extract llm"
        )
    }
    made_by = client.provenance(PROMPT_VERSION)
    rows: list[dict[str, Any]] = []
    rejections: list[Rejection] = []
    counts = {"failed": 0, "without_entities": 0, "unsupported_surfaces": 0, "generic_surfaces": 0}
    for row in records:
        errors = [outcomes[c.key].error for c in chunks[row["pmid"]] if not outcomes[c.key].ok]
        if errors:
            counts["failed"] += 1
            rejections.append(
                Rejection(row["pmid"], f"llm_failed: {errors[0]}", {"failed_chunks": len(errors)})
            )
            continue
        extra = record_lexicon(row, disease_uis)
        found: list[dict[str, Any]] = []
        for chunk in chunks[row["pmid"]]:
            grounded = ground_answer(chunk, outcomes[chunk.key].data, extra)
            found.extend(asdict(m) | {"provenance": made_by} for m in grounded.mentions)
            counts["unsupported_surfaces"] += grounded.unsupported
            counts["generic_surfaces"] += grounded.generic
        counts["without_entities"] += not found
        rows.extend(expand_abbreviations(found, row_texts(row)))
    table = pa.Table.from_pylist(rows, schema=MENTIONS_SCHEMA)
    return LLMExtraction(table, rejections, counts | usage_counts(client))


def surface_lexicon(tables: Iterable[pa.Table]) -> dict[str, LexiconEntry]:
    """Every surface form in ``tables`` with the entity it was linked to, to
    count those entities over the corpus with the lexicon matcher."""
    out: dict[str, LexiconEntry] = {}
    for table in tables:
        cols = table.select(["surface", "entity_id", "name", "type"]).to_pylist()
        for m in sorted(cols, key=lambda m: (m["surface"].lower(), m["entity_id"])):
            out.setdefault(m["surface"].lower(), LexiconEntry(m["entity_id"], m["name"], m["type"]))
    return out


def batches(table: pa.Table, rows: int) -> Iterator[pa.Table]:
    for start in range(0, table.num_rows, rows):
        yield table.slice(start, rows)


def extract_all(
    abstracts: pa.Table, rows_per_batch: int = 5000, auto: Any | None = None
) -> list[pa.Table]:
    return [extract_table(batch, auto) for batch in batches(abstracts, rows_per_batch)]


def count_by_type(tables: Iterable[pa.Table]) -> dict[str, int]:
    counts = {t: 0 for t in ENTITY_TYPES}
    for table in tables:
        for value in table.column("type").to_pylist():
            counts[value] = counts.get(value, 0) + 1
    return counts
