"""The ``entities``, ``entity_stats`` and ``seeds`` stages."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import pyarrow as pa

from kisa_tasks.artefacts import ArtefactStore, Partition, Rejection, register_stage
from kisa_tasks.extract.canonical import Decider, canonicalise, identifier_links
from kisa_tasks.extract.entity_merge import (
    LLMDecisions,
    MergeQuestion,
    llm_decisions,
    rules_decisions,
)
from kisa_tasks.llm.client import LLMClient
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
    # 60 of ~33k abstracts (the relative bound): rare, and enough candidates
    # that a few dozen start a chain of trusted relations (at 5, a dozen per
    # specialty had one relation at all; at 30, cardiology had 31 chainable
    # seeds once MeSH claims needed a cue, 56 at 60).
    max_doc_freq: int = 60
    max_rel_freq: float = 2e-3


CANONICALISATION_BACKENDS = ("rules", "llm")


@dataclass
class Canonicalised:
    table: pa.Table
    rejections: list[Rejection]
    counts: dict[str, int]


def entities_table(
    mentions: pa.Table, decide: Decider = rules_decisions, backend: str = "rules"
) -> pa.Table:
    cols = mentions.select(["entity_id", "name", "surface", "type"]).to_pylist()
    entities, _ = canonicalise(cols, identifier_links(), decide)
    rows = [asdict(e) | {"backend": backend} for e in entities]
    for row in rows:
        row["aliases"], row["identifiers"] = list(row["aliases"]), list(row["identifiers"])
    return pa.Table.from_pylist(rows, schema=ENTITIES_SCHEMA)


def canonicalise_mentions(
    mentions: pa.Table, backend: str, client: LLMClient | None = None
) -> Canonicalised:
    """Entities from mentions with the chosen decider. With ``llm``, a question
    the model failed to answer leaves that name its own entity for this run and
    is recorded as rejected with the reason (retried on the next run)."""
    if backend == "rules":
        return Canonicalised(entities_table(mentions), [], {})
    if backend != "llm" or client is None:
        raise ValueError(
            f"canonicalisation backend {backend!r} needs one of {CANONICALISATION_BACKENDS}"
            " (and an LLM client for llm)"
        )
    outcome: list[LLMDecisions] = []

    def ask_model(questions: Sequence[MergeQuestion], names: Mapping[str, str]) -> dict[str, str]:
        outcome.append(llm_decisions(questions, client))
        return outcome[0].merges

    table = entities_table(mentions, ask_model, backend="llm")
    decided = outcome[0]
    rejections = [
        Rejection(ident, f"llm_failed: {reason}", {"entity_id": ident})
        for ident, reason in sorted(decided.failures.items())
    ]
    return Canonicalised(table, rejections, decided.counts | {"merged_by_llm": len(decided.merges)})


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


def run_canonicalise(
    settings: KisaSettings, *, specialty: str, run_id: str, backend: str = "rules"
) -> dict[str, Any]:
    store = ArtefactStore.from_settings(settings)
    mentions = store.read(Partition("mentions", specialty, run_id))
    client = None
    if backend == "llm":
        from kisa_tasks.llm.client import client_from_settings

        client = client_from_settings(settings)
    result = canonicalise_mentions(mentions, backend, client)
    partition = Partition("entities", specialty, run_id)
    store.write(partition, [result.table], result.rejections)
    counts = {
        "identifiers": len(set(mentions.column("entity_id").to_pylist())),
        "entities": result.table.num_rows,
        **result.counts,
    }
    log.info("canonicalise %s: %s", specialty, counts)
    return {"uri": store.uri(partition.prefix), "counts": counts}


def run_stats(settings: KisaSettings, *, specialty: str, run_id: str) -> dict[str, Any]:
    store = ArtefactStore.from_settings(settings)
    tables = {
        stage: store.read(Partition(stage, specialty, run_id))
        for stage in ("abstracts", "mentions", "entities")
    }
    # Of the corpus only what the counts read: not its text.
    corpus = {
        stage: store.read(Partition(stage, WHOLE_CORPUS, run_id), columns)
        for stage, columns in (("abstracts", ["pmid"]), ("mentions", ["pmid", "entity_id"]))
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


def chainable_seeds(
    candidates: pa.Table, corpus: Any, min_confidence: float, limit: int
) -> pa.Table:
    """The first ``limit`` candidates (in their order) that start a chain of
    two trusted relations in the corpus (seed - X - Y): with the precise
    extractor most rare entities have no relation, or one to an entity as
    rare, and such a seed cannot root a multi-hop question.
    ``corpus``: a ``triples.evidence.EvidenceCorpus``."""
    keep: list[int] = []
    for i, seed in enumerate(candidates.column("canonical_id").to_pylist()):
        if any(
            corpus.trusted_neighbours(x, min_confidence) - {seed}
            for x in sorted(corpus.trusted_neighbours(seed, min_confidence))
        ):
            keep.append(i)
            if len(keep) == limit:
                break
    return candidates.take(keep)


def run_seeds(
    settings: KisaSettings,
    *,
    specialty: str,
    run_id: str,
    max_seeds: int,
    policy: SeedPolicy | None = None,
    require_relation: bool = True,
) -> dict[str, Any]:
    """Rare entities as seeds; with ``require_relation`` (the ``rules``
    triple backend: cheap to ask) only those that start a chain of two
    trusted relations (``chainable_seeds``)."""
    store = ArtefactStore.from_settings(settings)
    stats = store.read(Partition("entity_stats", specialty, run_id))
    counts: dict[str, int] = {"candidates": stats.num_rows}
    if require_relation:
        from kisa_tasks.triples.evidence import run_evidence

        rare = seeds_table(stats, policy or SeedPolicy(), stats.num_rows)
        entities = store.read(Partition("entities", specialty, run_id)).to_pylist()
        idmap = {i: e["canonical_id"] for e in entities for i in e["identifiers"]}
        corpus = run_evidence(store, run_id, idmap, settings.home / "evidence-cache")
        seeds = chainable_seeds(rare, corpus, settings.graph.min_confidence, max_seeds)
        counts["rare"] = rare.num_rows
    else:
        seeds = seeds_table(stats, policy or SeedPolicy(), max_seeds)
    partition = Partition("seeds", specialty, run_id)
    store.write(partition, [seeds])
    counts["seeds"] = seeds.num_rows
    log.info("seeds %s: %s", specialty, counts)
    return {"uri": store.uri(partition.prefix), "counts": counts}
