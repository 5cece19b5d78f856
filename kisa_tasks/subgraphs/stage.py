"""The ``graphs`` stage: committed seeds -> a knowledge graph per seed in the
graph store, its triples and one sampled sub-graph per seed on S3.

Per seed: expand over the corpus search engine (``expand``), write the graph
with batched MERGE (``store_io``), find the longest path in Cypher (exact
in-memory fallback), sample the run's strategy around the seed. A seed whose
graph has no relation is recorded in ``rejected/subgraphs/`` with the reason,
never reported as an empty success. Rebuilding is idempotent: graph writes
are MERGEs keyed by the seed's graph id, artefacts are deterministic.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from kisa_tasks.artefacts import ArtefactStore, Partition, Rejection, register_stage
from kisa_tasks.graph import open_graph_store
from kisa_tasks.retrieval.store import ensure_index
from kisa_tasks.settings import KisaSettings
from kisa_tasks.specialties import WHOLE_CORPUS
from kisa_tasks.subgraphs.expand import ExpansionPolicy, SeedGraph, expand_seed
from kisa_tasks.subgraphs.graph import KnowledgeGraph, Subgraph
from kisa_tasks.subgraphs.paths import DEFAULT_MAX_DEPTH
from kisa_tasks.subgraphs.sampling import SamplingError, sample_subgraph, subgraph_id
from kisa_tasks.subgraphs.store_io import (
    graph_id,
    relation_rows,
    replace_seed_graph,
    store_longest_path,
)
from kisa_tasks.triples.evidence import EvidenceCorpus, rules_extractor, run_evidence

TRIPLE_BACKENDS = ("rules", "llm")

log = logging.getLogger(__name__)

_EDGE = pa.struct(
    [
        pa.field("head", pa.string(), nullable=False),
        pa.field("relation_type", pa.string(), nullable=False),
        pa.field("tail", pa.string(), nullable=False),
        pa.field("weight", pa.float64(), nullable=False),
        pa.field("confidence", pa.float64(), nullable=False),
    ]
)
TRIPLES_SCHEMA = register_stage(
    "triples",
    pa.schema(
        [
            pa.field("seed", pa.string(), nullable=False),
            pa.field("head", pa.string(), nullable=False),
            pa.field("head_name", pa.string(), nullable=False),
            pa.field("relation", pa.string(), nullable=False),
            pa.field("relation_type", pa.string(), nullable=False),
            pa.field("tail", pa.string(), nullable=False),
            pa.field("tail_name", pa.string(), nullable=False),
            pa.field("pmid", pa.string(), nullable=False),
            pa.field("sentence", pa.string(), nullable=False),
            pa.field("extractor", pa.string(), nullable=False),
            pa.field("confidence", pa.float64(), nullable=False),
            # What the evidence is (rules.TripleEvidence.support) and the
            # ends' kinds (signatures.entity_kind): the gate checks both.
            pa.field("support", pa.string(), nullable=False),
            pa.field("head_kind", pa.string(), nullable=False),
            pa.field("tail_kind", pa.string(), nullable=False),
            # Where an LLM-made row came from (``llm.client.provenance``: prompt
            # and version, model, endpoint, weights); null for rows no model wrote.
            pa.field("provenance", pa.string(), nullable=True),
        ]
    ),
)
SUBGRAPHS_SCHEMA = register_stage(
    "subgraphs",
    pa.schema(
        [
            pa.field("subgraph_id", pa.string(), nullable=False),
            pa.field("seed", pa.string(), nullable=False),
            pa.field("seed_name", pa.string(), nullable=False),
            pa.field("graph_id", pa.string(), nullable=False),
            pa.field("strategy", pa.string(), nullable=False),
            pa.field("hops", pa.int32(), nullable=False),
            pa.field("path", pa.list_(pa.string()), nullable=False),
            pa.field("path_names", pa.list_(pa.string()), nullable=False),
            pa.field("nodes", pa.list_(pa.string()), nullable=False),
            # Parallel to nodes: what QA synthesis needs to describe and mask them.
            pa.field("node_names", pa.list_(pa.string()), nullable=False),
            pa.field("node_types", pa.list_(pa.string()), nullable=False),
            pa.field("node_aliases", pa.list_(pa.list_(pa.string())), nullable=False),
            pa.field("edges", pa.list_(_EDGE), nullable=False),
            pa.field("graph_nodes", pa.int32(), nullable=False),
            pa.field("graph_edges", pa.int32(), nullable=False),
            pa.field("longest_path_hops", pa.int32(), nullable=False),
            pa.field("longest_path_method", pa.string(), nullable=False),
        ]
    ),
)


def triple_rows(
    seed: str, graph: SeedGraph, corpus: EvidenceCorpus, extractor: str
) -> list[dict[str, Any]]:
    """One row per piece of evidence of the graph's edges."""
    edges = {(e.head, e.relation, e.tail): e.weight for e in graph.edges()}
    confidences = graph.confidences()
    rows = []
    for t in sorted(graph.evidence, key=lambda t: (t.head, t.relation_type, t.tail, t.pmid)):
        weight = edges.get((t.head, t.relation_type, t.tail))
        if weight is None:
            continue
        rows.append(
            {
                "seed": seed,
                "head": t.head,
                "head_name": corpus.name(t.head),
                "relation": t.relation,
                "relation_type": t.relation_type,
                "tail": t.tail,
                "tail_name": corpus.name(t.tail),
                "pmid": t.pmid,
                "sentence": t.sentence,
                "extractor": extractor,
                "confidence": confidences[(t.head, t.relation_type, t.tail)],
                "support": t.support,
                "head_kind": corpus.kinds.get(t.head, "concept"),
                "tail_kind": corpus.kinds.get(t.tail, "concept"),
                "provenance": t.provenance,
            }
        )
    return rows


def subgraph_row(
    sub: Subgraph,
    corpus: EvidenceCorpus,
    knowledge: KnowledgeGraph,
    rng_seed: int,
    longest: tuple[str, ...],
    method: str,
    confidences: Mapping[tuple[str, str, str], float],
) -> dict[str, Any]:
    return {
        "subgraph_id": subgraph_id(sub.seed, sub.strategy, rng_seed),
        "seed": sub.seed,
        "seed_name": corpus.name(sub.seed),
        "graph_id": graph_id(sub.seed),
        "strategy": sub.strategy,
        "hops": sub.hops,
        "path": list(sub.path),
        "path_names": [corpus.name(n) for n in sub.path],
        "nodes": list(sub.nodes),
        "node_names": [corpus.name(n) for n in sub.nodes],
        "node_types": [corpus.entities[n].type for n in sub.nodes],
        "node_aliases": [corpus.aliases(n) for n in sub.nodes],
        "edges": [
            {
                "head": e.head,
                "relation_type": e.relation,
                "tail": e.tail,
                "weight": e.weight,
                "confidence": confidences[(e.head, e.relation, e.tail)],
            }
            for e in sub.edges
        ],
        "graph_nodes": len(knowledge.nodes()),
        "graph_edges": len(knowledge.best),
        "longest_path_hops": len(longest) - 1,
        "longest_path_method": method,
    }


SHARD_MARK = "+shard-"


def shard_run(run_id: str, shard: int) -> str:
    """The run component of one shard's partitions (merged by ``merge_graphs``)."""
    return f"{run_id}{SHARD_MARK}{shard:03d}"


def is_shard_run(run: str) -> bool:
    """A shard's partial partition, not a DAG run's."""
    return SHARD_MARK in run


def prepare_graphs(
    settings: KisaSettings, *, specialty: str, run_id: str, max_shards: int = 4
) -> dict[str, Any]:
    """Build (or load) the corpus search index once, before shards fan out,
    and decide how many shards the seeds make."""
    store = ArtefactStore.from_settings(settings)
    loaded = ensure_index(
        store, Partition("abstracts", WHOLE_CORPUS, run_id), settings.home / "index-cache"
    )
    seeds = store.marker(Partition("seeds", specialty, run_id)).rows
    shards = max(1, min(max_shards, seeds))
    log.info("graphs %s: %d seeds in %d shards; index %s (%s)", specialty, seeds, shards,
             loaded.uri, loaded.origin)  # fmt: skip
    return {"shards": list(range(shards)), "counts": {"seeds": seeds, "shards": shards}}


def run_graph_shard(
    settings: KisaSettings,
    *,
    specialty: str,
    run_id: str,
    shard: int = 0,
    shards: int = 1,
    strategy: str = "max_chain",
    rng_seed: int = 0,
    max_depth: int = DEFAULT_MAX_DEPTH,
    policy: ExpansionPolicy | None = None,
    backend: str = "rules",
) -> dict[str, Any]:
    """Graphs for every ``shards``-th seed starting at ``shard``; commits the
    shard's triples and sub-graphs (with rejections) under ``shard_run``."""
    if backend not in TRIPLE_BACKENDS:
        raise ValueError(f"unknown triple backend {backend!r}; accepted: {TRIPLE_BACKENDS}")
    if not 0 <= shard < shards:
        raise ValueError(f"shard {shard} is not in 0..{shards - 1}")
    policy = policy or ExpansionPolicy()
    store = ArtefactStore.from_settings(settings)
    corpus_abstracts = Partition("abstracts", WHOLE_CORPUS, run_id)
    index = ensure_index(store, corpus_abstracts, settings.home / "index-cache").index
    entities = store.read(Partition("entities", specialty, run_id)).to_pylist()
    idmap = {i: e["canonical_id"] for e in entities for i in e["identifiers"]}
    llm_extractor = None
    if backend == "llm":
        from kisa_tasks.llm.client import client_from_settings
        from kisa_tasks.triples.llm_triples import LLMTripleExtractor

        llm_extractor = LLMTripleExtractor(lambda: client_from_settings(settings))
    corpus = run_evidence(
        store, run_id, idmap, settings.home / "evidence-cache", llm_extractor or rules_extractor
    )
    seeds = store.read(Partition("seeds", specialty, run_id)).to_pylist()[shard::shards]

    def search(query: str) -> list[str]:
        return [hit.doc_id for hit in index.search(query, k=policy.hits_per_query)]

    triples: list[dict[str, Any]] = []
    subgraphs: list[dict[str, Any]] = []
    skipped: list[Rejection] = []
    counts: Counter[str] = Counter()
    cypher_ms: list[float] = []  # each seed's longest-path query, for the log
    with open_graph_store(settings) as graph_store:
        graph_store.ensure_schema()
        for i, seed in enumerate(seeds, start=1):
            seed_id = seed["canonical_id"]
            grown = expand_seed(seed_id, corpus, search, policy)
            edges = grown.edges()
            if not edges:
                reason = (
                    f"no typed relation in {grown.searched_pmids} retrieved abstracts "
                    f"(seed {seed['name']!r})"
                )
                skipped.append(Rejection(seed_id, f"no_evidence: {reason}", {"seed": seed_id}))
                continue
            # The graph holds only relations at the confidence floor, so
            # sampling, QA steps and paths stand on trusted facts; the
            # triples partition keeps every piece of evidence for audit.
            confidences = grown.confidences()
            floor = settings.graph.min_confidence
            trusted = grown.trusted_edges(floor)
            counts["untrusted_edges"] += len(edges) - len(trusted)
            if not trusted:
                reason = f"no_trusted_relation: none of {len(edges)} at confidence >= {floor}"
                skipped.append(Rejection(seed_id, reason, {"seed": seed_id}))
                continue
            info = {n: corpus.entities[n] for n in grown.nodes if n in corpus.entities}
            replace_seed_graph(
                graph_store,
                graph_id(seed_id),
                relation_rows(graph_id(seed_id), trusted, info, grown.edge_pmids(), confidences),
            )
            longest = store_longest_path(
                graph_store,
                graph_id(seed_id),
                seed_id,
                max_depth,
                timeout_ms=settings.graph.longest_path_timeout_ms,
            )
            counts[f"longest_path_{longest.method}"] += 1
            cypher_ms.append(longest.cypher_ms)
            knowledge = KnowledgeGraph.of(trusted)
            try:
                sub = sample_subgraph(knowledge, seed_id, strategy, rng_seed, max_depth)
            except SamplingError as exc:
                skipped.append(Rejection(seed_id, f"no_subgraph: {exc}", {"seed": seed_id}))
                continue
            triples.extend(triple_rows(seed_id, grown, corpus, backend))
            subgraphs.append(
                subgraph_row(
                    sub, corpus, knowledge, rng_seed, longest.path, longest.method, confidences
                )
            )
            if i % 10 == 0 or i == len(seeds):
                log.info("graphs %s shard %d/%d: %d/%d seeds, %d sub-graphs", specialty,
                         shard + 1, shards, i, len(seeds), len(subgraphs))  # fmt: skip
    # Abstracts whose extraction failed: kept with the reason, asked again next run.
    failed = [
        Rejection(pmid, reason, {"pmid": pmid}) for pmid, reason in sorted(corpus.failures.items())
    ]
    run = shard_run(run_id, shard)
    store.write(
        Partition("triples", specialty, run),
        [pa.Table.from_pylist(triples, schema=TRIPLES_SCHEMA)],
        failed,
    )
    store.write(
        Partition("subgraphs", specialty, run),
        [pa.Table.from_pylist(subgraphs, schema=SUBGRAPHS_SCHEMA)],
        skipped,
    )
    if llm_extractor is not None:
        counts.update(llm_extractor.counts)
    counts.update(seeds=len(seeds), subgraphs=len(subgraphs))
    if cypher_ms:
        cypher_ms.sort()
        log.info("graphs %s shard %d/%d: Cypher longest path p50 %.1f ms, p95 %.1f ms, max "
                 "%.1f ms over %d seeds; %d past the %d ms budget", specialty, shard + 1, shards,
                 cypher_ms[len(cypher_ms) // 2], cypher_ms[int(0.95 * (len(cypher_ms) - 1))],
                 cypher_ms[-1], len(cypher_ms), counts["longest_path_dfs"],
                 settings.graph.longest_path_timeout_ms)  # fmt: skip
    return {"shard": shard, "counts": dict(sorted(counts.items()))}


def _rejections(table: pa.Table) -> list[Rejection]:
    return [
        Rejection(r["record_key"], r["reason"], json.loads(r["record_json"] or "null"))
        for r in table.to_pylist()
    ]


def merge_graphs(
    settings: KisaSettings,
    *,
    specialty: str,
    run_id: str,
    shard_counts: Sequence[Mapping[str, int]],
) -> dict[str, Any]:
    """Commit the shards' triples and sub-graphs as the run's partitions, in a
    fixed order (so the result does not depend on the number of shards), and
    the stage's counts: summed shard counts plus the hop histogram."""
    store = ArtefactStore.from_settings(settings)
    outputs: dict[str, tuple[list[pa.Table], list[Rejection]]] = {}
    for stage in ("triples", "subgraphs"):
        tables, rejected = [], []
        for shard in range(len(shard_counts)):
            partition = Partition(stage, specialty, shard_run(run_id, shard))
            tables.append(store.read(partition))
            rejected.extend(_rejections(store.read_rejected(partition)))
        unique = {(r.record_key, r.reason): r for r in rejected}
        outputs[stage] = (tables, [unique[k] for k in sorted(unique, key=str)])
    triples = pa.concat_tables(outputs["triples"][0]).sort_by(
        [("seed", "ascending"), ("head", "ascending"), ("relation_type", "ascending"),
         ("tail", "ascending"), ("pmid", "ascending")]
    )  # fmt: skip
    subgraphs = pa.concat_tables(outputs["subgraphs"][0]).sort_by("seed")
    store.write(Partition("triples", specialty, run_id), [triples], outputs["triples"][1])
    partition = Partition("subgraphs", specialty, run_id)
    store.write(partition, [subgraphs], outputs["subgraphs"][1])
    counts: Counter[str] = Counter()
    for one_shard in shard_counts:
        counts.update(one_shard)
    counts["triples"] = triples.num_rows
    counts["failed_abstracts"] = len(outputs["triples"][1])
    for rejection in outputs["subgraphs"][1]:
        counts["skipped_" + rejection.reason.split(":", 1)[0]] += 1
    columns = ["hops", "longest_path_hops", "strategy", "graph_edges"]
    for row in subgraphs.select(columns).to_pylist():
        counts[f"hops_{row['hops']}"] += 1  # of the sampled path
        counts[f"longest_path_hops_{row['longest_path_hops']}"] += 1
        counts[f"strategy_{row['strategy']}"] += 1
        counts["graph_edges"] += row["graph_edges"]
    result = dict(sorted(counts.items()))
    log.info("graphs %s: %s", specialty, result)
    return {"uri": store.uri(partition.prefix), "counts": result}


def run_graphs(
    settings: KisaSettings, *, specialty: str, run_id: str, **kwargs: Any
) -> dict[str, Any]:
    """The whole stage in one process (one shard): prepare, build, merge."""
    prepare_graphs(settings, specialty=specialty, run_id=run_id, max_shards=1)
    shard = run_graph_shard(settings, specialty=specialty, run_id=run_id, **kwargs)
    return merge_graphs(
        settings, specialty=specialty, run_id=run_id, shard_counts=[shard["counts"]]
    )
