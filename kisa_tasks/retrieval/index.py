"""The corpus search engine (the paper's private medical search): BM25 over
the committed abstracts with field boosts and filters.

Three BM25 indexes (``bm25s``) over the title, the MeSH heading names and the
abstract; a document's score is their boosted sum (BM25F-style, so a title
or MeSH match counts more than the same word deep in an abstract). Filters
(publication years, specialty) are boolean masks applied before the top-k.
Ties go to the smaller PMID, so the same query gives the same hits.

An index is saved to a directory (``save``/``load``) and keyed by a
fingerprint of the abstracts it was built from; ``retrieval.store`` keeps it
on S3 with a local cache and builds it only when the abstracts changed.

Rebuilds are incremental where that keeps the index exact: each index keeps
every document's tokens with a digest of its text, and a rebuild tokenises
only the documents that are new or changed since the previous index. The
BM25 weights themselves are recomputed, because every added document changes
the corpus statistics (IDF, mean length) that all scores depend on; an
incremental build is therefore equal to a full one, not an approximation.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

FIELDS = ("title", "mesh", "abstract")
DEFAULT_BOOSTS = {"title": 2.0, "mesh": 1.5, "abstract": 1.0}
META_FILE = "documents.parquet"
TOKENS_FILE = "tokens.parquet"
PARAMS_FILE = "index.json"
SNIPPET_CHARS = 300


@dataclass(frozen=True)
class SearchFilters:
    year_from: int | None = None
    year_to: int | None = None
    specialty: str | None = None


@dataclass(frozen=True)
class SearchHit:
    """One result of any search source; ``doc_id`` is a PMID for the corpus
    and PubMed, an NCT id for ClinicalTrials.gov, a label set id for openFDA."""

    doc_id: str
    score: float
    title: str
    snippet: str
    pub_year: int | None
    source: str = "corpus"


@dataclass(frozen=True)
class IndexParams:
    fingerprint: str
    documents: int
    boosts: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_BOOSTS))


TOKENS_SCHEMA = pa.schema(
    [("pmid", pa.string()), ("digest", pa.string())]
    + [(name, pa.list_(pa.string())) for name in FIELDS]
)


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    import bm25s

    tokens: list[list[str]] = bm25s.tokenize(
        list(texts), stopwords="en", return_ids=False, show_progress=False
    )
    return tokens


def field_texts(abstracts: pa.Table) -> dict[str, list[str]]:
    """The text of each indexed field per document, in table order."""
    mesh = [
        " ".join(m["name"] for m in (headings or ()))
        for headings in abstracts.column("mesh").to_pylist()
    ]
    return {
        "title": [t or "" for t in abstracts.column("title").to_pylist()],
        "mesh": mesh,
        "abstract": [a or "" for a in abstracts.column("abstract").to_pylist()],
    }


def document_digests(texts: dict[str, list[str]]) -> list[str]:
    """Per document, a digest of the text of every indexed field."""
    return [
        hashlib.sha256("\x1e".join(fields).encode()).hexdigest()[:24]
        for fields in zip(*(texts[name] for name in FIELDS), strict=True)
    ]


def field_tokens(
    pmids: list[str], texts: dict[str, list[str]], previous: pa.Table | None
) -> tuple[pa.Table, int]:
    """The token table (pmid, digest, one token list per field) of these
    documents, reusing ``previous`` tokens where pmid and digest match; and
    how many documents were reused."""
    digests = document_digests(texts)
    known: dict[tuple[str, str], int] = {}
    if previous is not None:
        known = {
            (pmid, digest): i
            for i, (pmid, digest) in enumerate(
                zip(
                    previous.column("pmid").to_pylist(),
                    previous.column("digest").to_pylist(),
                    strict=True,
                )
            )
        }
    rows = [known.get(key) for key in zip(pmids, digests, strict=True)]
    fresh = [i for i, row in enumerate(rows) if row is None]
    columns: dict[str, list[Any]] = {"pmid": pmids, "digest": digests}
    for name in FIELDS:
        old = previous.column(name).to_pylist() if previous is not None and known else []
        new = iter(tokenize([texts[name][i] for i in fresh]) if fresh else [])
        columns[name] = [old[row] if row is not None else next(new) for row in rows]
    return pa.table(columns, schema=TOKENS_SCHEMA), len(rows) - len(fresh)


def fingerprint(abstracts: pa.Table) -> str:
    """Identifies the indexed content: pmids and the indexed text, in order."""
    digest = hashlib.sha256()
    digest.update("\x1f".join(abstracts.column("pmid").to_pylist()).encode())
    for texts in field_texts(abstracts).values():
        digest.update("\x1e".join(texts).encode())
    return digest.hexdigest()[:24]


class CorpusIndex:
    """BM25 search over a fixed set of abstracts."""

    def __init__(
        self,
        params: IndexParams,
        documents: pa.Table,
        indexes: dict[str, Any],
        tokens: pa.Table | None = None,
        reused: int = 0,
    ) -> None:
        self.params = params
        self.tokens = tokens  # kept by build() for the next incremental build
        self.reused = reused  # documents whose tokens came from a previous index
        self.documents = documents
        self.indexes = indexes
        self._pmids = np.array(documents.column("pmid").to_pylist())
        years = documents.column("pub_year").to_pylist()
        self._years = np.array([y if y is not None else -1 for y in years])
        self._specialties = documents.column("specialties").to_pylist()

    @classmethod
    def build(
        cls,
        abstracts: pa.Table,
        boosts: dict[str, float] | None = None,
        previous_tokens: pa.Table | None = None,
    ) -> CorpusIndex:
        """Index ``abstracts``; documents unchanged since the index whose
        token table is ``previous_tokens`` are not tokenised again."""
        import bm25s

        # A stable document order makes ties and saved files reproducible.
        abstracts = abstracts.sort_by("pmid")
        texts = field_texts(abstracts)
        tokens, reused = field_tokens(abstracts.column("pmid").to_pylist(), texts, previous_tokens)
        indexes = {}
        for name in FIELDS:
            index = bm25s.BM25()
            index.index(tokens.column(name).to_pylist(), show_progress=False)
            indexes[name] = index
        documents = abstracts.select(["pmid", "title", "abstract", "pub_year", "specialties"])
        params = IndexParams(
            fingerprint(abstracts), abstracts.num_rows, dict(boosts or DEFAULT_BOOSTS)
        )
        return cls(params, documents, indexes, tokens, reused)

    def search(
        self, query: str, k: int = 10, filters: SearchFilters | None = None
    ) -> list[SearchHit]:
        """The ``k`` best documents with a positive score, best first."""
        if k <= 0 or not self.params.documents:
            return []
        [terms] = tokenize([query])
        if not terms:
            return []
        scores = np.zeros(self.params.documents, dtype=np.float64)
        for name, index in self.indexes.items():
            scores += self.params.boosts.get(name, 1.0) * index.get_scores(terms)
        mask = scores > 0
        if filters is not None:
            mask &= self._mask(filters)
        candidates = np.flatnonzero(mask)
        if candidates.size == 0:
            return []
        # Best score first, then the smaller PMID (lexsort's last key is primary).
        order = np.lexsort((self._pmids[candidates], -np.round(scores[candidates], 6)))
        return [self._hit(int(i), float(scores[i])) for i in candidates[order[:k]]]

    def _mask(self, filters: SearchFilters) -> np.ndarray:
        mask = np.ones(self.params.documents, dtype=bool)
        if filters.year_from is not None:
            mask &= self._years >= filters.year_from
        if filters.year_to is not None:
            mask &= (self._years <= filters.year_to) & (self._years >= 0)
        if filters.specialty is not None:
            mask &= np.array([filters.specialty in (s or ()) for s in self._specialties])
        return mask

    def _hit(self, i: int, score: float) -> SearchHit:
        row = self.documents.slice(i, 1).to_pylist()[0]
        text = row["abstract"] or ""
        if len(text) > SNIPPET_CHARS:
            text = text[:SNIPPET_CHARS].rsplit(" ", 1)[0] + " ..."
        return SearchHit(row["pmid"], round(score, 6), row["title"] or "", text, row["pub_year"])

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        for name, index in self.indexes.items():
            index.save(str(directory / name), show_progress=False)
        pq.write_table(self.documents, directory / META_FILE)
        if self.tokens is not None:
            pq.write_table(self.tokens, directory / TOKENS_FILE)
        (directory / PARAMS_FILE).write_text(json.dumps(asdict(self.params), sort_keys=True))

    @classmethod
    def load(cls, directory: Path) -> CorpusIndex:
        import bm25s

        params = IndexParams(**json.loads((directory / PARAMS_FILE).read_text()))
        indexes = {
            name: bm25s.BM25.load(str(directory / name), show_progress=False) for name in FIELDS
        }
        return cls(params, pq.read_table(directory / META_FILE), indexes)
