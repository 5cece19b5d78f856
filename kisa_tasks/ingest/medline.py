"""Streaming reader for PubMed/MEDLINE XML: baseline and update files (``.xml``
or ``.xml.gz``) and E-utilities efetch output.

Memory stays flat whatever the file size: ``iterparse`` hands over one
``PubmedArticle`` (or ``DeleteCitation``) at a time and each element is cleared,
with the siblings before it, once read. Entity resolution, DTD loading and
network access are off, and an internal DTD subset is removed before parsing
(``xml_stream``), so an entity bomb costs one quarantined record, not the file.
A truncated gzip keeps every record complete before the cut.

The reader yields three kinds of events, in file order: ``Citation`` (a parsed
record), ``Deletion`` (PMIDs an update file withdraws) and ``Malformed`` (a
record or a file tail that could not be read, with the reason). Applying
deletions and newer versions across files is the corpus's job, not the reader's.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from lxml import etree

from kisa_tasks.ingest.xml_stream import MedlineStream

_MONTHS = {
    m: i
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"],
        start=1,
    )
}
_YEAR = re.compile(r"(1[89]\d\d|20\d\d)")


# NamedTuples, not dataclasses: a record has ~10 of these, built at C speed.
class MeshHeading(NamedTuple):
    descriptor_ui: str
    name: str
    major: bool
    qualifiers: tuple[str, ...] = ()


class Chemical(NamedTuple):
    ui: str
    name: str


@dataclass(frozen=True, slots=True)
class Citation:
    """One MEDLINE citation; its fields are the ``abstracts`` stage columns."""

    pmid: str
    version: int
    title: str
    abstract: str
    language: str
    journal: str
    pub_year: int | None
    pub_date: str | None
    publication_types: tuple[str, ...] = ()
    mesh: tuple[MeshHeading, ...] = ()
    chemicals: tuple[Chemical, ...] = ()
    keywords: tuple[str, ...] = ()
    source: str = ""
    position: int = 0  # record index within the source file, for ordering


@dataclass(frozen=True)
class Deletion:
    pmids: tuple[str, ...]
    source: str
    position: int


@dataclass(frozen=True)
class Malformed:
    reason: str
    source: str
    position: int
    pmid: str | None = None
    snippet: str = field(default="", repr=False)


Event = Citation | Deletion | Malformed


class MalformedRecordError(ValueError):
    pass


def _text(elem: Any) -> str:
    """Element text with inline markup flattened and whitespace collapsed.

    The common case (no child elements, single-spaced) skips the join and split:
    this runs ~10 times per record and dominates parsing time otherwise.
    """
    if elem is None:
        return ""
    text = elem.text or "" if len(elem) == 0 else "".join(elem.itertext())
    if "  " in text or "\n" in text or "\t" in text:
        return " ".join(text.split())
    return text.strip()


def _children(elem: Any) -> dict[str, Any]:
    """First child per tag. lxml's ``find("A/B")`` runs ElementPath in Python;
    one pass over the children is several times faster on this hot path."""
    out: dict[str, Any] = {}
    for child in elem:
        out.setdefault(child.tag, child)
    return out


def _child(elem: Any, tag: str) -> Any:
    """The first child with ``tag``, or None (see ``_children`` for why not find)."""
    for child in elem:
        if child.tag == tag:
            return child
    return None


def _abstract(abstract: Any) -> str:
    if abstract is None:
        return ""
    parts = []
    for node in abstract:
        if node.tag != "AbstractText":
            continue
        text = _text(node)
        if not text:
            continue
        label = node.get("Label")
        parts.append(f"{label}: {text}" if label else text)
    return " ".join(parts)


def _pub_date(journal: Any) -> tuple[int | None, str | None]:
    issue = _child(journal, "JournalIssue") if journal is not None else None
    pub = _child(issue, "PubDate") if issue is not None else None
    if pub is None:
        return None, None
    parts = {child.tag: (child.text or "").strip() for child in pub}
    year_text = parts.get("Year")
    if not year_text:
        m = _YEAR.search(parts.get("MedlineDate", ""))
        return (int(m.group(1)), m.group(1)) if m else (None, None)
    if not year_text.isdigit():
        raise MalformedRecordError(f"publication year {year_text!r} is not a number")
    year = int(year_text)
    month_text = parts.get("Month", "").lower()
    month = int(month_text) if month_text.isdigit() else _MONTHS.get(month_text[:3])
    if not month or not 1 <= month <= 12:
        return year, f"{year:04d}"
    day_text = parts.get("Day", "")
    if day_text.isdigit() and 1 <= int(day_text) <= 31:
        return year, f"{year:04d}-{month:02d}-{int(day_text):02d}"
    return year, f"{year:04d}-{month:02d}"


def _mesh(mesh_list: Any) -> tuple[MeshHeading, ...]:
    # ~10 headings a record: the hottest loop of the parser. The DTD fixes a
    # heading as (DescriptorName, QualifierName*), so the descriptor is read by
    # position and the rest are qualifiers; anything else takes the slow path.
    if mesh_list is None:
        return ()
    out = []
    for heading in mesh_list:
        children = heading[:]
        if not children or children[0].tag != "DescriptorName":
            parsed = _mesh_heading_any_order(children)
            if parsed is not None:
                out.append(parsed)
            continue
        descriptor = children[0]
        ui = descriptor.get("UI") or ""
        name = (descriptor.text or "").strip()
        if not (ui or name):
            continue
        major = descriptor.get("MajorTopicYN") == "Y"
        qualifiers = []
        for child in children[1:]:
            if child.tag != "QualifierName":
                continue
            qualifiers.append((child.text or "").strip())
            if child.get("MajorTopicYN") == "Y":
                major = True
        out.append(MeshHeading(ui, name, major, tuple(qualifiers)))
    return tuple(out)


def _mesh_heading_any_order(children: list[Any]) -> MeshHeading | None:
    ui = name = ""
    major = False
    qualifiers = []
    for child in children:
        if child.tag == "DescriptorName":
            ui = child.get("UI") or ""
            name = (child.text or "").strip()
        elif child.tag == "QualifierName":
            qualifiers.append((child.text or "").strip())
        else:
            continue
        if child.get("MajorTopicYN") == "Y":
            major = True
    return MeshHeading(ui, name, major, tuple(qualifiers)) if ui or name else None


def _leaf_texts(parent: Any, tag: str) -> tuple[str, ...]:
    if parent is None:
        return ()
    return tuple(t for t in (_text(c) for c in parent if c.tag == tag) if t)


def _chemicals(chemical_list: Any) -> tuple[Chemical, ...]:
    if chemical_list is None:
        return ()
    out = []
    for chemical in chemical_list:
        for child in chemical:
            if child.tag == "NameOfSubstance":
                out.append(Chemical(child.get("UI") or "", (child.text or "").strip()))
    return tuple(out)


def parse_article(elem: Any, source: str = "", position: int = 0) -> Citation:
    """A ``PubmedArticle`` element as a ``Citation``; raises on a broken record."""
    citation = _child(elem, "MedlineCitation")
    if citation is None:
        raise MalformedRecordError("no MedlineCitation element")
    parts = _children(citation)
    pmid_elem = parts.get("PMID")
    if pmid_elem is None:
        raise MalformedRecordError("PMID is missing")
    pmid = (pmid_elem.text or "").strip()
    if not pmid.isdigit():
        raise MalformedRecordError(f"PMID {pmid!r} is not numeric")
    version_text = pmid_elem.get("Version") or "1"
    if not version_text.isdigit():
        raise MalformedRecordError(f"PMID version {version_text!r} is not a number")
    article_elem = parts.get("Article")
    if article_elem is None:
        raise MalformedRecordError("no Article element")
    article = _children(article_elem)
    journal = article.get("Journal")
    year, date = _pub_date(journal)
    language = article.get("Language")
    return Citation(
        pmid=pmid,
        version=int(version_text),
        title=_text(article.get("ArticleTitle")),
        abstract=_abstract(article.get("Abstract")),
        language=(language.text or "").strip().lower() if language is not None else "",
        journal=_text(_child(journal, "Title")) if journal is not None else "",
        pub_year=year,
        pub_date=date,
        publication_types=_leaf_texts(article.get("PublicationTypeList"), "PublicationType"),
        mesh=_mesh(parts.get("MeshHeadingList")),
        chemicals=_chemicals(parts.get("ChemicalList")),
        keywords=_leaf_texts(parts.get("KeywordList"), "Keyword"),
        source=source,
        position=position,
    )


def _snippet(elem: Any) -> str:
    return str(etree.tostring(elem, encoding="unicode"))[:2000]


def _pmid_of(elem: Any) -> str | None:
    text = elem.findtext("MedlineCitation/PMID")
    return text.strip() if text else None


def _truncated(records: int) -> str:
    return (
        f"file truncated after {records} complete records (the gzip stream ends "
        "mid-member); every record before the cut was kept"
    )


class MedlineReader:
    """Iterate the events of one MEDLINE XML file, in constant memory."""

    def __init__(self, path: Path | str, source: str | None = None) -> None:
        self.path = Path(path)
        self.source = source or self.path.name

    def __iter__(self) -> Iterator[Event]:
        position = 0
        source: MedlineStream | None = None
        try:
            with MedlineStream(self.path) as source:
                if source.removed_subset_bytes:
                    yield Malformed(
                        reason=f"internal DTD subset removed ({source.removed_subset_bytes} "
                        "bytes): MEDLINE declares entities only in NLM's external DTD; "
                        "records using its entities are quarantined",
                        source=self.source,
                        position=0,
                    )
                context = etree.iterparse(
                    source.stream,
                    events=("end",),
                    tag=("PubmedArticle", "DeleteCitation"),
                    resolve_entities=False,
                    load_dtd=False,
                    no_network=True,
                    huge_tree=False,
                )
                for _, elem in context:
                    yield self._event(elem, position)
                    position += 1
                    # Free what we read: the element and every sibling before it.
                    elem.clear(keep_tail=False)
                    parent = elem.getparent()
                    if parent is not None:
                        while elem.getprevious() is not None:
                            del parent[0]
                if source.truncated:  # cut in the gzip trailer: the XML itself was whole
                    yield Malformed(
                        reason=_truncated(position),
                        source=self.source,
                        position=position,
                    )
        except etree.XMLSyntaxError as exc:
            yield Malformed(
                reason=_truncated(position)
                if source is not None and source.truncated
                else f"invalid XML after {position} records: {exc}",
                source=self.source,
                position=position,
            )
        except (EOFError, OSError, zlib.error) as exc:
            yield Malformed(
                reason=f"file unreadable after {position} records "
                f"(truncated or corrupt): {type(exc).__name__}: {exc}",
                source=self.source,
                position=position,
            )

    def _event(self, elem: Any, position: int) -> Event:
        if elem.tag == "DeleteCitation":
            pmids = tuple(
                (p.text or "").strip() for p in elem.iterfind("PMID") if (p.text or "").strip()
            )
            return Deletion(pmids=pmids, source=self.source, position=position)
        # A reference to an entity the parser never saw (its declaration was
        # in a removed internal subset, or nowhere) would silently drop text.
        for reference in elem.iter(etree.Entity):
            return Malformed(
                reason=f"undefined entity reference {reference.text}",
                source=self.source,
                position=position,
                pmid=_pmid_of(elem),
                snippet=_snippet(elem),
            )
        try:
            return parse_article(elem, self.source, position)
        except MalformedRecordError as exc:
            return Malformed(
                reason=str(exc),
                source=self.source,
                position=position,
                pmid=_pmid_of(elem),
                snippet=_snippet(elem),
            )
