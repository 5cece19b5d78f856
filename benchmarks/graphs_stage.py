"""The graphs stage for 100 rare seeds with the ``rules`` backend.

Takes a committed pipeline run of the embedded corpus (the latest one for the
specialty, e.g. after ``make demo``), selects up to 100 rare seeds from its
entity statistics with the platform's seed policy, and times ``run_graphs``
end to end (search index, evidence corpus, expansion, graph-store writes,
Cypher longest paths, sampling, Parquet commits). The search index is built
once per corpus and then reused from S3 or the local cache: the first timing
includes the build only if no run built it before; the second is warm.

Then the Cypher longest path on every seed graph the stage built (issue 20:
the graph store's answer, the in-memory search only past the budget): its
latency p50/p95/max with no budget, and how many seeds the stage's budget
(``KISA_GRAPH__LONGEST_PATH_TIMEOUT_MS``) would send to the fallback.

    .venv/bin/python benchmarks/graphs_stage.py [--specialty cardiology] [--seeds 100]
"""

from __future__ import annotations

import argparse
import statistics
import time

from kisa_tasks.artefacts import ArtefactStore, Partition
from kisa_tasks.graph import open_graph_store
from kisa_tasks.settings import KisaSettings, load_settings
from kisa_tasks.specialties import WHOLE_CORPUS
from kisa_tasks.stats.stages import SeedPolicy, seeds_table
from kisa_tasks.subgraphs.stage import run_graphs
from kisa_tasks.subgraphs.store_io import graph_id, load_seed_graph, store_longest_path

BENCH_RUN = "bench_graphs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--specialty", default="cardiology")
    parser.add_argument("--seeds", type=int, default=100)
    args = parser.parse_args()
    settings = load_settings()
    store = ArtefactStore.from_settings(settings)
    source = store.committed("entity_stats", args.specialty)
    if not source:
        raise SystemExit(f"no committed run for {args.specialty}: run `make demo` first")
    run = source[-1].run
    seeds = seeds_table(
        store.read(Partition("entity_stats", args.specialty, run)), SeedPolicy(), args.seeds
    )
    for stage, specialty in (
        ("abstracts", WHOLE_CORPUS),
        ("mentions", WHOLE_CORPUS),
        ("entities", args.specialty),
    ):
        table = store.read(Partition(stage, specialty, run))
        store.write(Partition(stage, specialty, BENCH_RUN), [table])
    store.write(Partition("seeds", args.specialty, BENCH_RUN), [seeds])
    print(f"{seeds.num_rows} rare seeds of {args.specialty} (run {run})")
    for label in ("first", "again"):
        start = time.perf_counter()
        result = run_graphs(settings, specialty=args.specialty, run_id=BENCH_RUN)
        took = time.perf_counter() - start
        counts = result["counts"]
        hops = {k: v for k, v in counts.items() if k.startswith("hops_")}
        print(
            f"{label}: {took:.1f} s for {counts['seeds']} seeds: {counts['subgraphs']} sub-graphs, "
            f"{counts.get('skipped_no_evidence', 0)} without evidence, "
            f"{counts['triples']} triples, hops {hops}"
        )
    cypher_latency(settings, [str(s) for s in seeds.column("canonical_id").to_pylist()])


def cypher_latency(settings: KisaSettings, seeds: list[str]) -> None:
    """The longest-path query on each seed graph the stage left in the store."""
    budget = settings.graph.longest_path_timeout_ms
    times, over, sizes = [], 0, []
    with open_graph_store(settings) as store:
        for seed in seeds:
            graph = graph_id(seed)
            relations = len(load_seed_graph(store, graph).edges)
            if not relations:
                continue
            result = store_longest_path(store, graph, seed, timeout_ms=60_000)
            assert result.method == "cypher", result.reason
            times.append(result.cypher_ms)
            sizes.append(relations)
            over += result.cypher_ms > budget
    if not times:
        print("no seed graph in the store")
        return
    times.sort()
    print(
        f"Cypher longest path on {len(times)} seed graphs ({min(sizes)}-{max(sizes)} relations): "
        f"p50 {statistics.median(times):.1f} ms, p95 {times[int(0.95 * (len(times) - 1))]:.1f} ms, "
        f"max {times[-1]:.1f} ms; {over} past the {budget} ms budget"
    )


if __name__ == "__main__":
    main()
