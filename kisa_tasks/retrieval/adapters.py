"""Production search sources behind the same ``search(query, k, filters)``
interface as the corpus index: NCBI E-utilities (PubMed), openFDA drug labels
and ClinicalTrials.gov (API v2).

Each adapter is two pure halves around ``HttpSource``: request parameters
from the query, and hits from the response body (tested on recorded
responses under ``tests/fixtures/recorded``). Scores are rank-based
(1 / rank): the services rank, we do not re-score them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from lxml import etree

from kisa_tasks.ingest.medline import MalformedRecordError, parse_article
from kisa_tasks.retrieval.http import HttpSource
from kisa_tasks.retrieval.index import SNIPPET_CHARS, SearchFilters, SearchHit
from kisa_tasks.settings import KisaSettings


class SearchSource(Protocol):
    def search(
        self, query: str, k: int = 10, filters: SearchFilters | None = None
    ) -> list[SearchHit]: ...


def snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SNIPPET_CHARS else text[:SNIPPET_CHARS].rsplit(" ", 1)[0] + " ..."


def _year(text: str | None) -> int | None:
    return int(text[:4]) if text and text[:4].isdigit() else None


# -- PubMed (NCBI E-utilities) -----------------------------------------------------
EUTILS_URL = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils"
# NCBI allows 3 requests/s without a key and 10 with one.
PUBMED_RATE, PUBMED_RATE_WITH_KEY = 3.0, 10.0
_XML = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def pubmed_term(query: str, filters: SearchFilters | None) -> str:
    term = query
    if filters and (filters.year_from is not None or filters.year_to is not None):
        start = filters.year_from if filters.year_from is not None else 1800
        end = filters.year_to if filters.year_to is not None else 3000
        term = f'({term}) AND ("{start}"[dp] : "{end}"[dp])'
    return term


def esearch_ids(body: str) -> list[str]:
    """PMIDs of an esearch answer, JSON or XML, in the service's rank order."""
    if body.lstrip().startswith("{"):
        data = json.loads(body)
        return [str(i) for i in data["esearchresult"]["idlist"]]
    root = etree.fromstring(body.encode(), _XML)
    return [(e.text or "").strip() for e in root.iterfind("IdList/Id") if (e.text or "").strip()]


def efetch_hits(body: bytes, ranked: Sequence[str]) -> list[SearchHit]:
    """Hits from an efetch PubmedArticleSet: in esearch rank order, records the
    ranking did not name after them; a broken record is skipped, not guessed."""
    root = etree.fromstring(body, _XML)
    citations = []
    for position, article in enumerate(root.iterfind("PubmedArticle")):
        try:
            citations.append(parse_article(article, "efetch", position))
        except MalformedRecordError:
            continue
    rank = {pmid: i for i, pmid in enumerate(ranked)}
    citations.sort(key=lambda c: (rank.get(c.pmid, len(rank)), c.position))
    return [
        SearchHit(c.pmid, round(1 / (i + 1), 6), c.title, snippet(c.abstract), c.pub_year, "pubmed")
        for i, c in enumerate(citations)
    ]


def _ncbi_error(response: httpx.Response) -> str | None:
    # NCBI answers a rate-limit breach with 200 and {"error": "API rate limit exceeded"}.
    if response.headers.get("content-type", "").startswith("application/json"):
        try:
            data = response.json()
        except ValueError:
            return None
        if isinstance(data, dict) and "error" in data and "esearchresult" not in data:
            return f"NCBI error: {data['error']}"
    return None


@dataclass
class PubMedSource:
    http: HttpSource

    @classmethod
    def create(
        cls, api_key: str | None = None, base_url: str = EUTILS_URL, **kw: Any
    ) -> PubMedSource:
        rate = PUBMED_RATE_WITH_KEY if api_key else PUBMED_RATE
        return cls(HttpSource("pubmed", base_url, rate, api_key, error_in_body=_ncbi_error, **kw))

    def search(
        self, query: str, k: int = 10, filters: SearchFilters | None = None
    ) -> list[SearchHit]:
        found = self.http.get(
            "/esearch.fcgi",
            {"db": "pubmed", "term": pubmed_term(query, filters), "retmax": k, "retmode": "json"},
        )
        ids = esearch_ids(found.text)[:k]
        if not ids:
            return []
        fetched = self.http.get(
            "/efetch.fcgi", {"db": "pubmed", "id": ",".join(ids), "retmode": "xml"}
        )
        return efetch_hits(fetched.content, ids)[:k]


# -- openFDA drug labels -----------------------------------------------------------
OPENFDA_URL = "https://api.fda.gov"
# openFDA: 240 requests/min without a key, 240/min and 120k/day with one.
OPENFDA_RATE = 4.0


def openfda_hits(body: str) -> list[SearchHit]:
    data = json.loads(body)
    hits = []
    for i, label in enumerate(data.get("results", [])):
        names = label.get("openfda", {})
        title = ", ".join((names.get("brand_name") or names.get("generic_name") or ["unnamed"])[:3])
        text = " ".join((label.get("indications_and_usage") or label.get("purpose") or [""])[:1])
        hits.append(
            SearchHit(
                label.get("set_id") or label.get("id", ""),
                round(1 / (i + 1), 6),
                title,
                snippet(text),
                _year(label.get("effective_time")),
                "openfda",
            )
        )
    return hits


@dataclass
class OpenFDALabelSource:
    http: HttpSource

    @classmethod
    def create(
        cls, api_key: str | None = None, base_url: str = OPENFDA_URL, **kw: Any
    ) -> OpenFDALabelSource:
        return cls(HttpSource("openfda", base_url, OPENFDA_RATE, api_key, **kw))

    def search(
        self, query: str, k: int = 10, filters: SearchFilters | None = None
    ) -> list[SearchHit]:
        # openFDA's own query syntax; a plain phrase searches every label field.
        response = self.http.get("/drug/label.json", {"search": f'"{query}"', "limit": k})
        return openfda_hits(response.text)[:k]


# -- ClinicalTrials.gov (API v2) ---------------------------------------------------
CTGOV_URL = "https://clinicaltrials.gov/api/v2"
CTGOV_RATE = 5.0  # the service asks for about 50 requests a minute at most per client


def ctgov_hits(body: str) -> list[SearchHit]:
    data = json.loads(body)
    studies = data.get("studies") or ([data] if "protocolSection" in data else [])
    hits = []
    for i, study in enumerate(studies):
        section = study.get("protocolSection", {})
        ident = section.get("identificationModule", {})
        summary = section.get("descriptionModule", {}).get("briefSummary", "")
        start = section.get("statusModule", {}).get("startDateStruct", {}).get("date")
        hits.append(
            SearchHit(
                ident.get("nctId", ""),
                round(1 / (i + 1), 6),
                ident.get("briefTitle", ""),
                snippet(summary),
                _year(start),
                "clinicaltrials",
            )
        )
    return hits


@dataclass
class ClinicalTrialsSource:
    http: HttpSource

    @classmethod
    def create(cls, base_url: str = CTGOV_URL, **kw: Any) -> ClinicalTrialsSource:
        return cls(HttpSource("clinicaltrials", base_url, CTGOV_RATE, None, **kw))

    def search(
        self, query: str, k: int = 10, filters: SearchFilters | None = None
    ) -> list[SearchHit]:
        params: dict[str, Any] = {"query.term": query, "pageSize": k, "format": "json"}
        if filters and filters.year_from is not None:
            params["filter.advanced"] = f"AREA[StartDate]RANGE[{filters.year_from}-01-01,MAX]"
        response = self.http.get("/studies", params)
        return ctgov_hits(response.text)[:k]


def medical_search_source(settings: KisaSettings, corpus: SearchSource) -> SearchSource:
    """What ``medical_search`` searches (``KISA_SOURCES__MEDICAL_SEARCH``): the
    run's ``corpus`` index, or PubMed with the configured key and its limits."""
    if settings.sources.medical_search == "corpus":
        return corpus
    return search_sources(settings)["pubmed"]


def search_sources(settings: KisaSettings) -> dict[str, SearchSource]:
    """The production sources with the configured keys (``KISA_SOURCES__*``)."""
    keys = settings.sources
    ncbi = keys.ncbi_api_key.get_secret_value() if keys.ncbi_api_key else None
    fda = keys.openfda_api_key.get_secret_value() if keys.openfda_api_key else None
    return {
        "pubmed": PubMedSource.create(ncbi, base_url=settings.sources.eutils_url),
        "openfda": OpenFDALabelSource.create(fda),
        "clinicaltrials": ClinicalTrialsSource.create(),
    }
