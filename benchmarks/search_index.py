"""Search index builds, side by side in one run: a full build of the embedded
corpus against an incremental one that reuses the tokens of an index over
the same corpus minus its newest abstracts (the case of a daily update file
arriving), and a check that both answer queries identically.

No services needed: the index is built in process from the bundled MEDLINE
files.

    .venv/bin/python benchmarks/search_index.py [--new 1000]
"""

from __future__ import annotations

import argparse
import time

import pyarrow as pa
from tqdm import tqdm

from kisa_tasks.ingest.abstracts import to_tables
from kisa_tasks.ingest.corpus import embedded_baseline_files
from kisa_tasks.ingest.medline import Citation, MedlineReader
from kisa_tasks.retrieval.index import CorpusIndex

QUERIES = (
    "atrial fibrillation anticoagulation",
    "digoxin toxicity",
    "myocardial infarction troponin",
    "rare cardiomyopathy mutation",
    "heart failure diuretic",
)


def corpus() -> pa.Table:
    citations = [
        event
        for path in tqdm(embedded_baseline_files(), desc="parse", unit="file")
        for event in MedlineReader(path)
        if isinstance(event, Citation) and event.abstract
    ]
    return pa.concat_tables(list(to_tables(citations))).sort_by("pmid")


def timed_build(table: pa.Table, previous: pa.Table | None = None) -> tuple[CorpusIndex, float]:
    start = time.perf_counter()
    index = CorpusIndex.build(table, previous_tokens=previous)
    return index, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--new", type=int, default=1000, help="abstracts added by the update")
    args = parser.parse_args()
    table = corpus()
    # The "newest" abstracts: the highest PMIDs (numeric order).
    order = sorted(range(table.num_rows), key=lambda i: int(table.column("pmid")[i].as_py()))
    before = table.take(order[: -args.new])
    previous, _ = timed_build(before)
    full, full_s = timed_build(table)
    incremental, inc_s = timed_build(table, previous.tokens)
    same = all(full.search(q, k=20) == incremental.search(q, k=20) for q in QUERIES)
    print(f"corpus {table.num_rows:,} abstracts, {args.new:,} of them new")
    print(f"  full build         {full_s:6.2f} s")
    print(f"  incremental build  {inc_s:6.2f} s  ({incremental.reused:,} reused)")
    print(f"  full / incremental = {full_s / inc_s:.2f}x; identical results: {same}")


if __name__ == "__main__":
    main()
