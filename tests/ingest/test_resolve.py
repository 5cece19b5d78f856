"""Out-of-core ingest: staged files resolved with Arrow give exactly what the
in-memory rule (``latest_citations`` + ``partition_citations``) gives."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pyarrow as pa
import pytest

from kisa_tasks.artefacts import ArtefactStore, Partition
from kisa_tasks.ingest.abstracts import (
    latest_citations,
    partition_citations,
    to_tables,
)
from kisa_tasks.ingest.corpus import embedded_baseline_files
from kisa_tasks.ingest.files import parse_file
from kisa_tasks.ingest.medline import Citation, Deletion, MedlineReader
from kisa_tasks.ingest.resolve import live_citations
from kisa_tasks.ingest.stage import read_events, run_ingest
from kisa_tasks.settings import KisaSettings

from .test_medline import FOOTER, HEADER, article


def keys(rows: list[tuple[int, int, int]]) -> pa.Table:
    pmid, version, position = zip(*rows, strict=True) if rows else ((), (), ())
    return pa.table(
        {
            "pmid_int": pa.array(pmid, pa.int64()),
            "version": pa.array(version, pa.int32()),
            "position": pa.array(position, pa.int32()),
        }
    )


@pytest.mark.parametrize("seed", range(40))
def test_random_histories_resolve_like_the_in_memory_rule(seed: int) -> None:
    """Versions up and down, re-issues at the same version, deletions and
    PMIDs coming back after one, spread over three files."""
    rng = random.Random(seed)
    events: list[Citation | Deletion] = []
    per_file: list[tuple[list[tuple[int, int, int]], list[tuple[int, int]]]] = []
    for f in range(3):
        cites: list[tuple[int, int, int]] = []
        dels: list[tuple[int, int]] = []
        for position in range(rng.randint(0, 25)):
            pmid = rng.randint(1, 12)
            if rng.random() < 0.2:
                events.append(Deletion((str(pmid),), f"f{f}", position))
                dels.append((pmid, position))
            else:
                version = rng.randint(1, 3)
                events.append(
                    Citation(
                        str(pmid),
                        version,
                        "t",
                        "a",
                        "eng",
                        "j",
                        None,
                        None,
                        source=f"f{f}",
                        position=position,
                    )
                )
                cites.append((pmid, version, position))
        per_file.append((cites, dels))
    live = live_citations(
        [keys(c) for c, _ in per_file],
        [keys([(p, 0, pos) for p, pos in d]).select(["pmid_int", "position"]) for _, d in per_file],
    )
    expected, _ = latest_citations(events)
    got = {
        str(p): (f"f{f}", pos)
        for p, f, pos in zip(
            live.pmid.tolist(), live.file.tolist(), live.position.tolist(), strict=True
        )
    }
    assert got == {p: (c.source, c.position) for p, c in expected.items()}
    assert live.pmid.tolist() == sorted(live.pmid.tolist())


def write_updates(root: Path, pmids: list[str]) -> None:
    """Two update files over real PMIDs of the 2021 baseline file: a new
    version, a re-issue at the same version, a deletion, a deletion then a
    comeback, a new record and a version that loses to the baseline's."""
    a, b, c, d, e = pmids[:5]
    u1 = article(a, version="2", abstract="Version two.") + article(b, abstract="Reissued.")
    u1 += f'<DeleteCitation><PMID Version="1">{c}</PMID><PMID Version="1">{d}</PMID>'
    u1 += "</DeleteCitation>" + article("99999001", year="2003")
    (root / "pubmed21n9001.xml").write_text(HEADER + u1 + FOOTER)
    u2 = article(d, abstract="Back after its deletion.") + article(a, version="1")
    u2 += article(e, language="fre")
    (root / "pubmed21n9002.xml").write_text(HEADER + u2 + FOOTER)


@pytest.mark.parametrize(
    ("specialty", "limit", "window"),
    [
        ("cardiology", None, None),
        ("oncology", 40, None),
        ("neurology", None, ("1990-01-01", "2025-01-01")),
    ],
)
def test_staged_ingest_commits_what_the_in_memory_rule_selects(
    settings: KisaSettings,
    tmp_path_factory: pytest.TempPathFactory,
    specialty: str,
    limit: int | None,
    window: tuple[str, str] | None,
) -> None:
    corpus = tmp_path_factory.getbasetemp() / "resolve-corpus"
    if not corpus.exists():
        corpus.mkdir()
        [real] = [p for p in embedded_baseline_files() if "21n" in p.name]
        (corpus / real.name).symlink_to(real)
        firsts = itertools.islice((e for e in MedlineReader(real) if isinstance(e, Citation)), 40)
        write_updates(corpus, [c.pmid for c in firsts if c.abstract][:5])
    run = f"resolve-{specialty}"
    result = run_ingest(settings, specialty=specialty, run_id=run, max_abstracts=limit,
                        corpus=str(corpus), window=window)  # fmt: skip

    live, malformed = latest_citations(read_events(sorted(corpus.iterdir())))
    store = ArtefactStore.from_settings(settings)
    for name, picked in (
        (specialty, partition_citations(live, malformed, specialty, limit, window)),
        ("all", partition_citations(live, malformed, None)),
    ):
        partition = Partition("abstracts", name, run)
        expected = pa.concat_tables(list(to_tables(picked.kept)))
        assert store.read(partition).equals(expected), name
        rejected = store.read_rejected(partition).to_pylist()
        assert [(r["record_key"], r["reason"]) for r in rejected] == [
            (r.record_key, r.reason) for r in picked.rejections
        ]
        if name == specialty:
            assert result["counts"] == dict(picked.counts) | {
                "corpus_kept": store.read(Partition("abstracts", "all", run)).num_rows
            }
    assert result["counts"]["kept"] > 0


def test_a_staged_file_is_sorted_by_pmid_and_keeps_every_record(tmp_path: Path) -> None:
    body = article("30") + article("4") + article("30", version="2") + article("x")
    body += '<DeleteCitation><PMID Version="1">4</PMID></DeleteCitation>'
    path = tmp_path / "f.xml"
    path.write_text(HEADER + body + FOOTER)
    staged = parse_file(path)
    assert staged.citations.column("pmid").to_pylist() == ["4", "30", "30"]
    assert staged.citations.column("position").to_pylist() == [1, 0, 2]
    assert staged.deletions.to_pylist() == [{"pmid_int": 4, "position": 4}]
    assert [r["reason"] for r in staged.malformed.to_pylist()] == ["PMID 'x' is not numeric"]
