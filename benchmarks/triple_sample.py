"""Draw the triples to label for the precision benchmark (issue 18), before
anything is tuned: from the ``triples/`` partition of the latest committed
run of each given specialty, up to ``--per-specialty`` evidence rows,
spread over relation types (round robin in a seeded order), one row per
(head, relation, tail, pmid). Each row gets a split by a hash of its PMID:
``holdout`` (a third: never looked at while tuning) or ``dev``.

    .venv/bin/python benchmarks/triple_sample.py --specialty cardiology oncology \\
        neurology infectious_diseases --per-specialty 80 \\
        --out tests/fixtures/triples/to_label.jsonl

Needs the embedded services and a committed run per specialty
(``kisa demo --specialty S --no-train``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
from collections import defaultdict
from pathlib import Path
from typing import Any


def split_of(pmid: str) -> str:
    digest = hashlib.sha256(f"triples|{pmid}".encode()).digest()
    return "holdout" if digest[0] < 86 else "dev"  # about a third


def spread(rows: list[dict[str, Any]], n: int, seed: int) -> list[dict[str, Any]]:
    """Up to ``n`` rows, relation types taking turns, each type's rows in a
    seeded order: rare relations are labelled too, not only the common ones."""
    by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_type[row["relation_type"]].append(row)
    rng = random.Random(seed)  # noqa: S311 - a reproducible sample, not a secret
    for group in by_type.values():
        rng.shuffle(group)
    chosen: list[dict[str, Any]] = []
    while len(chosen) < n and any(by_type.values()):
        for kind in sorted(by_type):
            if by_type[kind] and len(chosen) < n:
                chosen.append(by_type[kind].pop())
    return chosen


def main() -> None:
    import kisa_tasks.subgraphs.stage  # noqa: F401 - registers the triples schema
    from kisa_tasks.artefacts import ArtefactStore, Partition
    from kisa_tasks.settings import load_settings

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--specialty", nargs="+", required=True)
    parser.add_argument("--per-specialty", type=int, default=80)
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    store = ArtefactStore.from_settings(load_settings())
    out = []
    for specialty in args.specialty:
        run = store.latest_run("triples", specialty)
        if run is None:
            raise SystemExit(f"no committed triples for {specialty}: run kisa demo for it first")
        seen: set[tuple[str, str, str, str]] = set()
        rows = []
        for row in store.read(Partition("triples", specialty, run)).to_pylist():
            key = (row["head"], row["relation_type"], row["tail"], row["pmid"])
            if key not in seen:
                seen.add(key)
                rows.append(row)
        for row in spread(rows, args.per_specialty, args.seed):
            out.append(
                {
                    "id": hashlib.sha256("|".join(
                        (row["head"], row["relation_type"], row["tail"], row["pmid"])
                    ).encode()).hexdigest()[:12],
                    "specialty": specialty,
                    "run": run,
                    "pmid": row["pmid"],
                    "head": row["head"],
                    "head_name": row["head_name"],
                    "relation": row["relation_type"],
                    "tail": row["tail"],
                    "tail_name": row["tail_name"],
                    "sentence": row["sentence"],
                    "extractor": row["extractor"],
                    "split": split_of(row["pmid"]),
                }
            )  # fmt: skip
        print(f"{specialty}: {len(rows)} distinct triples in run {run}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as fh:
        for row in out:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(out)} rows to {args.out}")


if __name__ == "__main__":
    main()
