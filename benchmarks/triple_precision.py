"""Triple precision on the labelled set (issue 18): each labelled triple
(head, relation, tail, PMID, evidence sentence) was judged against its
sentence, correct or not and why.

Three extractors are labelled in ``tests/fixtures/triples/labelled.jsonl``:
``cue_window`` (the extractor before issue 18, sampled from four
specialties' graphs), ``rules-r1`` (the first cut of today's, before
dictionary ids were checked against MEDLINE's indexing) and ``rules``
(today's), the last two sampled from the whole corpus, spread over relation
types. A PMID hash splits every sample: ``dev`` may be tuned on, ``holdout``
never. Holdout rows once read while tuning are ``seen``: tuned on, like dev,
and each round's holdout is a fresh sample from abstracts no label touched
(``triple_sample.py --new-pmids``).

Reports, per extractor and split, precision per relation type, per support
and per specialty with a 95% Wilson interval, the overall precision
weighted by how often each relation type occurs in the extractor's output
(the sample spreads over types, the output does not), the yield per
relation type of both extractors on one corpus, and why the wrong ones are
wrong. Writes ``benchmarks/results/triple_precision.md``.

    .venv/bin/python benchmarks/triple_precision.py             # labels only
    .venv/bin/python benchmarks/triple_precision.py --corpus cardiology
    .venv/bin/python benchmarks/triple_precision.py --calibrate   # support.py's tables

``--corpus`` (needs the embedded services and a committed run) runs both
extractors over the run's whole corpus, counts their yield and stores it
beside the labels (``yield.json``), and reports precision of the labelled
``rules`` rows today's code still produces.
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
# Earlier rows re-labelled with the strict guide (``LABELLING.md``).
AGREEMENT = ROOT / "tests" / "fixtures" / "triples" / "agreement.jsonl"
RESULT = ROOT / "benchmarks" / "results" / "triple_precision.md"
# dev: tuned on; seen: held out once, then read while tuning (so tuned on);
# holdout: labelled after the last change, never read while tuning.
SPLITS = ("dev", "seen", "holdout")


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


YIELD = LABELLED.parent / "measured.json"
EXTRACTORS = ("cue_window", "rules-r1", "rules-r2", "rules", "rules, trusted")


def weighted(flags: dict[str, list[bool]], yields: dict[str, int]) -> str:
    """Precision of the whole output: each relation type's precision weighted
    by its share of the output, over the types with labels, and that share
    (a sample need not cover every type: the fresh holdout holds the two
    types whose triples were not all labelled before)."""
    total = sum(yields.values())
    covered = {t: n for t, n in yields.items() if flags.get(t)}
    if not total or not covered:
        return ""
    share = sum(covered.values())
    precision = sum(n / share * sum(flags[t]) / len(flags[t]) for t, n in covered.items())
    return f"{precision:.3f}" + ("" if share == total else f" ({share / total:.0%} of output)")


def report(rows: Iterable[dict[str, Any]], measured: dict[str, Any]) -> str:
    rows = list(rows)
    labelled = len(rows)
    yields: dict[str, dict[str, int]] = measured.get("yield", {})
    scores: dict[str, float] = measured.get("confidence", {})
    floor = measured.get("floor")
    if scores:  # labelled rows today's code no longer produces are not its output
        rows = [r for r in rows if r["extractor"] != "rules" or r["id"] in scores]
        rows += [
            r | {"extractor": "rules, trusted"}
            for r in rows
            if r["extractor"] == "rules" and scores[r["id"]] >= (floor or 0.0)
        ]
    lines = [
        "# Triple precision on the labelled set",
        "",
        f"`{LABELLED.relative_to(ROOT)}`: {labelled} triples labelled against their "
        "evidence sentence. Made by `benchmarks/triple_precision.py`. `rules, trusted`: the "
        f"labelled `rules` rows whose relation reaches the graph's floor ({floor}) in run "
        f"`{measured.get('run')}`.",
        "",
        "## Summary",
        "",
        "| extractor | split | n | precision | 95% interval | weighted by yield |",
        "|---|---|---:|---:|---|---:|",
    ]
    for extractor in EXTRACTORS:
        for split in SPLITS:
            chosen = [r for r in rows if r["extractor"] == extractor and r["split"] == split]
            if not chosen:
                continue
            flags = [bool(r["correct"]) for r in chosen]
            low, high = wilson(sum(flags), len(flags))
            by_type: dict[str, list[bool]] = defaultdict(list)
            for r in chosen:
                by_type[r["relation"]].append(bool(r["correct"]))
            base = "rules" if extractor.startswith("rules-r") else extractor
            share = weighted(by_type, yields.get(base, {}))
            lines.append(
                f"| {extractor} | {split} | {len(flags)} | {sum(flags) / len(flags):.3f} | "
                f"{low:.2f}-{high:.2f} | {share} |"
            )
    if yields:
        lines += [
            "",
            "## Yield on one corpus (triples per relation type, distinct per abstract)",
            "",
            "| relation type | " + " | ".join(yields) + " |",
            "|---|" + "---:|" * len(yields),
        ]
        types = sorted({t for y in yields.values() for t in y})
        for t in [*types, "all"]:
            cells = [str(sum(y.values()) if t == "all" else y.get(t, 0)) for y in yields.values()]
            lines.append(f"| {t} | " + " | ".join(cells) + " |")
    for extractor in EXTRACTORS:
        for split in SPLITS:
            chosen = [r for r in rows if r["extractor"] == extractor and r["split"] == split]
            if not chosen:
                continue
            lines += ["", f"## {extractor}, {split}"]
            groups: dict[str, dict[str, list[bool]]] = {
                "relation type": defaultdict(list),
                "support": defaultdict(list),
                "specialty": defaultdict(list),
            }
            for r in chosen:
                keys = {
                    "relation type": r["relation"],
                    "support": r.get("support", "sentence"),
                    "specialty": r["specialty"],
                }
                for title, key in keys.items():
                    groups[title][key].append(bool(r["correct"]))
                    groups[title]["all"].append(bool(r["correct"]))
            for title, by in groups.items():
                lines += table(f"per {title}", by)
        why = Counter(r["error"] for r in rows if r["extractor"] == extractor and not r["correct"])
        if why:
            lines += ["", f"## {extractor}: why the wrong ones are wrong", ""]
            lines += [f"- {kind}: {n}" for kind, n in why.most_common()]
    lines += agreement(rows, scores, floor)
    return "\n".join(lines) + "\n"


def agreement(
    rows: list[dict[str, Any]], scores: dict[str, float], floor: float | None
) -> list[str]:
    """How the earlier guide's labels compare with the strict guide's on the
    same rows (``AGREEMENT``): the strict one rejects a broader concept than
    the text names, which the earlier one accepted."""
    if not AGREEMENT.exists():
        return []
    strict = {
        r["id"]: r for r in map(json.loads, AGREEMENT.read_text(encoding="utf-8").splitlines()) if r
    }
    earlier = {r["id"]: r for r in rows if r["id"] in strict and r.get("guide") != "strict"}
    lines = [
        "",
        "## Agreement of the two labelling guides",
        "",
        f"{len(earlier)} earlier `rules` rows (dev and seen, a hash sample) re-labelled with "
        "the strict guide (`tests/fixtures/triples/LABELLING.md`).",
        "",
        "| rows | n | earlier guide | strict guide | both agree |",
        "|---|---:|---:|---:|---:|",
    ]
    trusted = {i for i in earlier if scores.get(i, 0.0) >= (floor or 0.0)}
    for title, ids in (("all", set(earlier)), ("trusted", trusted)):
        if not ids:
            continue
        old = sum(bool(earlier[i]["correct"]) for i in ids)
        new = sum(bool(strict[i]["correct"]) for i in ids)
        same = sum(bool(earlier[i]["correct"]) == bool(strict[i]["correct"]) for i in ids)
        n = len(ids)
        lines.append(f"| {title} | {n} | {old / n:.3f} | {new / n:.3f} | {same / n:.3f} |")
    why = Counter(strict[i]["error"] for i in earlier if not strict[i]["correct"])
    why_text = ", ".join(f"{k} {v}" for k, v in why.most_common())
    lines += ["", f"Rejected by the strict guide: {why_text}."]
    return lines


def measure_corpus(specialty: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Yield of both extractors on the corpus of ``specialty``'s latest run,
    all and trusted (a relation's confidence from every abstract stating it
    at the graphs stage's floor), and the confidence of each labelled
    ``rules`` row's relation; rows today's code no longer produces get none."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from triple_corpus import EXTRACTORS as RUNNERS
    from triple_corpus import corpus_rows, load_corpus

    from kisa_tasks.settings import load_settings
    from kisa_tasks.triples.support import confidence

    floor = load_settings().graph.min_confidence
    corpus = load_corpus(specialty)
    out: dict[str, Any] = {"run": corpus.run, "floor": floor, "yield": {}, "confidence": {}}
    for name in RUNNERS:
        found = list(corpus_rows(corpus, name))
        out["yield"][name] = dict(Counter(r["relation"] for r in found))
        if name != "rules":
            continue
        supports: dict[tuple[str, str, str], list[str]] = defaultdict(list)
        for r in found:
            supports[(r["head"], r["relation"], r["tail"])].append(r["support"])
        scored = {
            _key(r): confidence(r["relation"], supports[(r["head"], r["relation"], r["tail"])])
            for r in found
        }
        trusted = [r for r in found if scored[_key(r)] >= floor]
        out["yield"]["rules, trusted"] = dict(Counter(r["relation"] for r in trusted))
        out["confidence"] = {
            r["id"]: scored[_key(r)]
            for r in rows
            if r["extractor"] == "rules" and _key(r) in scored
        }
    stale = sum(1 for r in rows if r["extractor"] == "rules" and r["id"] not in out["confidence"])
    print(f"corpus of run {corpus.run}: {stale} labelled rules rows no longer produced")
    return out


def calibrate(rows: list[dict[str, Any]], produced: set[str] | None = None) -> str:
    """``kisa_tasks.triples.support``'s tables from the dev and seen labels of today's
    extractor (only rows it still produces, when ``produced`` is known): per
    support, and per (relation type, support) with a uniform prior
    (``(right + 1) / (n + 2)``), which keeps a type with few labels from
    borrowing the others' precision."""
    dev = [
        r
        for r in rows
        if r["extractor"] == "rules"
        and r["split"] in ("dev", "seen")
        and (produced is None or r["id"] in produced)
    ]
    by_support: dict[str, list[bool]] = defaultdict(list)
    by_pair: dict[tuple[str, str], list[bool]] = defaultdict(list)
    for r in dev:
        if r["support"] in ("sentence", "mesh"):
            by_support[r["support"]].append(bool(r["correct"]))
            by_pair[(r["relation"], r["support"])].append(bool(r["correct"]))
    base = {s: (sum(v) + 1) / (len(v) + 2) for s, v in sorted(by_support.items())}
    lines = [f"SUPPORT_PRECISION = {{{', '.join(f'{s!r}: {p:.2f}' for s, p in base.items())}}}"]
    lines.append("PRECISION: dict[tuple[str, str], float] = {")
    for (relation, support), flags in sorted(by_pair.items()):
        p = (sum(flags) + 1) / (len(flags) + 2)
        lines.append(f"    ({relation!r}, {support!r}): {p:.2f},  # {sum(flags)}/{len(flags)}")
    return "\n".join([*lines, "}"])


def _key(row: dict[str, Any]) -> tuple[str, str, str, str]:
    return (row["pmid"], row["relation"], row["head_name"].lower(), row["tail_name"].lower())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--labelled", type=Path, default=LABELLED)
    parser.add_argument("--out", type=Path, default=RESULT)
    parser.add_argument("--corpus", metavar="SPECIALTY")
    parser.add_argument("--calibrate", action="store_true", help="print support.py's tables")
    args = parser.parse_args()
    with args.labelled.open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    if args.corpus:
        measured = measure_corpus(args.corpus, rows)
        YIELD.write_text(json.dumps(measured, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    measured = json.loads(YIELD.read_text(encoding="utf-8")) if YIELD.exists() else {}
    if args.calibrate:
        print(calibrate(rows, set(measured.get("confidence", {})) or None))
        return
    text = report(rows, measured)
    args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
