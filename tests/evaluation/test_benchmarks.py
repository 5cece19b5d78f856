"""Benchmark loaders on fixture files written into tmp_path."""

from __future__ import annotations

import csv
import doctest
import hashlib
import random
import shutil
from pathlib import Path

import pytest

from kisa_tasks.evaluation import benchmarks, metrics
from kisa_tasks.evaluation.benchmarks import (
    BenchmarkFormatError,
    BenchmarkItem,
    decode_medbrowsecomp,
    encode_medbrowsecomp,
    from_qa_rows,
    held_out,
    load_benchmark,
)

REFERENCE = Path(__file__).parents[1] / "fixtures" / "reference" / "medresearcher_eval_sample.jsonl"

QUESTIONS = [
    ("Which kinase does imatinib inhibit in CML?", "BCR-ABL"),
    ("Dose of drug X in µg/kg for a child — per day?", "5 µg/kg"),
    ("Quel gène est muté dans la mucoviscidose ?", "CFTR"),
]


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def medbrowsecomp_csv(path: Path, header: tuple[str, str] = ("Problem", "Answer")) -> Path:
    rows = [[encode_medbrowsecomp(q), encode_medbrowsecomp(a)] for q, a in QUESTIONS]
    return write_csv(path, list(header), rows)


@pytest.mark.parametrize("text", ["", "plain", "µg/kg — 5 ≥ 3", "𝔸 emoji 🧬", "\n\t"])
def test_medbrowsecomp_roundtrip(text: str) -> None:
    assert decode_medbrowsecomp(encode_medbrowsecomp(text)) == text


def test_medbrowsecomp_encoding_is_shift_then_base64() -> None:
    # Independent of encode_medbrowsecomp, so a wrong pair of inverses fails.
    assert decode_medbrowsecomp("S2hvb3I=") == "Hello"  # base64("Khoor")
    assert encode_medbrowsecomp("Hello") == "S2hvb3I="


def test_loads_medbrowsecomp_decoded(tmp_path: Path) -> None:
    items = load_benchmark(medbrowsecomp_csv(tmp_path / "mbc.csv"))
    assert [(i.question, i.answer) for i in items] == QUESTIONS
    assert [i.item_id for i in items] == ["medbrowsecomp-1", "medbrowsecomp-2", "medbrowsecomp-3"]
    assert {i.source for i in items} == {"medbrowsecomp"}


def test_medbrowsecomp_id_column_and_bom(tmp_path: Path) -> None:
    path = tmp_path / "mbc.csv"
    rows = [
        [f"m{n}", encode_medbrowsecomp(q), encode_medbrowsecomp(a)]
        for n, (q, a) in enumerate(QUESTIONS)
    ]
    write_csv(path, ["ID", "Ground_Truth", "Prompt"], [[r[0], r[2], r[1]] for r in rows])
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())  # Excel's BOM
    items = load_benchmark(path, kind="medbrowsecomp")
    assert [i.item_id for i in items] == ["m0", "m1", "m2"]
    assert items[0].question == QUESTIONS[0][0]


def test_medbrowsecomp_bad_cell_names_row_and_column(tmp_path: Path) -> None:
    path = tmp_path / "mbc.csv"
    write_csv(
        path,
        ["question", "answer"],
        [
            [encode_medbrowsecomp("Q1"), encode_medbrowsecomp("A1")],
            [encode_medbrowsecomp("Q2"), "%%% not base64"],
        ],
    )
    with pytest.raises(BenchmarkFormatError) as e:
        load_benchmark(path, kind="medbrowsecomp")
    assert str(path) in str(e.value)
    assert "row 2" in str(e.value) and "'answer'" in str(e.value)


def test_medbrowsecomp_not_utf8_is_refused(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "m.csv", ["question", "answer"], [["//79", "QQ=="]])
    with pytest.raises(BenchmarkFormatError, match=r"row 1, column 'question'"):
        load_benchmark(path, kind="medbrowsecomp")


def test_missing_columns_are_named(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "x.csv", ["query", "solution"], [["Q", "A"]])
    with pytest.raises(BenchmarkFormatError) as e:
        load_benchmark(path, kind="medbrowsecomp")
    message = str(e.value)
    assert str(path) in message
    assert "question/prompt/problem" in message and "answer/gold/ground_truth" in message
    assert "'query'" in message and "'solution'" in message
    with pytest.raises(BenchmarkFormatError, match=r"answer.*'query', 'solution'"):
        load_benchmark(path, kind="xbench")


def test_xbench_plain_and_inferred(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "xbench.csv",
        ["id", "Prompt", "Answer"],
        [["", "Name the gene.", "TP53"], ["x-7", "谁发现了青霉素？", "弗莱明"]],
    )
    items = load_benchmark(path)  # inferred: first question is plain text
    assert items == [
        BenchmarkItem("xbench-1", "Name the gene.", "TP53", source="xbench"),
        BenchmarkItem("x-7", "谁发现了青霉素？", "弗莱明", source="xbench"),
    ]


def test_inference_picks_medbrowsecomp_for_obfuscated_csv(tmp_path: Path) -> None:
    items = load_benchmark(medbrowsecomp_csv(tmp_path / "any.csv", ("question", "answer")))
    assert items[0].source == "medbrowsecomp"
    assert items[0].question == QUESTIONS[0][0]


def test_plain_word_that_is_valid_base64_stays_xbench(tmp_path: Path) -> None:
    # "Name" is valid base64 but decodes to bytes that are not text.
    path = write_csv(tmp_path / "x.csv", ["question", "answer"], [["Name", "x"], ["Q2", "y"]])
    assert load_benchmark(path)[0].question == "Name"


def test_jsonl_reference_file(tmp_path: Path) -> None:
    path = tmp_path / "sample.jsonl"
    shutil.copy(REFERENCE, path)
    items = load_benchmark(path)
    assert len(items) == 5
    assert items[0].question.startswith("测试问题1")
    assert [i.item_id for i in items] == [f"jsonl-{n}" for n in range(1, 6)]
    assert {i.source for i in items} == {"jsonl"}


def test_jsonl_ids_aliases_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "b.jsonl"
    path.write_text(
        '{"id": 7, "question": "Q", "answer": "A", "aliases": ["a", "α"]}\n\n'
        '{"question": "Q2", "answer": "B"}\n',
        encoding="utf-8",
    )
    assert load_benchmark(path) == [
        BenchmarkItem("7", "Q", "A", ("a", "α"), "jsonl"),
        BenchmarkItem("jsonl-3", "Q2", "B", (), "jsonl"),
    ]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("{not json", r"line 2 is not JSON"),
        ('{"question": "Q"}', r"line 2 lacks string field\(s\) answer"),
        ('{"context": "c"}', r"line 2 lacks string field\(s\) question, answer"),
        ('{"question": "Q", "answer": 3}', r"line 2 lacks string field\(s\) answer"),
        ('["Q", "A"]', r"line 2 is a list"),
        ('{"question": "Q", "answer": "A", "aliases": "a"}', r"line 2: 'aliases'"),
    ],
)
def test_jsonl_malformed_line(tmp_path: Path, line: str, expected: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"question": "Q", "answer": "A"}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(BenchmarkFormatError, match=expected) as e:
        load_benchmark(path)
    assert str(path) in str(e.value)


@pytest.mark.parametrize("name", ["empty.jsonl", "empty.csv"])
def test_empty_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("\n" if name.endswith("jsonl") else "question,answer\n", encoding="utf-8")
    with pytest.raises(BenchmarkFormatError, match=f"no questions in {path}"):
        load_benchmark(path)


def test_unknown_kind_or_extension(tmp_path: Path) -> None:
    path = tmp_path / "qs.parquet"
    path.write_bytes(b"")
    for kind in (None, "hle"):
        with pytest.raises(BenchmarkFormatError, match="medbrowsecomp, xbench, jsonl"):
            load_benchmark(path, kind=kind)


def test_duplicate_ids_refused(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"id": "a", "question": "Q", "answer": "A"}\n' * 2, encoding="utf-8")
    with pytest.raises(BenchmarkFormatError, match="'a' occurs more than once"):
        load_benchmark(path)


def test_from_qa_rows() -> None:
    rows = [
        {"qa_id": "qa-1", "question": "Q", "answer": "A", "answer_aliases": ["a1", "a2"]},
        {"qa_id": "qa-2", "question": "Q2", "answer": "B", "answer_aliases": None},
    ]
    assert from_qa_rows(rows) == [
        BenchmarkItem("qa-1", "Q", "A", ("a1", "a2"), "kisa_qa"),
        BenchmarkItem("qa-2", "Q2", "B", (), "kisa_qa"),
    ]
    with pytest.raises(BenchmarkFormatError, match="qa row 1 lacks answer"):
        from_qa_rows([{"qa_id": "x", "question": "Q"}])


def test_held_out_is_stable_and_order_independent() -> None:
    items = [BenchmarkItem(f"q{i}", "Q", "A") for i in range(500)]
    chosen = held_out(items, 0.3, seed=11)
    assert 100 < len(chosen) < 200
    shuffled = items[:]
    random.Random(0).shuffle(shuffled)
    again = held_out(shuffled, 0.3, seed=11)
    assert {i.item_id for i in again} == {i.item_id for i in chosen}
    # Input order is kept.
    assert [i.item_id for i in again] == [i.item_id for i in shuffled if i in set(chosen)]
    # An item's side depends on its id alone: adding items moves nobody.
    more = items + [BenchmarkItem(f"new{i}", "Q", "A") for i in range(100)]
    assert set(held_out(more, 0.3, seed=11)) >= set(chosen)
    assert held_out(items, 0.3, seed=12) != chosen
    # Pinned: the hash is sha256 of "seed:id", not Python's salted hash().
    expected = [
        f"q{i}"
        for i in range(20)
        if int.from_bytes(hashlib.sha256(f"11:q{i}".encode()).digest()[:8], "big") < 0.3 * 2**64
    ]
    assert [i.item_id for i in held_out(items[:20], 0.3, seed=11)] == expected


def test_held_out_rejects_bad_share() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        held_out([], 1.5, seed=0)


@pytest.mark.parametrize("module", [benchmarks, metrics])
def test_doctests(module: object) -> None:
    # pytest does not run with --doctest-modules here, so run them explicitly.
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)  # type: ignore[arg-type]
    assert result.attempted > 0
    assert result.failed == 0
