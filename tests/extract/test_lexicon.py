"""Lexicon extraction: boundaries, overlaps, stoplist, record MeSH, offsets."""

from __future__ import annotations

import pyarrow as pa
from records import citation

from kisa_tasks.artefacts import ArtefactStore, Partition
from kisa_tasks.extract.lexicon import STOPLIST, dictionary_entries, find_mentions, record_entries
from kisa_tasks.extract.mentions import MENTIONS_SCHEMA, extract_table
from kisa_tasks.extract.stage import run_extract
from kisa_tasks.ingest.abstracts import to_tables
from kisa_tasks.ingest.medline import Chemical, MeshHeading
from kisa_tasks.settings import KisaSettings


def test_dictionary_drugs_and_diseases_are_found_with_exact_spans() -> None:
    text = "Patients with heart failure received metformin and aspirin."
    found = {(m.surface, m.type) for m in find_mentions("1", text)}
    assert ("heart failure", "disease") in found
    assert ("metformin", "drug") in found
    for m in find_mentions("1", text):
        assert text[m.start : m.end] == m.surface


def test_matches_respect_word_boundaries() -> None:
    # "asthma" inside "asthmatic" and "metformin" inside a longer token are not mentions.
    assert not [m for m in find_mentions("1", "Asthmatics and metforminXR") if m.surface]


def test_longest_match_wins_an_overlap() -> None:
    [m] = [m for m in find_mentions("1", "a case of breast cancer") if "cancer" in m.surface]
    assert m.surface == "breast cancer"


def test_stoplisted_words_are_not_entities() -> None:
    assert "lead" in STOPLIST and "lead" not in dictionary_entries()
    # clipped inverted names ("Alcohol, Benzyl") linked "Alcohol," to benzyl alcohol
    assert "alcohol," not in dictionary_entries()
    assert not any(k[0] in ",;:.( " or k[-1] in ",;:.( " for k in dictionary_entries())
    assert not find_mentions("1", "These results lead to the aim of all patients.")


def test_record_mesh_headings_and_chemicals_add_surface_forms() -> None:
    extra = record_entries(
        [
            MeshHeading("D999999", "Zebra Syndrome", True, ()),
            MeshHeading("D006801", "Humans", False),
        ],
        [Chemical("C000001", "Kisamycin")],
        disease_uis={"D999999"},
    )
    found = {
        (m.surface, m.entity_id, m.type)
        for m in find_mentions("1", "Kisamycin for zebra syndrome in humans", extra)
    }
    assert ("Kisamycin", "mesh:C000001", "chemical") in found
    assert ("zebra syndrome", "mesh:D999999", "disease") in found
    assert not any(s.lower() == "humans" for s, _, _ in found)  # a check tag, stoplisted


def test_offsets_survive_characters_that_lowercase_to_two_code_points() -> None:
    text = "İstanbul study of heart failure"
    [m] = [m for m in find_mentions("1", text) if m.surface == "heart failure"]
    assert text[m.start : m.end] == "heart failure"


def test_extract_table_writes_the_mentions_schema() -> None:
    [abstracts] = to_tables([citation("7", "Digoxin in heart failure", "Digoxin was given.")])
    table = extract_table(abstracts)
    assert table.schema.equals(MENTIONS_SCHEMA)
    rows = table.to_pylist()
    assert {(r["field"], r["surface"]) for r in rows} >= {
        ("title", "Digoxin"),
        ("title", "heart failure"),
        ("abstract", "Digoxin"),
    }
    assert all(r["backend"] == "lexicon" for r in rows)


def test_extract_stage_reads_abstracts_and_commits_mentions(settings: KisaSettings) -> None:
    store = ArtefactStore.from_settings(settings)
    abstracts = pa.concat_tables(
        list(
            to_tables(
                [
                    citation("1", "Digoxin in heart failure", "Digoxin was given."),
                    citation("2", "Warfarin", "Warfarin and stroke."),
                ]
            )
        )
    )
    store.write(Partition("abstracts", "cardiology", "extract_t1"), [abstracts])
    result = run_extract(settings, specialty="cardiology", run_id="extract_t1")
    mentions = store.read(Partition("mentions", "cardiology", "extract_t1"))
    assert set(mentions.column("pmid").to_pylist()) == {"1", "2"}
    assert result["counts"]["mentions"] == mentions.num_rows
    assert result["counts"]["drug"] >= 3
    again = run_extract(settings, specialty="cardiology", run_id="extract_t1")
    assert again["counts"] == result["counts"]
    assert store.read(Partition("mentions", "cardiology", "extract_t1")).equals(mentions)
