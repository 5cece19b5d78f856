"""The reference QA JSONL format (MedResearcher-R1's ``qa`` rows), both ways.

Export writes the reference keys (question, answer, reasoning_path,
entity_mapping, source_entity, sampling_algorithm, run_id, timestamp,
generation_metadata) and keeps every field of ours under
``generation_metadata.kisa``, so importing our own export gives back equal
items. Rows from elsewhere have no such block: what they do not say (the
sub-graph, the answer's entity id, the path) stays empty rather than guessed,
and a row without a question or an answer is rejected with the reason.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kisa_tasks.qa.records import QAItem

REQUIRED = ("question", "answer")


@dataclass(frozen=True)
class ImportRejection:
    line: int
    reason: str
    text: str


def to_reference(item: QAItem, run_id: str, timestamp: str) -> dict[str, Any]:
    ours = item.row()
    return {
        "question": item.question,
        "answer": item.answer,
        "reasoning_path": item.reasoning_path,
        "entity_mapping": dict(item.entity_mapping),
        "generation_metadata": {
            "generation_method": item.generator,
            "target_entity": item.answer,
            "nodes_used": len(item.path),
            "obfuscation_strategies": len(item.entity_mapping),
            "kisa": ours,
        },
        "source_entity": item.seed_name,
        "run_id": run_id,
        "sampling_algorithm": item.strategy,
        "timestamp": timestamp,
    }


def write_jsonl(items: Iterable[QAItem], path: Path, run_id: str, timestamp: str) -> int:
    n = 0
    with path.open("w", encoding="utf-8") as fh:
        for item in items:
            fh.write(json.dumps(to_reference(item, run_id, timestamp), ensure_ascii=False))
            fh.write("\n")
            n += 1
    return n


def from_reference(row: dict[str, Any], specialty: str) -> QAItem:
    """One reference row as a QA item; raises ``ValueError`` naming what is missing."""
    missing = [k for k in REQUIRED if not isinstance(row.get(k), str) or not row[k].strip()]
    if missing:
        raise ValueError(f"missing or empty {missing}")
    metadata = row.get("generation_metadata") or {}
    ours = metadata.get("kisa") if isinstance(metadata, dict) else None
    if isinstance(ours, dict):
        return QAItem.from_row(ours)
    mapping = row.get("entity_mapping") or {}
    if not isinstance(mapping, dict):
        raise ValueError("entity_mapping is not an object")
    method = (
        metadata.get("generation_method", "unknown") if isinstance(metadata, dict) else "unknown"
    )
    source = str(row.get("source_entity") or "")
    return QAItem(
        seed=source,
        seed_name=source,
        specialty=specialty,
        strategy=str(row.get("sampling_algorithm") or "unknown"),
        subgraph_id="",
        question=row["question"].strip(),
        answer=row["answer"].strip(),
        answer_id="",
        answer_aliases=(),
        reasoning_path=str(row.get("reasoning_path") or ""),
        entity_mapping=tuple((str(k), str(v)) for k, v in mapping.items()),
        path=(),
        paradigm="unknown",
        generator=f"import:{method}",
        prompt_version="",
    )


def read_jsonl(path: Path, specialty: str) -> tuple[list[QAItem], list[ImportRejection]]:
    items: list[QAItem] = []
    rejected: list[ImportRejection] = []
    for number, line in _lines(path):
        try:
            row = json.loads(line)
            if not isinstance(row, dict):
                raise ValueError("not a JSON object")
            items.append(from_reference(row, specialty))
        except (ValueError, TypeError, KeyError) as exc:
            rejected.append(ImportRejection(number, f"{type(exc).__name__}: {exc}", line[:500]))
    return items, rejected


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if line.strip():
                yield number, line
