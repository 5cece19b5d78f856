"""Graph store benchmarks on the embedded FalkorDB, side by side in one run.

1. Load: relationships/s with batched ``UNWIND ... MERGE`` (the platform's
   ``write_seed_graph``, 1,000 rows a query) against one MERGE query per
   row (the same Cypher with a one-row batch), on a random graph.
2. Longest path, depth 6: latency of the Cypher query
   (``seed_longest_path``) and of the platform's exact in-memory search, from
   the lowest-degree ("rare") nodes of a 5k-node / 20k-edge graph, against a
   networkx DFS over ``all_simple_paths`` (the reference implementation's
   approach), and of what the pipeline runs (``store_longest_path``: the
   Cypher query within a budget, then the exact search over the graph's
   relations fetched in one query). p50/p95 over the seeds; a query that
   exceeds the timeout is counted as such.

Needs the embedded services (``kisa services up``); writes to a graph named
``kisa_bench`` that it clears before and after.

    .venv/bin/python benchmarks/graph_store.py [--nodes 5000] [--edges 20000] [--seeds 20]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

import networkx as nx

from kisa_tasks.graph import open_graph_store
from kisa_tasks.settings import load_settings
from kisa_tasks.subgraphs.graph import Edge, EntityInfo, KnowledgeGraph
from kisa_tasks.subgraphs.paths import longest_path
from kisa_tasks.subgraphs.store_io import relation_rows, store_longest_path, write_seed_graph

GRAPH = "bench"


def random_edges(nodes: int, edges: int, seed: int = 7) -> list[Edge]:
    rng = random.Random(seed)  # noqa: S311 - a reproducible test graph
    pairs: set[tuple[int, int]] = set()
    while len(pairs) < edges:
        a, b = rng.randrange(nodes), rng.randrange(nodes)
        if a != b:
            pairs.add((min(a, b), max(a, b)))
    return [
        Edge(f"n{a:05d}", "associated_with", f"n{b:05d}", float(rng.randint(1, 5)))
        for a, b in sorted(pairs)
    ]


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--edges", type=int, default=20000)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--per-row", type=int, default=2000, help="rows loaded one per query")
    parser.add_argument("--timeout-ms", type=int, default=10_000)
    parser.add_argument(
        "--budget-ms",
        type=int,
        default=20,
        help="Cypher budget of the platform's store_longest_path before its exact fallback",
    )
    args = parser.parse_args()
    settings = load_settings()
    settings = settings.model_copy(
        update={"graph": settings.graph.model_copy(update={"name": "kisa_bench"})}
    )
    edges = random_edges(args.nodes, args.edges)
    info = {n: EntityInfo(n, "concept") for e in edges for n in (e.head, e.tail)}
    rows = relation_rows(GRAPH, edges, info, {})
    with open_graph_store(settings) as store:
        store.clear()
        store.ensure_schema()
        per_row = rows[: args.per_row]
        single = timed(lambda: [write_seed_graph(store, [r], batch_size=1) for r in per_row])
        store.clear()
        store.ensure_schema()
        batched = timed(lambda: write_seed_graph(store, rows, batch_size=1000))
        print(f"load {len(rows)} relationships, batched MERGE: {len(rows) / batched:,.0f} rel/s")
        print(
            f"load {len(per_row)} relationships, one MERGE per row: "
            f"{len(per_row) / single:,.0f} rel/s"
        )
        print(f"  batched / per-row = {(len(rows) / batched) / (len(per_row) / single):.1f}x")

        graph = KnowledgeGraph.of(edges)
        nxg = nx.Graph([(e.head, e.tail) for e in edges])
        seeds = sorted(graph.nodes(), key=lambda n: (graph.degree(n), n))[: args.seeds]
        cypher, memory, reference, platform = [], [], [], []
        timeouts = 0
        for seed in seeds:
            start = time.perf_counter()
            try:
                store.run(
                    "seed_longest_path",
                    {"seed": seed, "graph": GRAPH},
                    literals={"max_depth": 6},
                    timeout_ms=args.timeout_ms,
                )
                cypher.append(time.perf_counter() - start)
            except Exception:  # noqa: BLE001 - FalkorDB reports a timeout as an error
                timeouts += 1
            memory.append(timed(lambda s=seed: longest_path(graph, s, 6)))
            platform.append(
                timed(
                    lambda s=seed: store_longest_path(store, GRAPH, s, 6, timeout_ms=args.budget_ms)
                )
            )
            others = [n for n in nxg if n != seed]
            reference.append(
                timed(
                    lambda s=seed, o=others: max(
                        len(p) for p in nx.all_simple_paths(nxg, s, o, cutoff=6)
                    )
                )
            )
        degrees = [graph.degree(s) for s in seeds]
        print(
            f"longest path depth 6 from {len(seeds)} lowest-degree seeds "
            f"(degree {min(degrees)}-{max(degrees)}):"
        )
        for name, values in (
            ("cypher", cypher),
            ("in-memory exact", memory),
            (f"platform ({args.budget_ms} ms cypher budget, then fetch + exact)", platform),
            ("networkx DFS", reference),
        ):
            if values:
                print(
                    f"  {name:54} p50 {statistics.median(values) * 1000:8.1f} ms"
                    f"  p95 {pct(values, 0.95) * 1000:8.1f} ms"
                )
        if timeouts:
            print(f"  cypher: {timeouts} of {len(seeds)} queries over {args.timeout_ms} ms")
        store.clear()


if __name__ == "__main__":
    main()
