"""The ``mentions`` stage: abstracts -> entity mentions, one schema for every
backend (``lexicon`` offline; ``llm`` lands with the shared LLM client)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict
from typing import Any

import pyarrow as pa

from kisa_tasks.artefacts import register_stage
from kisa_tasks.extract.canonical import expand_abbreviations
from kisa_tasks.extract.lexicon import Mention, find_mentions, record_entries
from kisa_tasks.ingest.medline import Chemical, MeshHeading
from kisa_tasks.ingest.mesh_tree import disease_tree_numbers

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
        ]
    ),
)
MENTION_TYPES = ("disease", "drug", "chemical", "concept")


def lexicon_mentions(row: dict[str, Any], disease_uis: frozenset[str]) -> list[Mention]:
    """Mentions in one abstracts-stage row (title and abstract)."""
    mesh = [
        MeshHeading(m["descriptor_ui"], m["name"], m["major"], tuple(m["qualifiers"] or ()))
        for m in row.get("mesh") or ()
    ]
    chemicals = [Chemical(c["ui"], c["name"]) for c in row.get("chemicals") or ()]
    extra = record_entries(mesh, chemicals, disease_uis)
    out = []
    for field in ("title", "abstract"):
        text = row.get(field) or ""
        if text:
            out.extend(find_mentions(row["pmid"], text, extra, field=field))
    return out


def extract_table(abstracts: pa.Table) -> pa.Table:
    """Lexicon mentions for a table of abstracts, with abbreviations defined in
    each text bound to their long form (also the Ray ``map_batches`` fn)."""
    disease_uis = frozenset(disease_tree_numbers())
    rows: list[dict[str, Any]] = []
    for row in abstracts.select(["pmid", "title", "abstract", "mesh", "chemicals"]).to_pylist():
        found = [asdict(m) for m in lexicon_mentions(row, disease_uis)]
        texts = {(row["pmid"], f): row.get(f) or "" for f in ("title", "abstract")}
        rows.extend(expand_abbreviations(found, texts))
    return pa.Table.from_pylist(rows, schema=MENTIONS_SCHEMA)


def batches(table: pa.Table, rows: int) -> Iterator[pa.Table]:
    for start in range(0, table.num_rows, rows):
        yield table.slice(start, rows)


def extract_all(abstracts: pa.Table, rows_per_batch: int = 5000) -> list[pa.Table]:
    return [extract_table(batch) for batch in batches(abstracts, rows_per_batch)]


def count_by_type(tables: Iterable[pa.Table]) -> dict[str, int]:
    counts = {t: 0 for t in MENTION_TYPES}
    for table in tables:
        for value in table.column("type").to_pylist():
            counts[value] = counts.get(value, 0) + 1
    return counts
