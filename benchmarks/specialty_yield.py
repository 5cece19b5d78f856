"""Yield per specialty on the bundled corpus (issue 18): for each of the 12
specialties, one pipeline run without training (``kisa demo --specialty S
--no-train``), then from its committed partitions: seeds, seeds with a
graph (a sub-graph committed), graph relations and evidence rows (all in
the triples partition; the graph holds those at the confidence floor),
validated QA items and the seeds they come from, and the items' weakest-hop
confidence. Writes ``benchmarks/results/specialty_yield.md``.

    .venv/bin/python benchmarks/specialty_yield.py            # runs all 12 (about 30 min)
    .venv/bin/python benchmarks/specialty_yield.py --tabulate # latest committed runs only
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "benchmarks" / "results" / "specialty_yield.md"


def run_pipeline(specialty: str) -> float:
    started = time.monotonic()
    subprocess.run(
        [str(ROOT / ".venv" / "bin" / "kisa"), "demo", "--specialty", specialty, "--no-train"],
        check=True,
        stdout=subprocess.DEVNULL,
        cwd=ROOT,
    )
    return time.monotonic() - started


def tabulate(specialty: str) -> dict[str, Any] | None:
    from kisa_tasks.artefacts import ArtefactStore, Partition
    from kisa_tasks.settings import load_settings

    store = ArtefactStore.from_settings(load_settings())
    run = store.latest_run("qa", specialty)
    if run is None:
        return None

    def rows(stage: str) -> list[dict[str, Any]]:
        return store.read(Partition(stage, specialty, run)).to_pylist()

    triples, qa = rows("triples"), rows("qa")
    weakest = [q["min_hop_confidence"] for q in qa if q.get("min_hop_confidence") is not None]
    return {
        "specialty": specialty,
        "run": run,
        "seeds": len(rows("seeds")),
        "graphs": len(rows("subgraphs")),
        "relations": len({(t["head"], t["relation_type"], t["tail"]) for t in triples}),
        "evidence": len(triples),
        "qa": len(qa),
        "qa_seeds": len({q["seed"] for q in qa}),
        "weakest_hop": statistics.median(weakest) if weakest else None,
    }


def main() -> None:
    from kisa_tasks.specialties import SPECIALTY_IDS

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tabulate", action="store_true", help="do not run, read the latest")
    parser.add_argument("--specialty", nargs="*", default=list(SPECIALTY_IDS))
    args = parser.parse_args()
    found = []
    for specialty in args.specialty:
        seconds = None if args.tabulate else run_pipeline(specialty)
        row = tabulate(specialty)
        if row is not None:
            found.append(row | {"seconds": seconds})
            print(row, file=sys.stderr)
    lines = [
        "# Yield per specialty on the bundled corpus",
        "",
        "One `kisa demo --specialty S --no-train` run each (default settings). Made by "
        "`benchmarks/specialty_yield.py`.",
        "",
        "| specialty | seeds | seeds with a graph | relations | evidence rows | QA items "
        "| seeds with QA | median weakest hop | pipeline s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in found:
        weakest = "" if r["weakest_hop"] is None else f"{r['weakest_hop']:.2f}"
        seconds = "" if r["seconds"] is None else f"{r['seconds']:.0f}"
        lines.append(
            f"| {r['specialty']} | {r['seeds']} | {r['graphs']} | {r['relations']} | "
            f"{r['evidence']} | {r['qa']} | {r['qa_seeds']} | {weakest} | {seconds} |"
        )
    RESULT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
