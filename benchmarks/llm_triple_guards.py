"""What the ``llm`` triple extractor's guards (issue 22) do to a model that
believes everything: every labelled triple of ``tests/fixtures/triples/
labelled.jsonl`` is replayed as if a model had answered it, its labelled
sentence quoted as the evidence and the sentence's first word of the
relation type as the relation, through ``llm_triples.ground_triples``.

Reports, per labelled extractor and split, how many claims the guards keep,
the precision of what they keep against the precision of all the claims
(what an unguarded model would commit), and why the labelled-wrong claims
were refused or not. The ``rules`` rows were made by an extractor that shares
the guards' sentence checks, so they are kept by construction; the
``cue_window`` rows (the naive extractor before issue 18: any cue word
between two entities) are the test of a gullible model. ``holdout`` rows were
never tuned on. Writes ``benchmarks/results/llm_triple_guards.md``.

    .venv/bin/kisa services up   # a committed run of the embedded corpus: make demo
    .venv/bin/python benchmarks/llm_triple_guards.py
"""

from __future__ import annotations

import json
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from triple_corpus import load_corpus
from triple_precision import LABELLED, wilson

RESULT = Path(__file__).resolve().parent / "results" / "llm_triple_guards.md"


def claim(row: dict[str, Any], names: dict[str, str]) -> dict[str, str]:
    """The labelled triple as a model's answer: the sentence as evidence."""
    from kisa_tasks.triples.rules import RELATION_CUES

    found = RELATION_CUES[row["relation"]].search(row["sentence"])
    words = row["relation"]
    if found:
        rest = row["sentence"][found.start() :].split()
        words = rest[0].strip(".,;:()") if rest else words
    return {
        "evidence": row["sentence"],
        "head": names[row["head"]],
        "relation": words,
        "relation_type": row["relation"],
        "tail": names[row["tail"]],
    }


def replay(rows: list[dict[str, Any]], specialty: str) -> list[dict[str, Any]]:
    from kisa_tasks.triples.llm_triples import ground_triples, record_entities

    evidence = load_corpus(specialty).evidence
    out = []
    for row in rows:
        record = evidence.record(row["pmid"])
        entities = record_entities(record) if record else []
        names = {e.entity_id: e.name for e in entities}
        if record is None or row["head"] not in names or row["tail"] not in names:
            out.append({**row, "outcome": "unresolved"})
            continue
        kept, refused = ground_triples(record, {"triples": [claim(row, names)]}, entities)
        outcome = "kept" if kept else next(iter(refused))
        out.append({**row, "outcome": outcome})
    return out


def share(part: int, whole: int) -> str:
    low, high = wilson(part, whole)
    return f"{part}/{whole} = {part / whole:.2f} ({low:.2f}-{high:.2f})" if whole else "-"


def report(results: list[dict[str, Any]]) -> str:
    lines = [
        "# The llm triple guards on labelled claims",
        "",
        "Each labelled triple replayed as a model's answer (its sentence as the evidence).",
        "",
        "| labelled extractor | split | claims | precision of all claims | kept | "
        "precision of the kept | labelled-wrong refused |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        if r["outcome"] != "unresolved":
            groups[(r["extractor"], r["split"])].append(r)
    for (extractor, split), rows in sorted(groups.items()):
        right = sum(r["correct"] for r in rows)
        kept = [r for r in rows if r["outcome"] == "kept"]
        wrong = [r for r in rows if not r["correct"]]
        lines.append(
            f"| {extractor} | {split} | {len(rows)} | {share(right, len(rows))} | {len(kept)} | "
            f"{share(sum(r['correct'] for r in kept), len(kept))} | "
            f"{share(sum(r['outcome'] != 'kept' for r in wrong), len(wrong))} |"
        )
    unresolved = sum(r["outcome"] == "unresolved" for r in results)
    lines += ["", f"Rows whose PMID or ends are not in the run's corpus: {unresolved}.", ""]
    lines += ["## Labelled-wrong claims by error: refused / all, and the refusal reasons", ""]
    by_error: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        if r["outcome"] != "unresolved" and not r["correct"]:
            by_error[r["error"] or "unlabelled"].append(r)
    for error, rows in sorted(by_error.items(), key=lambda kv: -len(kv[1])):
        refused = Counter(r["outcome"] for r in rows if r["outcome"] != "kept")
        lines.append(
            f"- **{error}**: {share(sum(refused.values()), len(rows))}; "
            + ", ".join(f"{k} {v}" for k, v in refused.most_common())
        )
    right_refused = Counter(
        r["outcome"] for r in results if r["correct"] and r["outcome"] not in ("kept", "unresolved")
    )
    lines += ["", "Labelled-right claims refused, by reason: "
              + ", ".join(f"{k} {v}" for k, v in right_refused.most_common()), ""]  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    rows = [json.loads(line) for line in LABELLED.read_text().splitlines() if line.strip()]
    results = replay(rows, "oncology")
    text = report(results)
    RESULT.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
