"""The ``entities``, ``entity_stats`` and ``seeds`` stages."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

import pyarrow as pa

import kisa_tasks.extract.mentions
import kisa_tasks.ingest.abstracts  # noqa: F401 - registers the abstracts schema
from kisa_tasks.artefacts import ArtefactStore, Partition, register_stage
from kisa_tasks.extract.canonical import canonicalise, identifier_links
from kisa_tasks.settings import KisaSettings
from kisa_tasks.specialties import WHOLE_CORPUS
from kisa_tasks.stats.queries import run_sql

log = logging.getLogger(__name__)

ENTITIES_SCHEMA = register_stage(
    "entities",
    pa.schema(
        [
            pa.field("canonical_id", pa.string(), nullable=False),
            pa.field("name", pa.string(), nullable=False),
            pa.field("type", pa.string(), nullable=False),
            pa.field("aliases", pa.list_(pa.string())),
            pa.field("identifiers", pa.list_(pa.string())),
            pa.field("backend", pa.string(), nullable=False),
        ]
    ),
)
_STATS_FIELDS = [
    pa.field("canonical_id", pa.string(), nullable=False),
    pa.field("name", pa.string(), nullable=False),
    pa.field("type", pa.string(), nullable=False),
    pa.field("doc_freq", pa.int64(), nullable=False),
    pa.field("mention_count", pa.int64(), nullable=False),
    pa.field("corpus_doc_freq", pa.int64(), nullable=False),
    pa.field("rel_freq", pa.float64(), nullable=False),
    pa.field("corpus_docs", pa.int64(), nullable=False),
]
STATS_SCHEMA = register_stage("entity_stats", pa.schema(_STATS_FIELDS))
SEEDS_SCHEMA = register_stage("seeds", pa.schema(_STATS_FIELDS))


@dataclass(frozen=True)
class SeedPolicy:
    """Rare = in at most ``max_doc_freq`` abstracts of the whole corpus (and at
    most ``max_rel_freq`` of them); at least ``min_evidence`` abstracts in the
    specialty so a graph has something to start from. Defaults are tuned on the
    embedded corpus (~33k usable abstracts); the paper's 1e-6 is for 30M."""

    min_evidence: int = 2
    max_doc_freq: int = 5
    max_rel_freq: float = 1e-3


def entities_table(mentions: pa.Table) -> pa.Table:
    cols = mentions.select(["entity_id", "name", "surface", "type"]).to_pylist()
    entities, _ = canonicalise(cols, identifier_links())
    rows = [asdict(e) | {"backend": "rules"} for e in entities]
    for row in rows:
        row["aliases"], row["identifiers"] = list(row["aliases"]), list(row["identifiers"])
    return pa.Table.from_pylist(rows, schema=ENTITIES_SCHEMA)


def stats_table(
    abstracts: pa.Table,
    mentions: pa.Table,
    entities: pa.Table,
    corpus_abstracts: pa.Table | None = None,
    corpus_mentions: pa.Table | None = None,
) -> pa.Table:
    """Frequencies in the sample and, when given, over the whole corpus (else
    the sample is its own reference)."""
    tables = {
        "abstracts": abstracts,
        "mentions": mentions,
        "entities": entities,
        "corpus_abstracts": abstracts if corpus_abstracts is None else corpus_abstracts,
        "corpus_mentions": mentions if corpus_mentions is None else corpus_mentions,
    }
    return run_sql("entity_stats", tables).cast(STATS_SCHEMA)


def seeds_table(stats: pa.Table, policy: SeedPolicy, limit: int) -> pa.Table:
    result = run_sql("rare_seeds", {"stats": stats}, {**asdict(policy), "limit": limit})
    return result.cast(SEEDS_SCHEMA)


def run_canonicalise(settings: KisaSettings, *, specialty: str, run_id: str) -> dict[str, Any]:
    store = ArtefactStore.from_settings(settings)
    mentions = store.read(Partition("mentions", specialty, run_id))
    entities = entities_table(mentions)
    partition = Partition("entities", specialty, run_id)
    store.write(partition, [entities])
    counts = {
        "identifiers": len(set(mentions.column("entity_id").to_pylist())),
        "entities": entities.num_rows,
    }
    log.info("canonicalise %s: %s", specialty, counts)
    return {"uri": store.uri(partition.prefix), "counts": counts}


def run_stats(settings: KisaSettings, *, specialty: str, run_id: str) -> dict[str, Any]:
    store = ArtefactStore.from_settings(settings)
    tables = {
        stage: store.read(Partition(stage, specialty, run_id))
        for stage in ("abstracts", "mentions", "entities")
    }
    corpus = {
        stage: store.read(Partition(stage, WHOLE_CORPUS, run_id))
        for stage in ("abstracts", "mentions")
        if store.is_committed(Partition(stage, WHOLE_CORPUS, run_id))
    }
    stats = stats_table(
        tables["abstracts"],
        tables["mentions"],
        tables["entities"],
        corpus.get("abstracts"),
        corpus.get("mentions"),
    )
    partition = Partition("entity_stats", specialty, run_id)
    store.write(partition, [stats])
    doc_freqs = stats.column("doc_freq").to_pylist()
    counts = {
        "entities": stats.num_rows,
        "singletons": sum(1 for d in doc_freqs if d == 1),
        "max_doc_freq": max(doc_freqs, default=0),
    }
    log.info("stats %s: %s", specialty, counts)
    return {"uri": store.uri(partition.prefix), "counts": counts}


def run_seeds(
    settings: KisaSettings,
    *,
    specialty: str,
    run_id: str,
    max_seeds: int,
    policy: SeedPolicy | None = None,
) -> dict[str, Any]:
    store = ArtefactStore.from_settings(settings)
    stats = store.read(Partition("entity_stats", specialty, run_id))
    seeds = seeds_table(stats, policy or SeedPolicy(), max_seeds)
    partition = Partition("seeds", specialty, run_id)
    store.write(partition, [seeds])
    counts = {"candidates": stats.num_rows, "seeds": seeds.num_rows}
    log.info("seeds %s: %s", specialty, counts)
    return {"uri": store.uri(partition.prefix), "counts": counts}
