"""Lexicon extraction on Ray Data with 1 and 2 workers, against the
single-process path, on the same abstracts in one run.

Input: every usable abstract of both bundled baseline files (the corpus-wide
extraction the pipeline does for rarity, ~30k abstracts). Ray runs in
process (``ray.init(num_cpus=2)``); each worker is an actor that loads the
dictionaries once. Reported: wall time of extraction alone (Ray start-up
excluded, actor start-up included), abstracts/s, the ratio to the
single-process run, and whether the mentions are identical.

    .venv/bin/python benchmarks/extract_ray.py [--limit N] [--batch 1000]
"""

from __future__ import annotations

import argparse
import time

import pyarrow as pa

from kisa_tasks.extract.lexicon import automaton
from kisa_tasks.extract.ray_extract import ray_extract
from kisa_tasks.extract.stage import lexicon_table
from kisa_tasks.ingest.abstracts import latest_citations, partition_citations, to_tables
from kisa_tasks.ingest.corpus import embedded_baseline_files
from kisa_tasks.ingest.stage import read_events


def corpus(limit: int | None) -> pa.Table:
    live, malformed = latest_citations(read_events(embedded_baseline_files()))
    kept = partition_citations(live, malformed, None).kept
    return pa.concat_tables(list(to_tables(kept[:limit] if limit else kept)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    import ray

    abstracts = corpus(args.limit)
    n = abstracts.num_rows
    print(f"{n} abstracts")
    automaton()  # the single-process run loads its dictionaries outside the clock
    start = time.perf_counter()
    expected = lexicon_table(abstracts)
    base = time.perf_counter() - start
    print(f"single process : {base:6.1f} s  {n / base:7.0f} abstracts/s  1.00x")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        for workers in (1, 2):
            start = time.perf_counter()
            got = ray_extract(abstracts, workers, rows_per_batch=args.batch)
            took = time.perf_counter() - start
            print(
                f"ray, {workers} worker{'s' if workers > 1 else ' '}: {took:6.1f} s  "
                f"{n / took:7.0f} abstracts/s  {base / took:.2f}x  "
                f"identical={got.equals(expected)}"
            )
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
