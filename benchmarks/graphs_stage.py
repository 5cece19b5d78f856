"""The graphs stage for 100 rare seeds with the ``rules`` backend.

Takes a committed pipeline run of the embedded corpus (the latest one for the
specialty, e.g. after ``make demo``), selects up to 100 rare seeds from its
entity statistics with the platform's seed policy, and times ``run_graphs``
end to end (search index, evidence corpus, expansion, graph-store writes,
Cypher longest paths, sampling, Parquet commits). The search index is built
once per corpus and then reused from S3 or the local cache: the first timing
includes the build only if no run built it before; the second is warm.

    .venv/bin/python benchmarks/graphs_stage.py [--specialty cardiology] [--seeds 100]
"""

from __future__ import annotations

import argparse
import time

from kisa_tasks.artefacts import ArtefactStore, Partition
from kisa_tasks.settings import load_settings
from kisa_tasks.specialties import WHOLE_CORPUS
from kisa_tasks.stats.stages import SeedPolicy, seeds_table
from kisa_tasks.subgraphs.stage import run_graphs

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


if __name__ == "__main__":
    main()
