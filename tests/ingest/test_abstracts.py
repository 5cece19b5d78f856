"""The abstracts stage: update semantics, rejections with reasons, specialties,
and the committed partition on the real S3 server."""

from __future__ import annotations

from pathlib import Path

from kisa_tasks.artefacts import ArtefactStore, Partition
from kisa_tasks.ingest.abstracts import (
    ABSTRACTS_SCHEMA,
    latest_citations,
    rejection_reason,
    select_abstracts,
    to_tables,
)
from kisa_tasks.ingest.medline import Citation, Deletion, Malformed, MeshHeading
from kisa_tasks.ingest.stage import read_events, run_ingest
from kisa_tasks.settings import KisaSettings

from .test_medline import FOOTER, HEADER, article

HEART_FAILURE = MeshHeading("D006333", "Heart Failure", True, ("drug therapy",))
BRAIN_NEOPLASMS = MeshHeading("D001932", "Brain Neoplasms", True, ())


def cite(
    pmid: str,
    version: int = 1,
    abstract: str = "Text.",
    language: str = "eng",
    mesh: tuple[MeshHeading, ...] = (HEART_FAILURE,),
    source: str = "f1",
) -> Citation:
    return Citation(
        pmid=pmid,
        version=version,
        title="T",
        abstract=abstract,
        language=language,
        journal="J",
        pub_year=2000,
        pub_date="2000",
        mesh=mesh,
        source=source,
    )


def test_newer_versions_replace_and_deletions_withdraw() -> None:
    events = [
        cite("1"),
        cite("2"),
        cite("3"),
        cite("2", version=2, abstract="Corrected.", source="update1"),
        Deletion(pmids=("3",), source="update1", position=9),
        cite("1", source="update2"),  # duplicate PMID across files: the later copy wins
    ]
    live, rejected = latest_citations(events)
    assert sorted(live) == ["1", "2"]
    assert live["2"].abstract == "Corrected." and live["1"].source == "update2"
    assert rejected == []


def test_a_deleted_pmid_can_come_back_in_a_later_file() -> None:
    live, _ = latest_citations([cite("5"), Deletion(("5",), "u1", 0), cite("5", source="u2")])
    assert live["5"].source == "u2"


def test_each_unusable_record_has_its_reason() -> None:
    assert rejection_reason(cite("1", abstract="   ")) == "empty abstract"
    assert rejection_reason(cite("1", language="fre")) == "not English (language=fre)"
    reason = rejection_reason(cite("1", abstract="x" * 1_000_000))
    assert reason is not None and "longer than" in reason
    assert rejection_reason(cite("1")) is None


def test_selection_keeps_the_specialty_and_rejects_with_reasons() -> None:
    events = [
        cite("10"),
        cite("11", mesh=(BRAIN_NEOPLASMS,)),
        cite("12", abstract=""),
        cite("13", language="ger"),
        Malformed(reason="PMID 'x' is not numeric", source="f1", position=4),
        cite("14"),
    ]
    result = select_abstracts(events, "cardiology", limit=None)
    assert [c.pmid for c in result.kept] == ["10", "14"]
    reasons = sorted(r.reason for r in result.rejections)
    assert reasons == [
        "empty abstract",
        "malformed: PMID 'x' is not numeric",
        "not English (language=ger)",
    ]
    assert result.counts["other_specialties"] == 1
    neuro = select_abstracts(events, "neurology", limit=None)
    assert [c.pmid for c in neuro.kept] == ["11"]


def test_limit_takes_the_lowest_pmids_deterministically() -> None:
    events = [cite(str(p)) for p in (30, 4, 100, 7)]
    assert [c.pmid for c in select_abstracts(events, "cardiology", 2).kept] == ["4", "7"]


def test_rows_carry_tree_numbers_and_every_specialty() -> None:
    [table] = to_tables([cite("1", mesh=(HEART_FAILURE, BRAIN_NEOPLASMS))])
    assert table.schema.equals(ABSTRACTS_SCHEMA)
    row = table.to_pylist()[0]
    assert "C14.280.434" in row["tree_numbers"]
    assert {"cardiology", "neurology", "oncology"} <= set(row["specialties"])
    assert row["mesh"][0]["qualifiers"] == ["drug therapy"]


def write_corpus(root: Path) -> Path:
    root.mkdir()
    body1 = "".join(article(str(p)) for p in (101, 102, 103)) + article(
        "104", abstract="", results=""
    )
    (root / "pubmed99n0001.xml").write_text(HEADER + body1 + FOOTER)
    body2 = article("102", version="2", abstract="Version two.") + article("105", language="spa")
    body2 += '<DeleteCitation><PMID Version="1">103</PMID></DeleteCitation>'
    (root / "pubmed99n0002.xml").write_text(HEADER + body2 + "<PubmedArticle>")
    return root


def test_ingest_commits_a_partition_and_a_rerun_is_identical(
    settings: KisaSettings, tmp_path: Path
) -> None:
    corpus = write_corpus(tmp_path / "corpus")
    first = run_ingest(
        settings, specialty="cardiology", run_id="ingest_t1", max_abstracts=None, corpus=str(corpus)
    )
    store = ArtefactStore.from_settings(settings)
    part = Partition("abstracts", "cardiology", "ingest_t1")
    table = store.read(part)
    assert table.column("pmid").to_pylist() == ["101", "102"]
    assert table.column("abstract").to_pylist()[1] == "BACKGROUND: Version two. RESULTS: It worked."
    reasons = sorted(r["reason"].split(":")[0] for r in store.read_rejected(part).to_pylist())
    assert reasons == ["empty abstract", "malformed", "not English (language=spa)"]
    assert first["counts"]["kept"] == 2
    # The whole usable corpus is committed too, as the reference for rarity.
    whole = store.read(Partition("abstracts", "all", "ingest_t1"))
    assert whole.column("pmid").to_pylist() == ["101", "102"]  # all are cardiology here

    second = run_ingest(
        settings, specialty="cardiology", run_id="ingest_t1", max_abstracts=None, corpus=str(corpus)
    )
    assert second["counts"] == first["counts"]
    assert store.read(part).equals(table)


def test_events_are_read_in_file_order(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "c")
    sources = [e.source for e in read_events(sorted(corpus.iterdir()))]
    assert sources.index("pubmed99n0002.xml") > sources.index("pubmed99n0001.xml")
