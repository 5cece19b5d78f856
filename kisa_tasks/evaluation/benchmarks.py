"""Benchmark question sets (MedBrowseComp, xbench-DeepSearch, generic JSONL,
our own held-out QA) loaded into one shape, ``BenchmarkItem``. A file that
cannot be read is refused with a ``BenchmarkFormatError`` that names the file
and what to fix in it."""

from __future__ import annotations

import base64
import binascii
import csv
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def _xor(data: bytes, canary: str) -> bytes:
    # xbench-evals' xor_decrypt: the key is the canary's UTF-8 bytes, repeated
    # cyclically over the data (no hashing); XOR is its own inverse.
    key = canary.encode("utf-8")
    if not key:
        raise ValueError("the canary is empty, so there is no key")
    return bytes(b ^ key[i % len(key)] for i, b in enumerate(data))


def encode_xbench(text: str, canary: str) -> str:
    """Encrypt ``text`` the way xbench-DeepSearch stores ``prompt`` and
    ``answer`` cells: UTF-8, XOR with the row's canary, base64.

    >>> encode_xbench("Hi", "ab")
    'KQs='
    >>> decode_xbench(encode_xbench("谁发现了青霉素", "canary GUID x"), "canary GUID x")
    '谁发现了青霉素'
    """
    return base64.b64encode(_xor(text.encode("utf-8"), canary)).decode("ascii")


def decode_xbench(cell: str, canary: str) -> str:
    """The plain text of an xbench cell: base64, XOR with the canary, UTF-8.

    >>> decode_xbench('KQs=', 'ab')
    'Hi'

    Raises ``ValueError`` (bad base64, empty canary, or not UTF-8 after the
    XOR, which is what a wrong canary gives); the message holds no cell text.
    """
    try:
        data = base64.b64decode("".join(cell.split()), validate=True)
    except binascii.Error as e:
        raise ValueError(f"not base64: {e}") from None
    try:
        return _xor(data, canary).decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(
            "does not decrypt to UTF-8 text with the row's canary "
            "(a wrong canary or a corrupted cell)"
        ) from None


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
            f"(case-insensitive); its header has {len(header)} columns, none of them named so"
        )
    return question, answer, _pick(header, ("id",))


def _read_table(path: Path) -> tuple[list[str], list[list[str]]]:
    """Header and data rows; blank lines (the published MedBrowseComp files
    end with one) are skipped, as ``csv.DictReader`` does."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            table = [row for row in csv.reader(f) if row]
    except UnicodeDecodeError as e:
        raise BenchmarkFormatError(
            f"{path}: not UTF-8 text (invalid byte at offset {e.start}); save it as UTF-8"
        ) from None
    except csv.Error as e:
        raise BenchmarkFormatError(f"{path}: not a readable CSV file ({e})") from None
    if not table:
        return [], []
    return table[0], table[1:]


def _as_dicts(header: Sequence[str], body: Iterable[Sequence[str]]) -> list[dict[str, str]]:
    # A short row leaves its last columns out (``_cell`` then calls them
    # empty); cells beyond the header are ignored.
    return [dict(zip(header, row, strict=False)) for row in body]


def _read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    header, body = _read_table(path)
    return header, _as_dicts(header, body)


def _decoded_header(header: Sequence[str]) -> list[str] | None:
    """The column names of a header row that is MedBrowseComp-encoded like its
    cells (the published files encode every cell, header included), or None
    when the header is not encoded.

    >>> _decoded_header([encode_medbrowsecomp("prompt"), encode_medbrowsecomp("gold")])
    ['prompt', 'gold']
    >>> _decoded_header(["question", "answer"]) is None
    True
    """
    names = []
    for cell in header:
        try:
            name = decode_medbrowsecomp(cell).strip()
        except ValueError:
            return None
        # A column name: short, one line, printable (not a sentence or bytes).
        if not name or len(name) > 64 or not name.isprintable():
            return None
        names.append(name)
    return names or None


def _medbrowsecomp_header(header: Sequence[str]) -> tuple[list[str], bool]:
    """(column names, whether the header row was encoded). A plain header
    naming the columns wins, so the plain-header variant reads as before."""
    wanted = QUESTION_COLUMNS["medbrowsecomp"]
    if _pick(header, wanted) is not None:
        return list(header), False
    decoded = _decoded_header(header)
    if decoded is not None and _pick(decoded, wanted) is not None:
        return decoded, True
    return list(header), False


def _has_canary(header: Sequence[str]) -> str | None:
    return _pick(header, ("canary",))


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


def _decoded_cell(
    path: Path,
    row: Mapping[str, str | None],
    column: str,
    number: int,
    decode: Callable[[str], str],
    hint: str,
) -> str:
    """A cell's decoded text, refused unless it is UTF-8 prose. The messages
    name file, row and column only: never the cell, coded or decoded."""
    cell = _cell(path, row, column, number)
    try:
        text = decode(cell)
    except ValueError as e:
        raise BenchmarkFormatError(
            f"{path}: row {number}, column {column!r}: {e}; {hint}"
        ) from None
    if not _mostly_printable(text):
        raise BenchmarkFormatError(
            f"{path}: row {number}, column {column!r}: decodes to mostly control "
            f"characters, not prose; {hint}"
        )
    return text


def load_medbrowsecomp(path: Path) -> list[BenchmarkItem]:
    """MedBrowseComp CSV with obfuscated question and answer cells.

    The published files (``final50_cell_combo_shift3_b64.csv``,
    ``final121_cell_combo_shift3_b64.csv``) encode every cell, the header row
    and the id cells included; a file with a plain header and encoded
    question/answer cells is read too (its ids are then plain)."""
    raw_header, body = _read_table(path)
    header, encoded_header = _medbrowsecomp_header(raw_header)
    rows = _as_dicts(header, body)
    q_col, a_col, id_col = _csv_columns(path, header, "medbrowsecomp")
    hint = (
        "is it a MedBrowseComp cell (shift 3, then base64)? for a plain-text CSV use kind='xbench'"
    )
    items = []
    for number, row in enumerate(rows, start=1):
        question, answer = (
            _decoded_cell(path, row, column, number, decode_medbrowsecomp, hint)
            for column in (q_col, a_col)
        )
        item_id = ""
        if id_col and (row.get(id_col) or "").strip():
            item_id = (
                _decoded_cell(path, row, id_col, number, decode_medbrowsecomp, hint).strip()
                if encoded_header
                else (row.get(id_col) or "").strip()
            )
        items.append(
            BenchmarkItem(
                item_id=item_id or f"medbrowsecomp-{number}",
                question=question,
                answer=answer,
                source="medbrowsecomp",
            )
        )
    return _checked(path, items)


def load_xbench(path: Path) -> list[BenchmarkItem]:
    """xbench-DeepSearch CSV. The published files (header ``id, prompt,
    answer, reference_steps, canary``) store ``prompt`` and ``answer`` as
    base64 of the UTF-8 text XOR-ed with the row's ``canary`` (xbench-evals'
    ``xor_decrypt``); without a canary column the cells are plain text."""
    header, rows = _read_csv(path)
    q_col, a_col, id_col = _csv_columns(path, header, "xbench")
    canary_col = _has_canary(header)
    hint = (
        "is it an xbench cell (XOR with the row's canary, then base64), and is the "
        "canary the one it was published with?"
    )
    items = []
    for number, row in enumerate(rows, start=1):
        item_id = (row.get(id_col) or "").strip() if id_col else ""
        if canary_col is None:
            question = _cell(path, row, q_col, number)
            answer = _cell(path, row, a_col, number)
        else:
            # The key is the canary exactly as stored: not stripped.
            canary = row.get(canary_col) or ""
            if not canary.strip():
                raise BenchmarkFormatError(
                    f"{path}: row {number} has an empty {canary_col!r} cell, the key of "
                    "its encrypted cells"
                )

            def decode(cell: str, canary: str = canary) -> str:
                return decode_xbench(cell, canary)

            question, answer = (
                _decoded_cell(path, row, column, number, decode, hint).strip()
                for column in (q_col, a_col)
            )
        items.append(
            BenchmarkItem(
                item_id=item_id or f"xbench-{number}",
                question=question,
                answer=answer,
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
        raise BenchmarkFormatError(f"{where} lacks string field(s) {', '.join(missing)}")
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
            raise BenchmarkFormatError(f"qa row {number} lacks {', '.join(missing)}")
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
    """The loader a file needs, from its extension and, for CSV, its header
    (a canary column: xbench; an encoded header: MedBrowseComp) or else
    whether its first question cell is MedBrowseComp-encoded."""
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return "jsonl"
    if suffix != ".csv":
        raise BenchmarkFormatError(
            f"{path}: cannot tell the benchmark kind from {suffix or 'no extension'!r}; "
            f"use .csv or .jsonl, or pass kind= one of {', '.join(KINDS)}"
        )
    raw_header, body = _read_table(path)
    if _has_canary(raw_header) and _pick(raw_header, QUESTION_COLUMNS["xbench"]):
        return "xbench"  # published xbench: cells encrypted with the row's canary
    header, encoded_header = _medbrowsecomp_header(raw_header)
    if encoded_header:
        return "medbrowsecomp"  # published MedBrowseComp: every cell encoded
    rows = _as_dicts(header, body)
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


BENCHMARKS_DIR_SETTING = "KISA_EVALUATION__BENCHMARKS_DIR"


class BenchmarkPathError(ValueError):
    """A benchmark location kisa_evaluate refuses to read."""


def _where(benchmarks_dir: Path) -> str:
    return (
        f"benchmark files are read only from {benchmarks_dir} (setting "
        f"{BENCHMARKS_DIR_SETTING}), by file name or relative path, or from an s3:// "
        "key in the artefact store"
    )


def resolve_benchmark_path(value: str, benchmarks_dir: Path) -> Path:
    """The file ``value`` names inside ``benchmarks_dir``, symlinks resolved.

    Refused (``BenchmarkPathError``): an absolute path, a ``..`` part, or a
    path that resolves (through a symlink) outside the folder. A missing file
    is a ``FileNotFoundError``. Messages name the value and the folder, never
    what any file holds.
    """
    raw = value.strip()
    if not raw:
        raise BenchmarkPathError(f"the benchmark is empty; {_where(benchmarks_dir)}")
    relative = Path(raw)
    if relative.is_absolute():
        raise BenchmarkPathError(f"benchmark {raw!r} is an absolute path; {_where(benchmarks_dir)}")
    if ".." in relative.parts:
        raise BenchmarkPathError(
            f"benchmark {raw!r} climbs out with '..'; {_where(benchmarks_dir)}"
        )
    root = benchmarks_dir.resolve()
    target = (root / relative).resolve()
    if not target.is_relative_to(root):
        raise BenchmarkPathError(
            f"benchmark {raw!r} is a symlink that resolves outside the benchmarks "
            f"folder; {_where(benchmarks_dir)}"
        )
    if not target.is_file():
        raise FileNotFoundError(f"no benchmark file {raw!r}; {_where(benchmarks_dir)}")
    return target


def benchmark_store_key(value: str, store_prefix: str) -> str:
    """The artefact-store key of an ``s3://`` benchmark value; ``store_prefix``
    is the store's ``uri("")`` (``s3://bucket/``).

    >>> benchmark_store_key("s3://kisa/benchmarks/mbc.csv", "s3://kisa/")
    'benchmarks/mbc.csv'
    """
    if not value.startswith(store_prefix):
        raise BenchmarkPathError(
            f"benchmark {value!r} is not in the artefact store ({store_prefix}...)"
        )
    key = value.removeprefix(store_prefix).strip("/")
    parts = key.split("/")
    if not key or ".." in parts or parts[-1] in ("", "."):
        raise BenchmarkPathError(
            f"benchmark {value!r} does not name one object in the artefact store"
        )
    return key
