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

``--from-corpus SPECIALTY`` draws instead from what an extractor finds in
the whole committed corpus of that specialty's latest run (every abstract,
not only the seeds' graphs), ``--holdout`` and ``--dev`` rows of it spread
over relation types, skipping triples already in ``--exclude``; ``--trusted`` keeps only the
relations the graph holds, ``--fresh N`` draws a new holdout of N rows from
every abstract (each PMID-split holdout was labelled in an earlier round):

    .venv/bin/python benchmarks/triple_sample.py --from-corpus cardiology \\
        --extractor rules --holdout 200 --dev 80 \\
        --exclude tests/fixtures/triples/labelled.jsonl --out /tmp/to_label.jsonl
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from triple_corpus import split_of, triple_id


def _place(row: dict[str, Any], seed: int) -> bytes:
    relation = row.get("relation_type") or row["relation"]
    ident = row.get("id") or triple_id(row["head"], relation, row["tail"], row["pmid"])
    return hashlib.sha256(f"{seed}|{ident}".encode()).digest()


def spread(
    rows: list[dict[str, Any]], n: int, seed: int, key: str = "relation_type"
) -> list[dict[str, Any]]:
    """Up to ``n`` rows, relation types taking turns, each type's rows in a
    seeded order (popped from the end): rare relations are labelled too, not
    only the common ones."""
    by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_type[row[key]].append(row)
    # Each row's place is a seeded hash of its id: a row keeps its place when
    # the extractor changes, so a new version's sample reuses the labels of
    # the rows it still produces.
    for group in by_type.values():
        group.sort(key=lambda r: _place(r, seed), reverse=True)
    chosen: list[dict[str, Any]] = []
    while len(chosen) < n and any(by_type.values()):
        for kind in sorted(by_type):
            if by_type[kind] and len(chosen) < n:
                chosen.append(by_type[kind].pop())
    return chosen


def main() -> None:
    from kisa_tasks.artefacts import ArtefactStore, Partition
    from kisa_tasks.settings import load_settings

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--specialty", nargs="+")
    parser.add_argument("--from-corpus", metavar="SPECIALTY")
    parser.add_argument("--extractor", default="rules")
    parser.add_argument("--holdout", type=int, default=200)
    parser.add_argument("--dev", type=int, default=80)
    parser.add_argument("--exclude", type=Path)
    parser.add_argument(
        "--fresh", type=int, default=0, help="a fresh holdout of N rows from every abstract"
    )
    parser.add_argument(
        "--trusted", action="store_true", help="only relations the graph keeps (confidence floor)"
    )
    parser.add_argument("--per-specialty", type=int, default=80)
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.from_corpus:
        write(args.out, from_corpus(args))
        return
    if not args.specialty:
        parser.error("give --specialty or --from-corpus")

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
                    "id": triple_id(row["head"], row["relation_type"], row["tail"], row["pmid"]),
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
    write(args.out, out)


def from_corpus(args: argparse.Namespace) -> list[dict[str, Any]]:
    from triple_corpus import corpus_rows, load_corpus

    from kisa_tasks.specialties import SPECIALTY_IDS

    labelled: list[dict[str, Any]] = []
    if args.exclude and args.exclude.exists():
        labelled = [json.loads(line) for line in args.exclude.open(encoding="utf-8")]
    # By id and by what the benchmark matches labels on: a relinked id must
    # not bring a labelled triple back.
    excluded = {r["id"] for r in labelled} | {_label_key(r) for r in labelled}
    corpus = load_corpus(args.from_corpus)
    rows = list(corpus_rows(corpus, args.extractor))
    if args.trusted:
        rows = trusted_rows(rows)
    rows = [r for r in rows if r["id"] not in excluded and _label_key(r) not in excluded]
    if args.fresh:
        # Every abstract's holdout-split rows were labelled in earlier rounds:
        # a fresh holdout takes rows no label touched from any abstract,
        # drawn after the last change to the extractor.
        plan = [("holdout", args.fresh, rows)]
    else:
        plan = [
            (split, n, [r for r in rows if r["split"] == split])
            for split, n in (("holdout", args.holdout), ("dev", args.dev))
        ]
    out = []
    for split, n, pool in plan:
        for row in spread(pool, n, args.seed, "relation"):
            known = [s for s in row.pop("specialties") if s in SPECIALTY_IDS]
            out.append(
                row
                | {"split": split, "specialty": known[0] if known else "other", "run": corpus.run}
            )
    print(f"{len(rows)} {args.extractor} triples in the corpus of run {corpus.run}")
    return out


def _label_key(row: dict[str, Any]) -> tuple[str, str, str, str]:
    return (row["pmid"], row["relation"], row["head_name"].lower(), row["tail_name"].lower())


def trusted_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows whose relation reaches the graphs stage's confidence floor,
    every abstract of the corpus stating it counted: what the graph holds."""
    from kisa_tasks.settings import load_settings
    from kisa_tasks.triples.support import confidence

    floor = load_settings().graph.min_confidence
    supports: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for r in rows:
        supports[(r["head"], r["relation"], r["tail"])].append(r["support"])
    return [
        r
        for r in rows
        if confidence(r["relation"], supports[(r["head"], r["relation"], r["tail"])]) >= floor
    ]


def write(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} rows to {path}")


if __name__ == "__main__":
    main()
