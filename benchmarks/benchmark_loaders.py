"""Benchmark-file loading time, on synthetic files of the published sizes and
encodings (no benchmark data is needed or read):

- MedBrowseComp ``final50_cell_combo_shift3_b64.csv`` (50 rows) and
  ``final121_cell_combo_shift3_b64.csv`` (605 rows): every cell, the header
  row included, shifted by 3 code points then base64; columns prompt, gold,
  task_name; the trailing blank line MedBrowseComp's encoder writes.
- xbench-DeepSearch ``DeepSearch.csv`` (100 rows): id, prompt, answer,
  reference_steps, canary; prompt, answer and reference_steps XOR-ed with the
  row's canary, then base64.

Each file is loaded with the kind inferred (``load_benchmark(path)``), the
way kisa_evaluate loads it; the best and median of ``--repeats`` loads are
printed with the rows loaded. Measured, not asserted.

    .venv/bin/python benchmarks/benchmark_loaders.py [--repeats 20] [--json out.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

from kisa_tasks.evaluation.benchmarks import (
    encode_medbrowsecomp,
    encode_xbench,
    infer_kind,
    load_benchmark,
)

CANARY = (
    "SYNTHETIC DATA, NOT A BENCHMARK. canary GUID kisa-bench:5d1e0c7a-2f44-4c1b-8e0d-9a3b6f2c1e77"
)
WORDS_EN = (
    "trial drug dose patient cohort primary outcome randomised placebo inhibitor "
    "kinase receptor approval label patent sponsor author enrolment arm phase"
).split()
WORDS_ZH = list("研究药物剂量患者队列主要结局随机安慰剂抑制剂激酶受体批准标签专利作者阶段")


def _sentence(rng: random.Random, words: list[str], n: int, sep: str) -> str:
    return sep.join(rng.choice(words) for _ in range(n))


def write_medbrowsecomp(path: Path, rows: int, rng: random.Random) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([encode_medbrowsecomp(h) for h in ("prompt", "gold", "task_name")])
        for n in range(rows):
            prompt = (
                f"For clinical trial NCT{rng.randrange(10**8):08d}, "
                + _sentence(rng, WORDS_EN, rng.randint(40, 90), " ")
                + "? Return only the name in format of NAME: name."
            )
            gold = _sentence(rng, WORDS_EN, rng.randint(1, 3), " ").upper()
            writer.writerow([encode_medbrowsecomp(c) for c in (prompt, gold, f"task_{n % 5}")])
        f.write("\n")  # as MedBrowseComp's encode_csv_cells_combo does
    return path


def write_xbench(path: Path, rows: int, rng: random.Random) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "prompt", "answer", "reference_steps", "canary"])
        for n in range(1, rows + 1):
            prompt = _sentence(rng, WORDS_ZH, rng.randint(40, 160), "") + "\uff1f"
            answer = _sentence(rng, WORDS_ZH, rng.randint(2, 12), "")
            steps = _sentence(rng, WORDS_ZH, rng.randint(150, 600), "")
            writer.writerow(
                [
                    str(n),
                    encode_xbench(prompt, CANARY),
                    encode_xbench(answer, CANARY),
                    encode_xbench(steps, CANARY),
                    CANARY,
                ]
            )
    return path


def measure(path: Path, repeats: int) -> dict[str, object]:
    times = []
    loaded = 0
    for _ in range(repeats):
        start = time.perf_counter()
        loaded = len(load_benchmark(path))
        times.append(time.perf_counter() - start)
    return {
        "file": path.name,
        "kind": infer_kind(path),
        "bytes": path.stat().st_size,
        "rows_loaded": loaded,
        "best_s": round(min(times), 5),
        "median_s": round(statistics.median(times), 5),
        "rows_per_s": round(loaded / statistics.median(times)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    rng = random.Random(0)  # noqa: S311 - reproducible synthetic files
    with tempfile.TemporaryDirectory(prefix="kisa-bench-loaders-") as tmp:
        folder = Path(tmp)
        files = [
            write_medbrowsecomp(folder / "final50_cell_combo_shift3_b64.csv", 50, rng),
            write_medbrowsecomp(folder / "final121_cell_combo_shift3_b64.csv", 605, rng),
            write_xbench(folder / "DeepSearch.csv", 100, rng),
        ]
        results = [measure(path, args.repeats) for path in files]
    print(f"{'file':40} {'kind':14} {'rows':>5} {'best s':>9} {'median s':>9} {'rows/s':>8}")
    for r in results:
        print(
            f"{r['file']!s:40} {r['kind']!s:14} {r['rows_loaded']!s:>5} "
            f"{r['best_s']!s:>9} {r['median_s']!s:>9} {r['rows_per_s']!s:>8}"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
