"""Seed graphs in the graph store: batched writes, reads, the Cypher longest
path with its exact in-memory fallback on a timeout.

Each seed's graph is addressed by a graph id (``graph_id(seed)``) carried by
its relations; entities are shared nodes. Writes are ``UNWIND ... MERGE`` in
batches, keyed so that rebuilding a graph changes nothing.

Node keys are bounded (``node_key``): FalkorDB's exact-match index does not
find a string longer than 4,096 bytes (measured: a MERGE on such an id
creates a new node every time), so a longer entity id is keyed by its digest
and kept whole in ``full_id``; every read returns ``coalesce(full_id, id)``.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kisa_tasks.graph import GraphQueryTimeoutError, GraphStore
from kisa_tasks.subgraphs.graph import Edge, EntityInfo, KnowledgeGraph
from kisa_tasks.subgraphs.paths import DEFAULT_MAX_DEPTH, longest_path

log = logging.getLogger(__name__)


def graph_id(seed: str) -> str:
    """The id of a seed's graph: the seed's canonical id (deterministic)."""
    return f"seed:{seed}"


MAX_KEY_BYTES = 1024


def node_key(entity_id: str) -> str:
    """The graph store key of an entity: its id, or a digest of a long one."""
    raw = entity_id.encode()
    if len(raw) <= MAX_KEY_BYTES:
        return entity_id
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def relation_rows(
    graph: str,
    edges: Iterable[Edge],
    entities: Mapping[str, EntityInfo],
    pmids: Mapping[Edge, list[str]],
    confidences: Mapping[tuple[str, str, str], float] | None = None,
) -> list[dict[str, Any]]:
    """Rows for ``merge_seed_relations``: one per relation, with its evidence
    (entity ids; ``write_seed_graph`` turns them into node keys)."""
    rows = []
    for edge in edges:
        head, tail = entities[edge.head], entities[edge.tail]
        rows.append(
            {
                "graph": graph,
                "head": edge.head,
                "head_name": head.name,
                "head_type": head.type,
                "tail": edge.tail,
                "tail_name": tail.name,
                "tail_type": tail.type,
                "type": edge.relation,
                "weight": int(edge.weight),
                "confidence": (confidences or {}).get((edge.head, edge.relation, edge.tail)),
                "pmids": sorted(pmids.get(edge, [])),
            }
        )
    return rows


def write_seed_graph(
    store: GraphStore, rows: Iterable[Mapping[str, Any]], batch_size: int = 1000
) -> int:
    """Upsert a seed graph from ``relation_rows``; returns the relations written."""
    keyed = (_keyed(row) for row in rows)
    return store.run_batches("merge_seed_relations", keyed, batch_size=batch_size)


def replace_seed_graph(store: GraphStore, graph: str, rows: Iterable[Mapping[str, Any]]) -> int:
    """The seed graph ``graph`` holds exactly ``rows``' relations afterwards
    (a rebuild drops relations an earlier build wrote); returns those written."""
    store.run("delete_seed_relations", {"graph": graph})
    return write_seed_graph(store, rows)


def _keyed(row: Mapping[str, Any]) -> dict[str, Any]:
    """A relation row with node keys, and whole ids where a key is a digest."""
    out = dict(row)
    for end in ("head", "tail"):
        key = node_key(row[end])
        out[end] = key
        out[f"{end}_full"] = row[end] if key != row[end] else None
    return out


def load_seed_graph(store: GraphStore, graph: str) -> KnowledgeGraph:
    rows = store.run("seed_graph_edges", {"graph": graph})
    if not rows:
        return KnowledgeGraph.of(())
    columns = rows[0]
    return KnowledgeGraph.of(
        Edge(head, relation, tail, float(weight))
        for head, relation, tail, weight in zip(
            columns["heads"],
            columns["relations"],
            columns["tails"],
            columns["weights"],
            strict=True,
        )
    )


@dataclass(frozen=True)
class PathResult:
    path: tuple[str, ...]
    method: str  # "cypher" or "dfs" (after a timeout), for the task log and metrics
    reason: str = ""
    cypher_ms: float = 0.0  # the Cypher query's wall time, timed out or not


def store_longest_path(
    store: GraphStore,
    graph: str,
    seed: str,
    max_depth: int = DEFAULT_MAX_DEPTH,
    timeout_ms: int = 2000,
) -> PathResult:
    """The seed's longest path: the graph store's Cypher query. Only when the
    query runs past ``timeout_ms`` does the same exact search run in memory
    over the graph's fetched relations (logged with the seed and counted by
    the stage); any other error of the store fails the task, so a broken
    query or backend never hides behind the fallback."""
    start = time.perf_counter()
    try:
        rows = store.run(
            "seed_longest_path",
            {"seed": node_key(seed), "graph": graph},
            literals={"max_depth": max_depth},
            timeout_ms=timeout_ms,
        )
    except GraphQueryTimeoutError as exc:
        took = (time.perf_counter() - start) * 1000
        log.warning("longest path of %s: %s; the exact search in memory instead", seed, exc)
        path = longest_path(load_seed_graph(store, graph), seed, max_depth)
        return PathResult(path, "dfs", str(exc), took)
    took = (time.perf_counter() - start) * 1000
    return PathResult(tuple(rows[0]["path"]) if rows else (seed,), "cypher", "", took)
