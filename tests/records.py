"""Small real-shaped records for extraction tests."""

from __future__ import annotations

from kisa_tasks.ingest.medline import Citation, MeshHeading


def citation(pmid: str, title: str, abstract: str) -> Citation:
    return Citation(
        pmid=pmid,
        version=1,
        title=title,
        abstract=abstract,
        language="eng",
        journal="J",
        pub_year=2020,
        pub_date="2020",
        mesh=(MeshHeading("D006333", "Heart Failure", True, ()),),
    )
