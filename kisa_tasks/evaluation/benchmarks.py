"""Benchmark question sets (MedBrowseComp, xbench-DeepSearch, generic JSONL,
our own held-out QA) loaded into one shape, ``BenchmarkItem``. A file that
cannot be read is refused with a ``BenchmarkFormatError`` that names the file
and what to fix in it."""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

KINDS = ("medbrowsecomp", "xbench", "jsonl")
SHIFT = 3  # MedBrowseComp shifts every code point by 3 before base64

# Accepted header spellings, compared case-insensitively.
QUESTION_COLUMNS = {
    "medbrowsecomp": ("question", "prompt", "problem"),
    "xbench": ("prompt", "question"),
}
ANSWER_COLUMNS = {
    "medbrowsecomp": ("answer", "gold", "ground_truth"),
    "xbench": ("answer",),
}


class BenchmarkFormatError(ValueError):
    """A benchmark file cannot be loaded; the message names the file and the fix."""


@dataclass(frozen=True)
class BenchmarkItem:
    item_id: str
    question: str
    answer: str
    aliases: tuple[str, ...] = ()
    source: str = ""  # benchmark name: "medbrowsecomp", "xbench", "jsonl", "kisa_qa"


class _HasItemId(Protocol):
    @property
    def item_id(self) -> str: ...


def encode_medbrowsecomp(text: str) -> str:
    """Obfuscate ``text`` the way MedBrowseComp cells are stored.

    >>> encode_medbrowsecomp("Which gene?")
    'WmtsZmsjamhxaEI='
    >>> decode_medbrowsecomp(encode_medbrowsecomp("Dosis: 5 µg/kg"))
    'Dosis: 5 µg/kg'
    """
    shifted = "".join(chr(ord(c) + SHIFT) for c in text)
    return base64.b64encode(shifted.encode("utf-8")).decode("ascii")


def decode_medbrowsecomp(cell: str) -> str:
    """The plain text of a MedBrowseComp cell: base64, then unshift by 3.

    >>> decode_medbrowsecomp('WmtsZmsjamhxaEI=')
    'Which gene?'
    >>> decode_medbrowsecomp('not base64!')  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: not base64: ...

    Raises ``ValueError`` (bad base64, not UTF-8, or a code point below 3);
    the loaders turn it into a ``BenchmarkFormatError`` with file and row.
    """
    try:
        shifted = base64.b64decode(cell.strip(), validate=True).decode("utf-8")
    except binascii.Error as e:
        raise ValueError(f"not base64: {e}") from None
    except UnicodeDecodeError:
        raise ValueError("base64 does not decode to UTF-8 text") from None
    if any(ord(c) < SHIFT for c in shifted):
        raise ValueError(f"a decoded code point is below {SHIFT}, so it was not shifted")
    return "".join(chr(ord(c) - SHIFT) for c in shifted)


def _mostly_printable(text: str, share: float = 0.9) -> bool:
    # Short plain words can be valid base64 by accident ("Name" decodes);
    # what comes out then is control characters, which real questions lack.
    if not text.strip():
        return False
    ok = sum(c.isprintable() or c.isspace() for c in text)
    return ok / len(text) >= share


def looks_obfuscated(cell: str) -> bool:
    """Whether a CSV cell is MedBrowseComp-obfuscated rather than plain text.

    >>> looks_obfuscated(encode_medbrowsecomp("What drug treats X?"))
    True
    >>> looks_obfuscated("What drug treats X?")
    False
    """
    try:
        return _mostly_printable(decode_medbrowsecomp(cell))
    except ValueError:
        return False


def _pick(columns: Iterable[str], wanted: Sequence[str]) -> str | None:
    """The actual header name matching the first accepted spelling, if any."""
    by_lower = {c.strip().lower(): c for c in columns}
    return next((by_lower[w] for w in wanted if w in by_lower), None)


def _csv_columns(path: Path, header: Sequence[str], kind: str) -> tuple[str, str, str | None]:
    question = _pick(header, QUESTION_COLUMNS[kind])
    answer = _pick(header, ANSWER_COLUMNS[kind])
    missing = [
        "/".join(spellings)
        for spellings, found in (
            (QUESTION_COLUMNS[kind], question),
            (ANSWER_COLUMNS[kind], answer),
        )
        if found is None
    ]
    if question is None or answer is None:
        raise BenchmarkFormatError(
            f"{path}: {kind} CSV needs a column for each of {', '.join(missing)} "
            f"(case-insensitive); the header has {list(header)}"
        )
    return question, answer, _pick(header, ("id",))


def _read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


def _checked(path: Path, items: list[BenchmarkItem]) -> list[BenchmarkItem]:
    if not items:
        raise BenchmarkFormatError(f"no questions in {path}")
    # Duplicate ids would merge attempts of different questions when scored.
    seen: set[str] = set()
    for item in items:
        if item.item_id in seen:
            raise BenchmarkFormatError(f"{path}: id {item.item_id!r} occurs more than once")
        seen.add(item.item_id)
    return items


def _cell(path: Path, row: Mapping[str, str | None], column: str, number: int) -> str:
    value = (row.get(column) or "").strip()
    if not value:
        raise BenchmarkFormatError(f"{path}: row {number} has an empty {column!r} cell")
    return value


def load_medbrowsecomp(path: Path) -> list[BenchmarkItem]:
    """MedBrowseComp CSV with obfuscated question and answer cells."""
    header, rows = _read_csv(path)
    q_col, a_col, id_col = _csv_columns(path, header, "medbrowsecomp")
    items = []
    for number, row in enumerate(rows, start=1):
        texts = []
        for column in (q_col, a_col):
            try:
                texts.append(decode_medbrowsecomp(_cell(path, row, column, number)))
            except BenchmarkFormatError:
                raise
            except ValueError as e:
                raise BenchmarkFormatError(
                    f"{path}: row {number}, column {column!r} is not a MedBrowseComp "
                    f"cell ({e}); is this a plain-text CSV? load it with kind='xbench'"
                ) from None
        item_id = (row.get(id_col) or "").strip() if id_col else ""
        items.append(
            BenchmarkItem(
                item_id=item_id or f"medbrowsecomp-{number}",
                question=texts[0],
                answer=texts[1],
                source="medbrowsecomp",
            )
        )
    return _checked(path, items)


def load_xbench(path: Path) -> list[BenchmarkItem]:
    """xbench-DeepSearch CSV with plain-text cells."""
    header, rows = _read_csv(path)
    q_col, a_col, id_col = _csv_columns(path, header, "xbench")
    items = []
    for number, row in enumerate(rows, start=1):
        item_id = (row.get(id_col) or "").strip() if id_col else ""
        items.append(
            BenchmarkItem(
                item_id=item_id or f"xbench-{number}",
                question=_cell(path, row, q_col, number),
                answer=_cell(path, row, a_col, number),
                source="xbench",
            )
        )
    return _checked(path, items)


def _jsonl_item(path: Path, number: int, line: str) -> BenchmarkItem:
    where = f"{path}: line {number}"
    try:
        row = json.loads(line)
    except json.JSONDecodeError as e:
        raise BenchmarkFormatError(f"{where} is not JSON ({e.msg})") from None
    if not isinstance(row, dict):
        raise BenchmarkFormatError(f"{where} is a {type(row).__name__}, not a JSON object")
    missing = [k for k in ("question", "answer") if not isinstance(row.get(k), str)]
    if missing:
        raise BenchmarkFormatError(
            f"{where} lacks string field(s) {', '.join(missing)}; its keys are {sorted(row)}"
        )
    aliases = row.get("aliases") or []
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise BenchmarkFormatError(f"{where}: 'aliases' must be a list of strings")
    raw_id = row.get("id")
    return BenchmarkItem(
        item_id=f"jsonl-{number}" if raw_id is None or raw_id == "" else str(raw_id),
        question=row["question"],
        answer=row["answer"],
        aliases=tuple(aliases),
        source="jsonl",
    )


def load_jsonl(path: Path) -> list[BenchmarkItem]:
    """One JSON object a line with ``question`` and ``answer``; optional ``id``
    and ``aliases``; other keys (context, metadata) are ignored."""
    with path.open(encoding="utf-8-sig") as f:
        items = [
            _jsonl_item(path, number, line)
            for number, line in enumerate(f, start=1)
            if line.strip()
        ]
    return _checked(path, items)


def from_qa_rows(rows: Iterable[Mapping[str, Any]]) -> list[BenchmarkItem]:
    """Rows of our ``qa`` artefact as benchmark items.

    >>> from_qa_rows([{"qa_id": "q1", "question": "Q?", "answer": "A",
    ...                "answer_aliases": ["a"]}])
    [BenchmarkItem(item_id='q1', question='Q?', answer='A', aliases=('a',), source='kisa_qa')]
    """
    items = []
    for number, row in enumerate(rows, start=1):
        missing = [k for k in ("qa_id", "question", "answer") if not row.get(k)]
        if missing:
            raise BenchmarkFormatError(
                f"qa row {number} lacks {', '.join(missing)}; its keys are {sorted(row)}"
            )
        items.append(
            BenchmarkItem(
                item_id=str(row["qa_id"]),
                question=str(row["question"]),
                answer=str(row["answer"]),
                # Parquet hands lists back as arrays; tuple() takes either.
                aliases=tuple(str(a) for a in (row.get("answer_aliases") or ())),
                source="kisa_qa",
            )
        )
    return items


def infer_kind(path: Path) -> str:
    """The loader a file needs, from its extension and, for CSV, its first row."""
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return "jsonl"
    if suffix != ".csv":
        raise BenchmarkFormatError(
            f"{path}: cannot tell the benchmark kind from {suffix or 'no extension'!r}; "
            f"use .csv or .jsonl, or pass kind= one of {', '.join(KINDS)}"
        )
    header, rows = _read_csv(path)
    question = _pick(header, QUESTION_COLUMNS["medbrowsecomp"])
    if not rows or question is None:
        return "xbench"  # its loader then names what is missing
    return "medbrowsecomp" if looks_obfuscated(rows[0].get(question) or "") else "xbench"


def load_benchmark(path: Path, kind: str | None = None) -> list[BenchmarkItem]:
    """Items of a benchmark file; ``kind`` is inferred when not given."""
    kind = kind or infer_kind(path)
    if kind == "medbrowsecomp":
        return load_medbrowsecomp(path)
    if kind == "xbench":
        return load_xbench(path)
    if kind == "jsonl":
        return load_jsonl(path)
    raise BenchmarkFormatError(
        f"{path}: unknown benchmark kind {kind!r}; supported kinds are {', '.join(KINDS)}"
    )


def _bucket(seed: int, item_id: str) -> float:
    digest = hashlib.sha256(f"{seed}:{item_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def held_out[T: _HasItemId](items: Sequence[T], share: float, seed: int) -> list[T]:
    """Items whose id hashes below ``share``, in input order.

    Each id is decided on its own, so an item's side never changes when the
    set grows or is reordered: a held-out question never leaks into training.
    The held-out size is therefore about, not exactly, ``share``.

    >>> items = [BenchmarkItem(f"q{i}", "Q?", "A") for i in range(1000)]
    >>> out = held_out(items, 0.2, seed=7)
    >>> 150 < len(out) < 250
    True
    >>> [i.item_id for i in held_out(items[::-1], 0.2, seed=7)][::-1] == [
    ...     i.item_id for i in out]
    True
    >>> held_out(items, 0.2, seed=8) == out
    False
    >>> len(held_out(items, 0.0, seed=7)), len(held_out(items, 1.0, seed=7))
    (0, 1000)
    """
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"share must be between 0 and 1, got {share}")
    return [item for item in items if _bucket(seed, item.item_id) < share]
