"""How the corpus-sized stages grow, up to a million abstracts (issue 21).

The corpus is synthetic: the two bundled MEDLINE files replayed R times with
fresh PMIDs (replica r adds r x 100,000,000 to every PMID), gzipped like the
baseline. Cost is meaningful on replicas, rarity is not: every entity occurs
R times as often, so the seed policy's absolute bound is scaled by R to pick
the same kind of entities, and the graph stage is timed for at most 50 seeds.

Each stage runs in its own process (``--stage``), as an Airflow task would,
on the services of ``kisa services up s3 graph``; the parent records its wall
time and peak RSS (``wait4``: the largest of the stage process and the worker
processes it started, so "per process"). Staged files and search indexes are
keyed by content; staged files are deleted before each ingest (cold), and
every size gets its own file names and index.

    .venv/bin/python benchmarks/pipeline_scale.py --replicas 1 3 10 33
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kisa_tasks.settings import load_settings  # noqa: E402

SPECIALTY = "cardiology"
STAGES = ("ingest", "extract", "canonicalise", "stats", "seeds", "index", "graphs")
PMID = re.compile(rb'(<PMID Version="\d+">)(\d+)(</PMID>)')
OFFSET = 100_000_000
RESULTS = ROOT / "benchmarks" / "results"


def replica(source: Path, r: int, out: Path) -> Path:
    """``source`` with every PMID moved by ``r`` x OFFSET, gzipped (level 1)."""
    if out.exists():
        return out
    data = gzip.decompress(source.read_bytes())
    if r:
        data = PMID.sub(lambda m: m[1] + str(int(m[2]) + r * OFFSET).encode() + m[3], data)
    tmp = out.with_suffix(".part")
    tmp.write_bytes(gzip.compress(data, compresslevel=1))
    tmp.rename(out)
    return out


def corpus_dir(cache: Path, replicas: int) -> Path:
    """A directory of ``replicas`` copies of both bundled files, under names
    of its own (so staging for one size is never reused by another)."""
    from kisa_tasks.ingest.corpus import embedded_baseline_files

    sources = embedded_baseline_files()
    jobs = [(s, r, cache / f"{s.name.removesuffix('.xml.gz')}-r{r:02d}.xml.gz")
            for r in range(replicas) for s in sources]  # fmt: skip
    cache.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(replica, *zip(*jobs, strict=True)))
    out = cache / f"size-{replicas:02d}"
    out.mkdir(exist_ok=True)
    for _, _, path in jobs:
        link = out / f"s{replicas:02d}-{path.name}"
        if not link.exists():
            link.symlink_to(path)
    return out


def run_stage(stage: str, replicas: int, run: str, corpus: str) -> dict[str, Any]:
    """One stage in this process; its result (counts) as a dict."""
    from kisa_tasks.artefacts import ArtefactStore, Partition

    settings = load_settings()
    if stage == "ingest":
        from kisa_tasks.ingest.stage import run_ingest

        return run_ingest(settings, specialty=SPECIALTY, run_id=run, max_abstracts=None,
                          corpus=corpus)  # fmt: skip
    if stage == "extract":
        from kisa_tasks.extract.stage import run_extract

        return run_extract(settings, specialty=SPECIALTY, run_id=run)
    if stage == "canonicalise":
        from kisa_tasks.stats.stages import run_canonicalise

        return run_canonicalise(settings, specialty=SPECIALTY, run_id=run)
    if stage == "stats":
        from kisa_tasks.stats.stages import run_stats

        return run_stats(settings, specialty=SPECIALTY, run_id=run)
    if stage == "seeds":
        from kisa_tasks.stats.stages import SeedPolicy, run_seeds

        policy = SeedPolicy(max_doc_freq=SeedPolicy().max_doc_freq * replicas)
        return run_seeds(settings, specialty=SPECIALTY, run_id=run, max_seeds=50, policy=policy)
    if stage == "index":
        from kisa_tasks.retrieval.store import ensure_index

        store = ArtefactStore.from_settings(settings)
        loaded = ensure_index(store, Partition("abstracts", "all", run),
                              settings.home / "index-cache")  # fmt: skip
        return {"counts": {"documents": loaded.index.params.documents}, "origin": loaded.origin}
    if stage == "graphs":
        from kisa_tasks.subgraphs.stage import run_graphs

        return run_graphs(settings, specialty=SPECIALTY, run_id=run)
    raise SystemExit(f"unknown stage {stage!r}")


def measure(stage: str, replicas: int, run: str, corpus: str) -> dict[str, Any]:
    """Run a stage in a child process: wall time, peak RSS, its result."""
    start = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, __file__, "--stage", stage, "--replicas", str(replicas),
         "--run", run, "--corpus", corpus],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert child.stdout is not None
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    lines = [line for line in output.splitlines() if line.startswith("{")]
    result = json.loads(lines[-1]) if lines else {}
    return {
        "stage": stage,
        "ok": child.returncode == 0,
        "wall_s": round(wall, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
        "counts": result.get("counts", {}),
    }


def growth(rows: list[dict[str, Any]]) -> dict[str, list[float | None]]:
    """Per stage, the exponent k of time ~ n^k between consecutive sizes."""
    out: dict[str, list[float | None]] = {}
    for stage in STAGES:
        ks: list[float | None] = []
        for small, big in itertools.pairwise(rows):
            a, b = small["stages"].get(stage), big["stages"].get(stage)
            if not (a and b and a["ok"] and b["ok"]):
                ks.append(None)
                continue
            ratio = big["abstracts"] / small["abstracts"]
            ks.append(round(math.log(b["wall_s"] / a["wall_s"]) / math.log(ratio), 2))
        out[stage] = ks
    return out


def markdown(rows: list[dict[str, Any]], exponents: dict[str, list[float | None]]) -> str:
    sizes = [f"{r['abstracts']:,}" for r in rows]
    lines = [
        "| stage | " + " | ".join(f"{s} abstracts: s / peak MB" for s in sizes)
        + " | growth exponent |",
        "|---" * (len(rows) + 2) + "|",
    ]  # fmt: skip
    for stage in STAGES:
        cells = []
        for r in rows:
            m = r["stages"].get(stage)
            if m is None:
                cells.append("")
            else:
                cells.append(f"{m['wall_s']} / {m['peak_rss_mb']}" if m["ok"] else "failed")
        ks = ", ".join("-" if k is None else f"{k}" for k in exponents[stage])
        lines.append(f"| {stage} | " + " | ".join(cells) + f" | {ks} |")
    through = [sum(m["wall_s"] for s, m in r["stages"].items() if s != "graphs") for r in rows]
    lines.append("| **ingest through index** | " + " | ".join(f"**{t:.0f} s**" for t in through)
                 + " | |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 3, 10, 33])
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    parser.add_argument("--run", help=argparse.SUPPRESS)
    parser.add_argument("--corpus", help=argparse.SUPPRESS)
    parser.add_argument("--stages", nargs="+", default=list(STAGES))
    parser.add_argument("--again", action="store_true",
                        help="measure --stages again on the runs of the last report")  # fmt: skip
    parser.add_argument("--out", default=str(RESULTS / "pipeline_scale"))
    parser.add_argument("--cache", help="where the replicas are kept (KISA_HOME/bench-corpus)")
    args = parser.parse_args()
    if args.stage:
        import logging

        logging.basicConfig(level=logging.INFO, stream=sys.stderr)
        print(json.dumps(run_stage(args.stage, args.replicas[0], args.run, args.corpus),
                         default=str))  # fmt: skip
        return
    settings = load_settings()
    cache = Path(args.cache) if args.cache else settings.home / "bench-corpus"
    rows: list[dict[str, Any]] = []
    # --again: measure some stages again on the runs of the last report
    # (after a change to them), keeping the other stages' numbers.
    earlier = {r["replicas"]: r for r in json.loads(Path(args.out + ".json").read_text())["rows"]
               } if args.again else {}  # fmt: skip
    for replicas in args.replicas:
        corpus = corpus_dir(cache, replicas)
        run = f"scale-{replicas:02d}-{int(time.time())}"
        row: dict[str, Any] = earlier.get(replicas) or {"replicas": replicas, "run": run,
                                                        "stages": {}}  # fmt: skip
        run = row["run"]
        for stage in args.stages:
            if stage == "ingest":  # cold: no file staged by an earlier run
                from kisa_tasks.artefacts import ArtefactStore
                from kisa_tasks.ingest.files import STAGING_PREFIX

                ArtefactStore.from_settings(settings).delete_prefix(STAGING_PREFIX)
            if stage == "seeds":  # cold: the memory-mapped text is written here
                shutil.rmtree(settings.home / "evidence-cache", ignore_errors=True)
            m = measure(stage, replicas, run, str(corpus))
            row["stages"][stage] = m
            print(f"x{replicas} {stage}: {m['wall_s']} s, {m['peak_rss_mb']} MB, ok={m['ok']}, "
                  f"{json.dumps(m['counts'])[:300]}", flush=True)  # fmt: skip
            if not m["ok"]:
                break
        row["abstracts"] = row["stages"]["ingest"]["counts"].get("corpus_kept", 0)
        rows.append(row)
        exponents = growth(rows)
        Path(args.out + ".json").write_text(json.dumps({"rows": rows, "growth": exponents},
                                                       indent=2))  # fmt: skip
        Path(args.out + ".md").write_text(markdown(rows, exponents))
    print(markdown(rows, growth(rows)))


if __name__ == "__main__":
    main()
