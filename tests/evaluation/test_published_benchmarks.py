"""The benchmark files vendored as their projects publish them
(``benchmarks/data/``, see its SOURCES.md) load through ``load_benchmark``
with the kind inferred, every row readable. Pure: reads only those files.
(MedBrowseComp's files carry no licence, so they are fetched by the user, not
vendored; ``test_benchmarks.py`` reads files built in their published
encoding, header included.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from kisa_tasks.evaluation.benchmarks import (
    BenchmarkItem,
    infer_kind,
    load_benchmark,
    resolve_benchmark_path,
)

DATA = Path(__file__).resolve().parents[2] / "benchmarks" / "data"

# relative path -> (kind, rows, bytes of the published file)
PUBLISHED = {
    "xbench/DeepSearch.csv": ("xbench", 100, 84004),
    "xbench/DeepSearch-2510.csv": ("xbench", 100, 96848),
}


def _printable(text: str) -> bool:
    return all(c.isprintable() or c.isspace() for c in text)


@pytest.fixture(scope="module", params=sorted(PUBLISHED))
def published(request: pytest.FixtureRequest) -> tuple[str, Path, list[BenchmarkItem]]:
    name = request.param
    path = resolve_benchmark_path(name, DATA)  # how kisa_evaluate finds it
    return name, path, load_benchmark(path)


def test_every_published_file_is_listed() -> None:
    on_disk = {p.relative_to(DATA).as_posix() for p in DATA.glob("xbench/*.csv")}
    assert on_disk == set(PUBLISHED)
    assert (DATA / "SOURCES.md").is_file()


def test_file_is_the_published_size(published: tuple[str, Path, list[BenchmarkItem]]) -> None:
    name, path, _ = published
    assert path.stat().st_size == PUBLISHED[name][2]


def test_kind_is_inferred(published: tuple[str, Path, list[BenchmarkItem]]) -> None:
    name, path, items = published
    kind = PUBLISHED[name][0]
    assert infer_kind(path) == kind
    assert {item.source for item in items} == {kind}


def test_every_row_loads(published: tuple[str, Path, list[BenchmarkItem]]) -> None:
    name, _, items = published
    assert len(items) == PUBLISHED[name][1]


def test_ids_are_unique(published: tuple[str, Path, list[BenchmarkItem]]) -> None:
    _, _, items = published
    ids = [item.item_id for item in items]
    assert all(ids)
    assert len(set(ids)) == len(ids)


def test_questions_and_answers_are_printable_text(
    published: tuple[str, Path, list[BenchmarkItem]],
) -> None:
    _, _, items = published
    for item in items:
        assert item.question.strip(), item.item_id
        assert item.answer.strip(), item.item_id
        assert _printable(item.question), item.item_id
        assert _printable(item.answer), item.item_id
