"""The corpus search engine: BM25 with field boosts and filters, persisted on
S3 with a local cache and rebuilt only when the abstracts change."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from records import citation

from kisa_tasks.artefacts import ArtefactStore, Partition
from kisa_tasks.ingest.abstracts import to_tables
from kisa_tasks.ingest.medline import MeshHeading
from kisa_tasks.retrieval.index import CorpusIndex, SearchFilters
from kisa_tasks.retrieval.store import ensure_index
from kisa_tasks.settings import KisaSettings

ONCOLOGY = MeshHeading("D002289", "Carcinoma, Non-Small-Cell Lung", True, ())


def _table() -> pa.Table:
    cites = [
        citation("10", "Digoxin toxicity", "Serum levels were measured in the elderly."),
        citation("11", "Heart failure outcomes", "Digoxin was given to a few patients."),
        citation("12", "Warfarin and stroke", "Anticoagulation after atrial fibrillation."),
        replace(
            citation("13", "Tumour growth", "Digoxin slowed tumour growth in mice."),
            pub_year=1977,
            mesh=(ONCOLOGY,),
        ),
        citation("14", "Unrelated", "Nothing to see here."),
    ]
    return pa.concat_tables(list(to_tables(cites)))


@pytest.fixture(scope="module")
def index() -> CorpusIndex:
    return CorpusIndex.build(_table())


def test_a_title_match_outranks_the_same_word_in_an_abstract(index: CorpusIndex) -> None:
    hits = index.search("digoxin", k=10)
    assert hits[0].doc_id == "10"
    assert {h.doc_id for h in hits} == {"10", "11", "13"}  # only documents that match
    assert hits == sorted(hits, key=lambda h: -h.score)


def test_mesh_headings_are_searchable(index: CorpusIndex) -> None:
    assert [h.doc_id for h in index.search("carcinoma")] == ["13"]


def test_filters_by_year_and_specialty(index: CorpusIndex) -> None:
    assert [h.doc_id for h in index.search("digoxin", filters=SearchFilters(year_to=1980))] == [
        "13"
    ]
    late = index.search("digoxin", filters=SearchFilters(year_from=2000))
    assert {h.doc_id for h in late} == {"10", "11"}
    onc = index.search("digoxin", filters=SearchFilters(specialty="oncology"))
    assert [h.doc_id for h in onc] == ["13"]


def test_no_terms_or_no_match_give_no_hits(index: CorpusIndex) -> None:
    assert index.search("the of and") == []
    assert index.search("zebrafishology") == []
    assert index.search("digoxin", k=0) == []


def test_equal_scores_are_ordered_by_pmid() -> None:
    same = [citation(p, "Same title", "Same abstract about digoxin.") for p in ("7", "3", "5")]
    index = CorpusIndex.build(pa.concat_tables(list(to_tables(same))))
    assert [h.doc_id for h in index.search("digoxin")] == ["3", "5", "7"]


def test_index_is_built_once_kept_on_s3_and_cached(settings: KisaSettings, tmp_path: Path) -> None:
    store = ArtefactStore.from_settings(settings)
    partition = Partition("abstracts", "cardiology", "index_t1")
    store.write(partition, [_table()])
    first = ensure_index(store, partition, tmp_path / "cache_a")
    again = ensure_index(store, partition, tmp_path / "cache_a")
    elsewhere = ensure_index(store, partition, tmp_path / "cache_b")
    assert (first.origin, again.origin, elsewhere.origin) == ("built", "cache", "s3")
    assert first.uri == elsewhere.uri and first.uri.startswith("s3://")
    query = "digoxin heart"
    assert first.index.search(query) == elsewhere.index.search(query) == again.index.search(query)
    # Other abstracts, another index.
    store.write(Partition("abstracts", "cardiology", "index_t2"), [_table().slice(0, 3)])
    other = ensure_index(store, Partition("abstracts", "cardiology", "index_t2"), tmp_path / "c")
    assert other.origin == "incremental" and other.uri != first.uri


def _updated_table() -> pa.Table:
    """``_table()`` after an update: 11 revised, 14 deleted, 15 and 16 new."""
    kept = _table().filter(pc.is_in(pc.field("pmid"), pa.array(["10", "12", "13"])))
    cites = [
        citation("11", "Heart failure outcomes", "Ivabradine was given to a few patients."),
        citation("15", "Ivabradine in angina", "Heart rate fell with ivabradine."),
        citation("16", "Digoxin levels", "Renal failure raised digoxin levels."),
    ]
    return pa.concat_tables([kept, *to_tables(cites)])


QUERIES = ("digoxin", "ivabradine heart", "nothing to see", "atrial fibrillation", "renal")


def test_an_incremental_build_indexes_only_what_changed_and_matches_a_full_one(
    tmp_path: Path,
) -> None:
    CorpusIndex.build(_table(), tmp_path / "previous")
    incremental = CorpusIndex.build(
        _updated_table(), tmp_path / "incremental", previous=tmp_path / "previous"
    )
    full = CorpusIndex.build(_updated_table(), tmp_path / "full")
    assert (incremental.reused, full.reused) == (3, 0)  # 10, 12, 13 unchanged
    assert incremental.params == full.params
    # The same documents match; the scores may differ, as in Lucene: the
    # BM25 statistics count a replaced or deleted document until tantivy
    # merges its segment away.
    for query in QUERIES:
        assert {h.doc_id for h in incremental.search(query)} == {
            h.doc_id for h in full.search(query)
        }
    assert "14" not in {h.doc_id for h in incremental.search("nothing to see")}
    assert [h.doc_id for h in incremental.search("ivabradine")][:1] == ["15"]
    revised = incremental.search("ivabradine", filters=SearchFilters(specialty="cardiology"))
    assert "11" in {h.doc_id for h in revised}


def test_an_incremental_build_of_added_documents_equals_a_full_one(tmp_path: Path) -> None:
    table = _updated_table()
    CorpusIndex.build(table.slice(0, 4), tmp_path / "previous")
    incremental = CorpusIndex.build(table, tmp_path / "incremental", previous=tmp_path / "previous")
    full = CorpusIndex.build(table, tmp_path / "full")
    assert incremental.reused == 4
    for query in QUERIES:
        assert incremental.search(query) == full.search(query)


def test_a_new_corpus_reuses_the_last_index_through_s3(
    settings: KisaSettings, tmp_path: Path
) -> None:
    store = ArtefactStore.from_settings(settings)
    old = Partition("abstracts", "cardiology", "index_inc1")
    new = Partition("abstracts", "cardiology", "index_inc2")
    store.write(old, [_table()])
    store.write(new, [_updated_table()])
    ensure_index(store, old, tmp_path / "cache_a")
    # Another worker, with an empty cache: the previous index comes from S3.
    updated = ensure_index(store, new, tmp_path / "cache_b")
    assert updated.origin == "incremental" and updated.index.reused == 3
    fresh = CorpusIndex.build(_updated_table())
    for query in QUERIES:  # the same documents (scores: see the test above)
        assert {h.doc_id for h in updated.index.search(query)} == {
            h.doc_id for h in fresh.search(query)
        }
