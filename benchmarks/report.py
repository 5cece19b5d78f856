"""Every stage benchmark, one after another in one session, into one report.

Each benchmark measures a stage against its baseline side by side in its
own run (MEDLINE parsing against ``pubmed_parser``, the lexicon against the
NER packages, batched graph writes against one query per row, the Cypher
longest path against networkx, the incremental index against a full build,
QA synthesis and rollouts against their targets, the training steps); this
runs them back to back on the same machine state and writes their output,
with the time each took, to ``benchmarks/results/report.md``. The QA,
trajectory and graphs benchmarks read a committed cardiology run, so the
scaling benchmark (or ``make demo``) goes first.

    .venv/bin/python benchmarks/report.py [--skip NAME ...] [--out PATH]

Starts S3, the graph store and MLflow if they are not running.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from tqdm import tqdm

from kisa_tasks.services import ServiceManager
from kisa_tasks.settings import PROJECT_ROOT, load_settings

HERE = Path(__file__).parent
# (script, arguments): the order matters, the later ones read what
# pipeline_scaling commits.
BENCHMARKS = [
    ("parse_medline", ["--parallel"]),
    ("extract_lexicon", []),
    ("extract_ray", []),
    ("search_index", []),
    ("graph_store", []),
    ("pipeline_scaling", []),
    ("graphs_stage", []),
    ("qa_synthesis", []),
    ("trajectories", []),
    ("training_steps", ["--model", "tiny"]),
]


def run_one(name: str, args: list[str]) -> tuple[int, float, str]:
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(HERE / f"{name}.py"), *args],
        cwd=PROJECT_ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    output = done.stdout if done.returncode == 0 else done.stdout + done.stderr[-4000:]
    return done.returncode, time.monotonic() - start, output.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip", nargs="*", default=[], help="benchmark names to leave out")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "report.md")
    args = parser.parse_args()
    ServiceManager(load_settings()).up(["s3", "graph", "mlflow"])
    chosen = [(n, a) for n, a in BENCHMARKS if n not in args.skip]
    stamp = datetime.now(UTC).isoformat(timespec="minutes")
    sections = [
        f"# Stage benchmarks, {stamp}",
        f"One session on {platform.node()} ({platform.machine()}, "
        f"{_cores()} cores, Python {platform.python_version()}); each section is "
        "one benchmark script's own output.",
    ]
    failed = []
    for name, extra in tqdm(chosen, desc="benchmarks"):
        code, seconds, output = run_one(name, extra)
        verdict = "" if code == 0 else f", FAILED (exit {code})"
        sections.append(f"## {name} ({seconds:.0f} s{verdict})\n\n```\n{output}\n```")
        tqdm.write(f"{name}: {seconds:.0f} s{verdict}")
        if code:
            failed.append(name)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n\n".join(sections) + "\n")
    print(f"report: {args.out}")
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    main()
