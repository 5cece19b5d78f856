"""Benchmark loaders on fixture files written into tmp_path."""

from __future__ import annotations

import base64
import csv
import doctest
import shutil
from pathlib import Path
from typing import Any

import pytest

from kisa_tasks.evaluation import benchmarks, metrics
from kisa_tasks.evaluation.benchmarks import (
    BenchmarkFormatError,
    BenchmarkItem,
    BenchmarkPathError,
    benchmark_store_key,
    decode_medbrowsecomp,
    decode_xbench,
    encode_medbrowsecomp,
    encode_xbench,
    from_qa_rows,
    load_benchmark,
    looks_obfuscated,
    resolve_benchmark_path,
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


def test_missing_columns_are_named_and_the_file_is_not_quoted(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "x.csv", ["query", "solution"], [["Q", "A"]])
    with pytest.raises(BenchmarkFormatError) as e:
        load_benchmark(path, kind="medbrowsecomp")
    message = str(e.value)
    assert str(path) in message and "its header has 2 columns" in message
    assert "question/prompt/problem" in message and "answer/gold/ground_truth" in message
    # The file's own text (here its header) never reaches an error, a log or MLflow.
    assert "query" not in message and "solution" not in message
    with pytest.raises(BenchmarkFormatError) as e:
        load_benchmark(path, kind="xbench")
    assert "answer" in str(e.value) and "query" not in str(e.value)


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


@pytest.mark.parametrize("module", [benchmarks, metrics])
def test_doctests(module: object) -> None:
    # pytest does not run with --doctest-modules here, so run them explicitly.
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)  # type: ignore[arg-type]
    assert result.attempted > 0
    assert result.failed == 0


# -- the files as their projects publish them ----------------------------------

CANARY = "TEST DATA, NOT A BENCHMARK. canary GUID kisa-test:0f6c2a4e-1b7d-4e55-9a10-3c8e2f7b9d41"
XBENCH_HEADER = ["id", "prompt", "answer", "reference_steps", "canary"]


def published_medbrowsecomp(path: Path, rows: list[list[str]], header: list[str]) -> Path:
    """Every cell encoded, the header row too, and the trailing blank line
    that MedBrowseComp's own encoder (encode_csv_cells_combo) writes."""
    write_csv(
        path,
        [encode_medbrowsecomp(h) for h in header],
        [[encode_medbrowsecomp(c) for c in row] for row in rows],
    )
    with path.open("a", encoding="utf-8", newline="") as f:
        f.write("\n")
    return path


def fifty_questions() -> list[tuple[str, str]]:
    return [
        (
            f"Für Studie NCT{n:08d}: welcher Wirkstoff — Dosis in µg/kg? ({QUESTIONS[n % 3][0]})",
            f"A{n}",
        )
        for n in range(50)
    ]


def published_xbench(path: Path, rows: list[tuple[str, str, str]], canary: str = CANARY) -> Path:
    return write_csv(
        path,
        XBENCH_HEADER,
        [
            [
                item_id,
                encode_xbench(q, canary),
                encode_xbench(a, canary),
                encode_xbench("s", canary),
                canary,
            ]
            for item_id, q, a in rows
        ],
    )


XBENCH_ROWS = [
    ("1", "2024年诺贝尔生理学或医学奖授予了哪项发现？", "microRNA"),
    ("2", "Which enzyme does aspirin inhibit irreversibly?", "COX-1 und COX-2"),
    ("3", "伊马替尼最初获批用于哪种疾病？", "慢性粒细胞白血病"),
]


def test_published_medbrowsecomp_with_encoded_header_loads(tmp_path: Path) -> None:
    qa = fifty_questions()
    path = published_medbrowsecomp(
        tmp_path / "final50_cell_combo_shift3_b64.csv",
        [[q, a, "Ingredient"] for q, a in qa],
        ["prompt", "gold", "task_name"],
    )
    # The header row really is encoded, as in the published file.
    assert "prompt" not in path.read_text(encoding="utf-8").splitlines()[0]
    items = load_benchmark(path)
    assert [(i.question, i.answer) for i in items] == qa
    assert [i.item_id for i in items] == [f"medbrowsecomp-{n}" for n in range(1, 51)]
    assert load_benchmark(path, kind="medbrowsecomp") == items


def test_encoded_header_spellings_and_encoded_ids(tmp_path: Path) -> None:
    path = published_medbrowsecomp(
        tmp_path / "m.csv",
        [[f"id-{n}", "extra", a, q] for n, (q, a) in enumerate(QUESTIONS)],
        ["ID", "Notes", "Ground_Truth", "Problem"],
    )
    items = load_benchmark(path)
    assert [(i.item_id, i.question, i.answer) for i in items] == [
        (f"id-{n}", q, a) for n, (q, a) in enumerate(QUESTIONS)
    ]


def assert_names_cell_only(message: str, path: Path, row: int, column: str, *texts: str) -> None:
    assert str(path) in message
    assert f"row {row}, column {column!r}" in message
    for text in texts:
        assert text not in message


def test_encoded_header_bad_cell_named_without_its_text(tmp_path: Path) -> None:
    rows = [[q, a] for q, a in QUESTIONS]
    path = published_medbrowsecomp(tmp_path / "m.csv", rows, ["prompt", "gold"])
    lines = path.read_text(encoding="utf-8").splitlines()
    cipher = encode_medbrowsecomp(QUESTIONS[1][1])
    lines[2] = lines[2].replace(cipher, cipher[:-4] + "@@@@")  # corrupt row 2's answer
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(BenchmarkFormatError) as e:
        load_benchmark(path)
    assert_names_cell_only(str(e.value), path, 2, "gold", cipher, QUESTIONS[1][1], QUESTIONS[1][0])


def test_medbrowsecomp_cell_that_is_not_prose_is_refused(tmp_path: Path) -> None:
    control = "\x01\x02\x04\x05\x06\x07\x08"
    path = write_csv(
        tmp_path / "m.csv",
        ["question", "answer"],
        [[encode_medbrowsecomp("Q?"), encode_medbrowsecomp(control)]],
    )
    with pytest.raises(BenchmarkFormatError, match="not prose") as e:
        load_benchmark(path, kind="medbrowsecomp")
    assert_names_cell_only(str(e.value), path, 1, "answer", control, encode_medbrowsecomp(control))


def test_xbench_encoding_is_canary_xor_then_base64() -> None:
    # Pinned by hand, independent of encode_xbench: the key is the canary's
    # UTF-8 bytes repeated ("ab" -> a, b, a, b, a), not a hash of it.
    cipher = base64.b64encode(
        bytes([0x48 ^ 0x61, 0x65 ^ 0x62, 0x6C ^ 0x61, 0x6C ^ 0x62, 0x6F ^ 0x61])
    )
    assert encode_xbench("Hello", "ab") == cipher.decode() == "KQcNDg4="
    assert decode_xbench("KQcNDg4=", "ab") == "Hello"
    text = "青霉素 — µg"
    assert decode_xbench(encode_xbench(text, CANARY), CANARY) == text


def test_published_xbench_decrypts(tmp_path: Path) -> None:
    path = published_xbench(tmp_path / "DeepSearch.csv", XBENCH_ROWS)
    items = load_benchmark(path)  # inferred from the canary column
    assert items == [BenchmarkItem(i, q, a, source="xbench") for i, q, a in XBENCH_ROWS]
    assert load_benchmark(path, kind="xbench") == items


@pytest.mark.parametrize(
    "wrong",
    ["BENCHMARK DATA SHOULD NEVER APPEAR. canary GUID other:9b1d", "€€€ different key €€€"],
)
def test_xbench_wrong_canary_is_refused(tmp_path: Path, wrong: str) -> None:
    path = tmp_path / "x.csv"
    write_csv(
        path,
        XBENCH_HEADER,
        [
            [i, encode_xbench(q, CANARY), encode_xbench(a, CANARY), "", wrong]
            for i, q, a in XBENCH_ROWS
        ],
    )
    with pytest.raises(BenchmarkFormatError, match="canary") as e:
        load_benchmark(path)
    _, question, answer = XBENCH_ROWS[0]
    assert_names_cell_only(
        str(e.value), path, 1, "prompt", question, answer, encode_xbench(question, CANARY), wrong
    )


def test_xbench_corrupted_cell_is_refused(tmp_path: Path) -> None:
    path = published_xbench(tmp_path / "x.csv", XBENCH_ROWS)
    cipher = encode_xbench(XBENCH_ROWS[2][2], CANARY)
    path.write_text(path.read_text(encoding="utf-8").replace(cipher, "%%" + cipher), "utf-8")
    with pytest.raises(BenchmarkFormatError, match="not base64") as e:
        load_benchmark(path)
    assert_names_cell_only(str(e.value), path, 3, "answer", cipher, XBENCH_ROWS[2][2])


def test_xbench_empty_canary_is_refused(tmp_path: Path) -> None:
    path = published_xbench(tmp_path / "x.csv", XBENCH_ROWS)
    rows = list(csv.reader(path.open(encoding="utf-8", newline="")))
    rows[2][4] = ""
    write_csv(path, rows[0], rows[1:])
    with pytest.raises(BenchmarkFormatError, match=r"row 2 has an empty 'canary' cell"):
        load_benchmark(path, kind="xbench")


def test_infer_kind_on_each_variant(tmp_path: Path) -> None:
    encoded = published_medbrowsecomp(
        tmp_path / "e.csv", [[q, a] for q, a in QUESTIONS], ["prompt", "gold"]
    )
    plain_header = medbrowsecomp_csv(tmp_path / "p.csv")
    canary = published_xbench(tmp_path / "c.csv", XBENCH_ROWS)
    plain = write_csv(
        tmp_path / "x.csv", ["id", "prompt", "answer"], [["1", "Name the gene.", "TP53"]]
    )
    jsonl = tmp_path / "j.jsonl"
    jsonl.write_text('{"question": "Q", "answer": "A"}\n', encoding="utf-8")
    assert [benchmarks.infer_kind(p) for p in (encoded, plain_header, canary, plain, jsonl)] == [
        "medbrowsecomp",
        "medbrowsecomp",
        "xbench",
        "xbench",
        "jsonl",
    ]


def test_canary_column_decides_even_when_the_cipher_looks_like_medbrowsecomp(
    tmp_path: Path,
) -> None:
    # Pick each plaintext character so that its ciphertext byte is a letter
    # shifted by 3: the prompt cell then also reads as a MedBrowseComp cell.
    key = CANARY.encode()
    letters = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    question = "".join(
        next(
            chr((t + 3) ^ key[i % len(key)])
            for t in letters
            if chr((t + 3) ^ key[i % len(key)]).isalnum()
        )
        for i in range(40)
    )
    assert looks_obfuscated(encode_xbench(question, CANARY))
    path = published_xbench(tmp_path / "x.csv", [("1", question, "A")])
    assert benchmarks.infer_kind(path) == "xbench"
    assert load_benchmark(path)[0].question == question


def test_csv_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("question,answer\nWelche Dosis in µg?,5\n".encode("latin-1"))
    with pytest.raises(BenchmarkFormatError, match="not UTF-8") as e:
        load_benchmark(path)
    assert str(path) in str(e.value) and "Dosis" not in str(e.value)


# -- where kisa_evaluate may read benchmark files ------------------------------

SECRET = "secret file content"


@pytest.fixture
def bench_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "benchmarks" / "data"
    (folder / "medbrowsecomp").mkdir(parents=True)
    (folder / "x.csv").write_text("question,answer\nQ,A\n", encoding="utf-8")
    (folder / "medbrowsecomp" / "final50.csv").write_text("q", encoding="utf-8")
    (tmp_path / "outside.csv").write_text(SECRET, encoding="utf-8")
    return folder


def assert_refusal_names_folder(message: str, folder: Path) -> None:
    assert str(folder) in message
    assert "KISA_EVALUATION__BENCHMARKS_DIR" in message
    assert SECRET not in message


def test_resolves_names_and_relative_paths_inside(bench_dir: Path) -> None:
    root = bench_dir.resolve()
    assert resolve_benchmark_path("x.csv", bench_dir) == root / "x.csv"
    assert resolve_benchmark_path("medbrowsecomp/final50.csv", bench_dir) == (
        root / "medbrowsecomp" / "final50.csv"
    )
    assert resolve_benchmark_path("./x.csv", bench_dir) == root / "x.csv"
    # A symlink that stays inside the folder is fine.
    (bench_dir / "latest.csv").symlink_to(bench_dir / "x.csv")
    assert resolve_benchmark_path("latest.csv", bench_dir) == root / "x.csv"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("{outside}", "absolute path"),
        ("{inside}", "absolute path"),  # refused even when it points inside
        ("../outside.csv", "'..'"),
        ("medbrowsecomp/../../outside.csv", "'..'"),
        ("medbrowsecomp/../x.csv", "'..'"),
        ("..", "'..'"),
    ],
)
def test_refuses_absolute_and_dotdot(bench_dir: Path, value: str, reason: str) -> None:
    value = value.format(
        outside=bench_dir.parents[1] / "outside.csv", inside=bench_dir.resolve() / "x.csv"
    )
    with pytest.raises(BenchmarkPathError, match=reason) as e:
        resolve_benchmark_path(value, bench_dir)
    assert_refusal_names_folder(str(e.value), bench_dir)


def test_refuses_symlink_leading_out(bench_dir: Path) -> None:
    (bench_dir / "evil.csv").symlink_to(bench_dir.parents[1] / "outside.csv")
    (bench_dir / "sub").symlink_to(bench_dir.parents[1], target_is_directory=True)
    for value in ("evil.csv", "sub/outside.csv"):
        with pytest.raises(BenchmarkPathError, match="symlink") as e:
            resolve_benchmark_path(value, bench_dir)
        assert_refusal_names_folder(str(e.value), bench_dir)


@pytest.mark.parametrize("value", ["missing.csv", "medbrowsecomp", ""])
def test_missing_file_names_the_folder(bench_dir: Path, value: str) -> None:
    with pytest.raises((FileNotFoundError, BenchmarkPathError)) as e:
        resolve_benchmark_path(value, bench_dir)
    assert_refusal_names_folder(str(e.value), bench_dir)


def test_store_keys() -> None:
    assert benchmark_store_key("s3://kisa/benchmarks/x.csv", "s3://kisa/") == "benchmarks/x.csv"
    for value in ("s3://other/x.csv", "s3://kisa/", "s3://kisa/a/../x.csv", "s3://kisa/a/.."):
        with pytest.raises(BenchmarkPathError):
            benchmark_store_key(value, "s3://kisa/")


class FakeStore:
    """The three calls kisa_evaluate's benchmark lookup makes of the store."""

    def __init__(self, objects: dict[str, bytes]) -> None:
        self.objects = objects

    def uri(self, key: str) -> str:
        return f"s3://kisa/{key}"

    def exists(self, key: str) -> bool:
        return key in self.objects

    def get_bytes(self, key: str) -> bytes:
        return self.objects[key]


def test_evaluate_reads_only_safe_locations(bench_dir: Path, tmp_path: Path) -> None:
    from kisa_tasks.evaluation.stage import _benchmark_file

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    store: Any = FakeStore({"benchmarks/mbc.csv": b"question,answer\nQ,A\n"})
    copied = _benchmark_file(store, "s3://kisa/benchmarks/mbc.csv", bench_dir, scratch)
    assert copied == scratch / "mbc.csv" and copied.read_bytes() == b"question,answer\nQ,A\n"
    assert _benchmark_file(store, "x.csv", bench_dir, scratch) == bench_dir.resolve() / "x.csv"
    outside = str(bench_dir.parents[1] / "outside.csv")
    for value in (outside, "../outside.csv", "s3://kisa/a/../mbc.csv", "s3://other/mbc.csv"):
        with pytest.raises(BenchmarkPathError):
            _benchmark_file(store, value, bench_dir, scratch)
    with pytest.raises(FileNotFoundError, match="artefact store"):
        _benchmark_file(store, "s3://kisa/benchmarks/none.csv", bench_dir, scratch)
