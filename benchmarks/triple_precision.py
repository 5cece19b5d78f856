"""Triple precision on the labelled set (issue 18): each labelled triple
(head, relation, tail, PMID, evidence sentence) was judged against its
sentence, correct or not and why, before any extractor was tuned.

Reports, per extractor and split (``dev`` may be tuned on, ``holdout``
never), precision overall, per relation type and per specialty, with a 95%
Wilson interval, and the reasons the wrong ones are wrong. Writes
``benchmarks/results/triple_precision.md``.

    .venv/bin/python benchmarks/triple_precision.py

Today's labelled rows are the output of the ``rules`` extractor at the
start of issue 18 (sampled by ``benchmarks/triple_sample.py``): its
precision is the baseline a new extractor is measured beside, on the same
sentences, once its triples there are labelled too.
"""

from __future__ import annotations

import argparse
import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LABELLED = ROOT / "tests" / "fixtures" / "triples" / "labelled.jsonl"
RESULT = ROOT / "benchmarks" / "results" / "triple_precision.md"


def wilson(right: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% interval of a proportion; honest for small n."""
    if n == 0:
        return 0.0, 0.0
    p = right / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def table(title: str, groups: dict[str, list[bool]]) -> list[str]:
    lines = [
        "",
        f"### {title}",
        "",
        "| group | n | precision | 95% interval |",
        "|---|---:|---:|---|",
    ]
    for name in sorted(groups, key=lambda g: (g == "all", g)):
        flags = groups[name]
        low, high = wilson(sum(flags), len(flags))
        label = f"**{name}**" if name == "all" else name
        lines.append(
            f"| {label} | {len(flags)} | {sum(flags) / len(flags):.3f} | {low:.2f}-{high:.2f} |"
        )
    return lines


def report(rows: Iterable[dict[str, Any]]) -> str:
    rows = list(rows)
    lines = [
        "# Triple precision on the labelled set",
        "",
        f"`{LABELLED.relative_to(ROOT)}`: {len(rows)} triples labelled against their "
        "evidence sentence before any tuning. Made by `benchmarks/triple_precision.py`.",
    ]
    for extractor in sorted({r["extractor"] for r in rows}):
        for split in ("dev", "holdout", "all"):
            chosen = [
                r for r in rows if r["extractor"] == extractor and split in ("all", r["split"])
            ]
            if not chosen:
                continue
            lines += ["", f"## {extractor}, {split}"]
            by_relation: dict[str, list[bool]] = defaultdict(list)
            by_specialty: dict[str, list[bool]] = defaultdict(list)
            for r in chosen:
                for groups, key in ((by_relation, r["relation"]), (by_specialty, r["specialty"])):
                    groups[key].append(bool(r["correct"]))
                    groups["all"].append(bool(r["correct"]))
            lines += table("per relation type", by_relation)
            lines += table("per specialty", by_specialty)
        why = Counter(r["error"] for r in rows if r["extractor"] == extractor and not r["correct"])
        lines += ["", f"## {extractor}: why the wrong ones are wrong", ""]
        lines += [f"- {kind}: {n}" for kind, n in why.most_common()]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--labelled", type=Path, default=LABELLED)
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args()
    with args.labelled.open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    text = report(rows)
    args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
