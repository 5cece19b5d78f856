"""The search index at 33k, 100k, 300k and 1M abstracts (issue 21).

The corpus is the bundled abstracts replayed with fresh PMIDs (replica r
adds r x 100,000,000), as in ``pipeline_scale.py``: posting lists grow as
in a real corpus, the vocabulary does not. Each size is built in its own
process (wall time, peak RSS via ``wait4``, size on disk), then queried:
200 phrases of 2-3 consecutive title words, k = 10, without a filter, with
the specialty filter (cardiology) and with specialty and years (1975-1980);
p50/p95 over the timed pass after a warm-up pass. Last, an update: 1,000
new abstracts added to the largest index from the previous one.

    .venv/bin/python benchmarks/search_index.py [--sizes 33000 100000 300000 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kisa_tasks.retrieval.index import CorpusIndex, SearchFilters  # noqa: E402

OFFSET = 100_000_000
PART_ROWS = 20_000
FILTERS = {
    "none": None,
    "specialty": SearchFilters(specialty="cardiology"),
    "specialty+years": SearchFilters(specialty="cardiology", year_from=1975, year_to=1980),
}


def base_corpus(cache: Path) -> Path:
    """The bundled usable abstracts as one Parquet file (parsed once)."""
    path = cache / "abstracts-33k.parquet"
    if not path.exists():
        from kisa_tasks.ingest.abstracts import latest_citations, partition_citations, to_tables
        from kisa_tasks.ingest.corpus import embedded_baseline_files
        from kisa_tasks.ingest.stage import read_events

        live, malformed = latest_citations(read_events(embedded_baseline_files()))
        kept = partition_citations(live, malformed, None).kept
        pq.write_table(pa.concat_tables(list(to_tables(kept))), path)
    return path


def replicated(base: pa.Table, size: int) -> list[pa.Table]:
    """``size`` documents in parts: the base, then copies with fresh PMIDs."""
    parts, have, r = [], 0, 0
    while have < size:
        copy = base.set_column(
            0, "pmid", pc.cast(pc.add(pc.cast(base["pmid"], pa.int64()), r * OFFSET), pa.string())
        ).slice(0, size - have)
        parts.extend(copy.slice(i, PART_ROWS) for i in range(0, copy.num_rows, PART_ROWS))
        have, r = have + copy.num_rows, r + 1
    return parts


def build_child(base_path: str, size: int, directory: str, previous: str | None) -> None:
    parts = replicated(pq.read_table(base_path), size)
    start = time.perf_counter()
    index = CorpusIndex.build(parts, Path(directory), previous=Path(previous) if previous else None)
    print(json.dumps({"build_s": round(time.perf_counter() - start, 1), "reused": index.reused,
                      "documents": index.params.documents}))  # fmt: skip


def build(base_path: Path, size: int, directory: Path, previous: Path | None = None) -> dict:
    args = [sys.executable, __file__, "--child", str(base_path), str(size), str(directory)]
    child = subprocess.Popen(args + ([str(previous)] if previous else []), stdout=subprocess.PIPE,
                             text=True)  # fmt: skip
    assert child.stdout is not None
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"build of {size} failed")
    result = json.loads(out.strip().splitlines()[-1])
    disk = sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())
    return result | {"peak_rss_mb": round(usage.ru_maxrss / 1024), "disk_mb": round(disk / 2**20)}


def queries(base: pa.Table, n: int = 200) -> list[str]:
    rng = random.Random(21)  # noqa: S311 - a fixed sample of queries, not a secret
    titles = [t.split() for t in base.column("title").to_pylist() if t and len(t.split()) >= 4]
    out = []
    for words in rng.sample(titles, n):
        width = rng.choice((2, 3))
        start = rng.randrange(len(words) - width + 1)
        out.append(" ".join(words[start : start + width]).strip(".,:;()[]"))
    return out


def latency(index: CorpusIndex, phrases: list[str]) -> dict[str, dict[str, float]]:
    out = {}
    for name, filters in FILTERS.items():
        for q in phrases:  # warm-up
            index.search(q, k=10, filters=filters)
        times = []
        for q in phrases:
            start = time.perf_counter()
            index.search(q, k=10, filters=filters)
            times.append((time.perf_counter() - start) * 1000)
        times.sort()
        out[name] = {"p50_ms": round(statistics.median(times), 2),
                     "p95_ms": round(times[int(0.95 * (len(times) - 1))], 2)}  # fmt: skip
    return out


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        base_path, size, directory, *previous = sys.argv[2:]
        build_child(base_path, int(size), directory, previous[0] if previous else None)
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[33_000, 100_000, 300_000,
                                                                1_000_000])  # fmt: skip
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "search_index"))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kisa-index-bench-"))
    try:
        base_path = base_corpus(work)
        base = pq.read_table(base_path)
        phrases = queries(base)
        rows = []
        for size in args.sizes:
            built = build(base_path, size, work / f"index-{size}")
            index = CorpusIndex.load(work / f"index-{size}")
            row = {"size": size, **built, "latency": latency(index, phrases)}
            print(json.dumps(row), flush=True)
            rows.append(row)
        largest = max(args.sizes)
        update = build(
            base_path, largest + 1000, work / "update", previous=work / f"index-{largest}"
        )
        print(json.dumps({"update": update}), flush=True)
        Path(args.out + ".json").write_text(json.dumps({"rows": rows, "update": update}, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
