"""PubMed, openFDA and ClinicalTrials.gov adapters on recorded responses
(tests/fixtures/recorded, see SOURCES.md there), served by a local replay
server that can also fail: never the live services."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fakes.replay_server import ReplayServer

from kisa_tasks.retrieval.adapters import (
    ClinicalTrialsSource,
    OpenFDALabelSource,
    PubMedSource,
    ctgov_hits,
    efetch_hits,
    esearch_ids,
    openfda_hits,
    pubmed_term,
    search_sources,
)
from kisa_tasks.retrieval.http import SourceError
from kisa_tasks.retrieval.index import SearchFilters
from kisa_tasks.settings import load_settings

RECORDED = Path(__file__).parent.parent / "fixtures" / "recorded"


def _read(name: str) -> bytes:
    return (RECORDED / name).read_bytes()


def test_esearch_ids_from_json_and_xml() -> None:
    assert esearch_ids(_read("eutils_esearch_pubmed.json").decode()) == [
        "32150788",
        "29373119",
        "17427195",
    ]
    ids = esearch_ids(_read("eutils_esearch_pubmed.xml").decode())
    assert len(ids) == 20 and ids[0] == "41282813"
    assert len(esearch_ids(_read("eutils_esearch_pubmed_errorlist.json").decode())) == 100


def test_efetch_records_become_hits_in_rank_order() -> None:
    hits = efetch_hits(_read("eutils_efetch_pubmed.xml"), ranked=["9997", "12091962"])
    assert [h.doc_id for h in hits] == ["9997", "12091962"]
    assert hits[0].snippet and hits[0].title and hits[0].source == "pubmed"
    assert hits[0].score > hits[1].score
    assert hits[1].snippet == ""  # that record has no abstract: nothing is made up


def test_openfda_and_ctgov_bodies_become_hits() -> None:
    [label] = openfda_hits(_read("openfda_drug_label.json").decode())
    assert label.doc_id == "0000025c-6dbf-4af7-a741-5cbacaed519a" and label.pub_year == 2015
    assert label.source == "openfda" and label.title
    studies = ctgov_hits(_read("ctgov_v2_studies.json").decode())
    assert len(studies) == 3 and studies[0].doc_id == "NCT05431270"
    assert studies[0].pub_year == 2022 and "MORNINGSTAR" in studies[0].title
    [single] = ctgov_hits(_read("ctgov_v2_study_NCT02576665.json").decode())
    assert single.doc_id == "NCT02576665" and single.snippet


def test_pubmed_term_carries_the_year_filter() -> None:
    assert pubmed_term("digoxin", None) == "digoxin"
    assert pubmed_term("digoxin", SearchFilters(year_from=1976, year_to=1979)) == (
        '(digoxin) AND ("1976"[dp] : "1979"[dp])'
    )


def test_pubmed_retries_a_rate_limit_then_fetches_the_ranked_records() -> None:
    with ReplayServer() as server:
        server.answer("/esearch.fcgi", _read("eutils_error_rate_limit.json"))  # 200 + error body
        server.answer("/esearch.fcgi", b'{"error": "busy"}', status=429)
        server.answer("/esearch.fcgi", _read("eutils_esearch_pubmed.json"))
        server.answer("/efetch.fcgi", _read("eutils_efetch_pubmed.xml"), ctype="text/xml")
        source = PubMedSource.create("k3y", base_url=server.url, backoff_s=0.01)
        hits = source.search("PTEN D326N", k=5)
        paths = [path for path, _ in server.requests]
    assert paths == ["/esearch.fcgi"] * 3 + ["/efetch.fcgi"]
    _, fetch = server.requests[-1]
    assert fetch["id"] == ["32150788,29373119,17427195"] and fetch["api_key"] == ["k3y"]
    assert {h.doc_id for h in hits} == {"9997", "12091962"}  # what the recording returned


def test_a_source_that_keeps_failing_names_itself_and_hides_the_key() -> None:
    with ReplayServer() as server:
        for _ in range(3):
            server.answer("/drug/label.json", b"oops", status=500)
        source = OpenFDALabelSource.create(
            "s3cret", base_url=server.url, max_attempts=3, backoff_s=0.01
        )
        with pytest.raises(SourceError, match="openfda: gave up after 3 attempts") as err:
            source.search("aspirin")
    assert "s3cret" not in str(err.value)


def test_the_api_key_reaches_the_service_and_no_log_line_or_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    key = "k3y-never-logged"
    # Every logger at its most verbose, whatever other code set them to: ours,
    # httpx's request lines, httpcore's wire events.
    for name in (None, "httpx", "httpcore", "kisa_tasks"):
        caplog.set_level(logging.DEBUG, logger=name)
    with ReplayServer() as server:
        server.answer("/esearch.fcgi", b'{"error": "busy"}', status=429)
        server.answer("/esearch.fcgi", _read("eutils_esearch_pubmed.json"))
        server.answer("/efetch.fcgi", _read("eutils_efetch_pubmed.xml"), ctype="text/xml")
        # NCBI echoes a bad key in its error body.
        echo = f'{{"error": "API key invalid", "api-key": "{key}"}}'
        server.answer("/esearch.fcgi", echo.encode(), status=400)
        source = PubMedSource.create(key, base_url=server.url, backoff_s=0.01)
        source.search("digoxin", k=5)
        with pytest.raises(SourceError) as err:
            source.search("digoxin", k=5)
    assert all(query.get("api_key") == [key] for _, query in server.requests)
    lines = [r.getMessage() for r in caplog.records]
    assert any("HTTP Request: GET" in line for line in lines)  # httpx logged each request
    assert not [line for line in lines if key in line]
    assert key not in str(err.value) and "API key invalid" in str(err.value)


def test_openfda_and_ctgov_requests() -> None:
    with ReplayServer() as server:
        server.answer("/drug/label.json", _read("openfda_drug_label.json"))
        server.answer("/studies", _read("ctgov_v2_studies.json"))
        labels = OpenFDALabelSource.create(base_url=server.url).search("aspirin", k=1)
        trials = ClinicalTrialsSource.create(base_url=server.url).search(
            "Keytruda", k=3, filters=SearchFilters(year_from=2020)
        )
        (_, fda), (_, ct) = server.requests
    assert fda == {"search": ['"aspirin"'], "limit": ["1"]} and len(labels) == 1
    assert ct["query.term"] == ["Keytruda"] and ct["pageSize"] == ["3"]
    assert ct["filter.advanced"] == ["AREA[StartDate]RANGE[2020-01-01,MAX]"]
    assert trials[0].doc_id == "NCT05431270"


def test_sources_take_their_keys_from_settings(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path, sources={"ncbi_api_key": "abc"})
    sources = search_sources(settings)
    assert set(sources) == {"pubmed", "openfda", "clinicaltrials"}
    pubmed = sources["pubmed"]
    assert isinstance(pubmed, PubMedSource) and pubmed.http.api_key == "abc"
    assert pubmed.http.rate_per_s == 10.0  # NCBI's limit with a key


def test_medical_search_asks_pubmed_when_configured_and_the_corpus_otherwise(
    tmp_path: Path,
) -> None:
    import pyarrow as pa
    from records import citation

    from kisa_tasks.agent.stage import corpus_toolbox
    from kisa_tasks.ingest.abstracts import to_tables
    from kisa_tasks.retrieval.adapters import medical_search_source
    from kisa_tasks.retrieval.index import CorpusIndex

    corpus = CorpusIndex.build(pa.concat_tables(list(to_tables([
        citation("10", "Digoxin toxicity", "Serum levels were measured in the elderly."),
        citation("11", "PTEN variants", "PTEN D326N in a corpus abstract."),
    ]))))  # fmt: skip
    documents = {"10": ("Digoxin toxicity", "Serum levels ...")}
    default = load_settings(home=tmp_path)
    assert medical_search_source(default, corpus) is corpus
    with ReplayServer() as server:
        server.answer("/esearch.fcgi", _read("eutils_esearch_pubmed.json"))
        server.answer("/efetch.fcgi", _read("eutils_efetch_pubmed.xml"), ctype="text/xml")
        pubmed = {"medical_search": "pubmed", "eutils_url": server.url, "ncbi_api_key": "k3y"}
        settings = load_settings(home=tmp_path, sources=pubmed)
        toolbox = corpus_toolbox(corpus, documents, medical_search_source(settings, corpus))
        found = toolbox.call("medical_search", {"query": "PTEN D326N"})
        local = toolbox.call("search", {"query": "PTEN D326N"})
    assert found.ok and [p for p, _ in server.requests] == ["/esearch.fcgi", "/efetch.fcgi"]
    assert "12091962" in found.output and "9997" in found.output  # PubMed's records
    assert "11" in local.output and "12091962" not in local.output  # search: the corpus
