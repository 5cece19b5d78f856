"""Parsing throughput: MedlineReader vs pubmed_parser vs the bare-iterparse floor.

Each contender runs in its own process on one core, on the same file, side by
side in one invocation; peak RSS is that process's. Run:

    .venv/bin/python benchmarks/parse_medline.py            # both bundled files
    .venv/bin/python benchmarks/parse_medline.py --parallel # + both files on 2 cores
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from kisa_tasks.ingest.corpus import embedded_baseline_files


def floor(path: str) -> int:
    """Decompress + iterparse, extracting nothing: the ceiling for any parser."""
    from isal import igzip
    from lxml import etree

    n = 0
    with igzip.open(path, "rb") as stream:  # type: ignore[no-untyped-call]
        for _, elem in etree.iterparse(stream, events=("end",), tag="PubmedArticle"):
            n += 1
            elem.clear(keep_tail=False)
            while elem.getprevious() is not None:
                del elem.getparent()[0]
    return n


def pubmed_parser_baseline(path: str) -> int:
    import pubmed_parser

    return sum(1 for _ in pubmed_parser.parse_medline_xml(path))


def kisa_reader(path: str) -> int:
    from kisa_tasks.ingest.medline import Citation, MedlineReader

    return sum(1 for ev in MedlineReader(path) if isinstance(ev, Citation))


CONTENDERS = {"floor": floor, "pubmed_parser": pubmed_parser_baseline, "kisa": kisa_reader}


def run_one(name: str, path: str) -> dict[str, float]:
    start = time.perf_counter()
    records = CONTENDERS[name](path)
    seconds = time.perf_counter() - start
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"records": records, "seconds": seconds, "peak_rss_mb": rss_mb}


def measure(name: str, path: str) -> dict[str, float]:
    """In a fresh process pinned to one core, so RSS and CPU are its own."""
    cmd = [sys.executable, __file__, "--one", name, path]
    if hasattr(os, "sched_setaffinity"):
        cmd = ["taskset", "-c", "0", *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--one", nargs=2, metavar=("CONTENDER", "PATH"))
    parser.add_argument("--parallel", action="store_true")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(*args.one)))
        return
    for path in embedded_baseline_files():
        size = Path(path).stat().st_size / 1e6
        print(f"\n{Path(path).name} ({size:.0f} MB gz)")
        rows = {name: measure(name, str(path)) for name in CONTENDERS}
        for name, r in rows.items():
            rate = r["records"] / r["seconds"]
            print(
                f"  {name:14} {r['records']:6.0f} rec  {r['seconds']:6.2f} s  "
                f"{rate:7.0f} rec/s  peak {r['peak_rss_mb']:5.0f} MB"
            )
        kisa = rows["kisa"]["records"] / rows["kisa"]["seconds"]
        print(
            f"  kisa / pubmed_parser = "
            f"{kisa / (rows['pubmed_parser']['records'] / rows['pubmed_parser']['seconds']):.2f}x"
            f"   kisa / floor = {kisa / (rows['floor']['records'] / rows['floor']['seconds']):.0%}"
        )
    if args.parallel:
        files = [str(p) for p in embedded_baseline_files()]
        start = time.perf_counter()
        procs = [
            subprocess.Popen(
                [sys.executable, __file__, "--one", "kisa", f], stdout=subprocess.PIPE, text=True
            )
            for f in files
        ]
        total = sum(json.loads(p.communicate()[0].strip())["records"] for p in procs)
        seconds = time.perf_counter() - start
        print(
            f"\nboth files, 2 processes: {total} rec in {seconds:.1f} s "
            f"= {total / seconds:.0f} rec/s"
        )


if __name__ == "__main__":
    main()
