"""Canonicalisation, entity statistics (DuckDB) and rare-seed selection."""

from __future__ import annotations

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st
from records import citation

from kisa_tasks.artefacts import ArtefactStore, Partition
from kisa_tasks.extract.canonical import (
    abbreviation_definitions,
    canonicalise,
    expand_abbreviations,
    normalise,
)
from kisa_tasks.settings import KisaSettings
from kisa_tasks.stats.stages import (
    SeedPolicy,
    entities_table,
    run_canonicalise,
    run_seeds,
    run_stats,
    seeds_table,
    stats_table,
)


def test_normalise_handles_case_punctuation_greek_and_plurals() -> None:
    assert normalise("TNF-α") == normalise("tnf alpha") == "tnf alpha"
    assert normalise("Angiotensin-Converting Enzymes") == "angiotensin converting enzyme"
    assert normalise("Therapies") == "therapy"
    assert normalise("Diabetes") == "diabetes"  # not a plural


@given(st.text(max_size=40))
def test_normalise_is_idempotent(text: str) -> None:
    assert normalise(normalise(text)) == normalise(text)


def test_abbreviation_definitions_find_the_long_form() -> None:
    text = "Inhibitors of angiotensin-converting enzyme (ACE) help. Heart failure (HF) is common."
    found = {short: text[s:e] for short, s, e in abbreviation_definitions(text)}
    assert found == {"ACE": "angiotensin-converting enzyme", "HF": "Heart failure"}
    assert abbreviation_definitions("results were good (p < 0.05)") == []


def _m(
    pmid: str, start: int, end: int, surface: str, entity_id: str, name: str, type_: str = "disease"
) -> dict[str, object]:
    return {
        "pmid": pmid,
        "field": "abstract",
        "start": start,
        "end": end,
        "surface": surface,
        "type": type_,
        "entity_id": entity_id,
        "name": name,
        "backend": "lexicon",
    }


def test_short_forms_become_mentions_of_the_defined_entity() -> None:
    text = "Heart failure (HF) is common. HF patients and hf."
    mentions = [_m("1", 0, 13, "Heart failure", "mesh:D006333", "Heart Failure")]
    out = expand_abbreviations(mentions, {("1", "abstract"): text})
    spans = [(m["start"], m["surface"], m["entity_id"]) for m in out]
    assert spans == [
        (0, "Heart failure", "mesh:D006333"),
        (15, "HF", "mesh:D006333"),
        (30, "HF", "mesh:D006333"),
    ]  # "hf" in lower case is not the defined abbreviation


def test_a_short_form_keeps_its_own_entity_unless_the_whole_long_form_defines_it() -> None:
    text = "gamma-amino-butyric acid (GABA) and GABA; acute myocardial infarction (AMI) or AMI."
    mentions = [
        # the end of a hyphenated word is another substance
        _m("1", 12, 24, "butyric acid", "drugbank:DB03568", "Butyric Acid", "drug"),
        _m("1", 26, 30, "GABA", "drugbank:DB02530", "gamma-Aminobutyric Acid", "drug"),
        _m("1", 36, 40, "GABA", "drugbank:DB02530", "gamma-Aminobutyric Acid", "drug"),
        # a whole-word part of the long form names the short form
        _m("1", 48, 69, "myocardial infarction", "mesh:D009203", "Myocardial Infarction"),
    ]
    out = expand_abbreviations(mentions, {("1", "abstract"): text})
    ids = {(m["surface"], m["entity_id"]) for m in out}
    assert ("GABA", "drugbank:DB02530") in ids and ("GABA", "drugbank:DB03568") not in ids
    assert [m["start"] for m in out if m["surface"] == "AMI"] == [71, 79]
    assert {m["entity_id"] for m in out if m["surface"] == "AMI"} == {"mesh:D009203"}


def test_shared_identifiers_and_equal_names_merge_deterministically() -> None:
    mentions = [
        _m("1", 0, 9, "metformin", "drugbank:DB00331", "Metformin", "drug"),
        _m("2", 0, 9, "Metformin", "mesh:D008687", "Metformin", "chemical"),
        _m("3", 0, 6, "tumors", "drug:tumor_x", "Tumors X", "drug"),
        _m("4", 0, 7, "tumor x", "mesh:D999", "Tumor X", "chemical"),
        _m("5", 0, 7, "aspirin", "drugbank:DB00945", "Aspirin", "drug"),
    ]
    links = [("drugbank:DB00331", "mesh:D008687")]
    entities, mapping = canonicalise(mentions, links)
    assert mapping["drugbank:DB00331"] == mapping["mesh:D008687"] == "mesh:D008687"
    assert mapping["drug:tumor_x"] == mapping["mesh:D999"] == "mesh:D999"  # same normalised name
    assert mapping["drugbank:DB00945"] == "drugbank:DB00945"
    assert len(entities) == 3
    assert entities == canonicalise(list(reversed(mentions)), links)[0]  # order-independent


def _tables() -> tuple[pa.Table, pa.Table]:
    abstracts = pa.table({"pmid": [str(i) for i in range(1, 11)]})
    rows = []
    for pmid in range(1, 11):  # common disease in every abstract
        rows.append(_m(str(pmid), 0, 5, "gout", "mesh:D006073", "Gout"))
    for pmid in (1, 2):  # rare drug with two abstracts of evidence
        rows.append(_m(str(pmid), 9, 15, "raredr", "drugbank:DB9", "Raredrug", "drug"))
    rows.append(_m("3", 9, 15, "lonely", "drugbank:DB8", "Lonely", "drug"))  # one abstract only
    rows.append(_m("4", 9, 15, "humans", "mesh:D006801", "Humans", "concept"))
    rows.append(_m("5", 9, 15, "humans", "mesh:D006801", "Humans", "concept"))
    return abstracts, pa.Table.from_pylist(rows)


def test_stats_count_documents_and_seeds_keep_rare_evidenced_entities() -> None:
    abstracts, mentions = _tables()
    entities = entities_table(mentions)
    stats = {r["canonical_id"]: r for r in stats_table(abstracts, mentions, entities).to_pylist()}
    assert stats["mesh:D006073"]["doc_freq"] == 10 and stats["mesh:D006073"]["rel_freq"] == 1.0
    assert stats["drugbank:DB9"]["doc_freq"] == 2
    seeds = (
        seeds_table(
            stats_table(abstracts, mentions, entities),
            SeedPolicy(min_evidence=2, max_doc_freq=3, max_rel_freq=0.5),
            limit=10,
        )
        .column("canonical_id")
        .to_pylist()
    )
    # Not the common disease, not the one-abstract drug, not a generic concept.
    assert seeds == ["drugbank:DB9"]


def test_stages_commit_entities_stats_and_seeds(settings: KisaSettings) -> None:
    from kisa_tasks.ingest.abstracts import to_tables
    from kisa_tasks.specialties import WHOLE_CORPUS

    store = ArtefactStore.from_settings(settings)
    run = "stats_t1"
    cites = [
        citation(str(i), "T", text)
        for i, text in enumerate(
            [
                "Digoxin in the treatment of heart failure.",
                "Digoxin again.",
                "Warfarin once.",
                "Warfarin twice.",
                "Heart failure.",
                "Heart failure worsens.",
                "Heart failure caused by hypertension.",
            ],
            start=1,
        )
    ]
    for specialty in ("cardiology", WHOLE_CORPUS):
        store.write(Partition("abstracts", specialty, run), list(to_tables(cites)))
    from kisa_tasks.extract.stage import run_extract

    run_extract(settings, specialty="cardiology", run_id=run)
    assert run_canonicalise(settings, specialty="cardiology", run_id=run)["counts"]["entities"] >= 3
    run_stats(settings, specialty="cardiology", run_id=run)
    policy = SeedPolicy(min_evidence=2, max_doc_freq=2, max_rel_freq=1.0)

    def seed_names(**kw: bool) -> list[str]:
        run_seeds(settings, specialty="cardiology", run_id=run, max_seeds=5, policy=policy, **kw)
        return [s["name"] for s in store.read(Partition("seeds", "cardiology", run)).to_pylist()]

    # 2 abstracts each; heart failure has 4. Only digoxin starts a chain of two
    # stated relations (digoxin treats heart failure, caused by hypertension).
    assert sorted(seed_names(require_relation=False)) == ["Digoxin", "Warfarin"]
    assert seed_names() == ["Digoxin"]


def test_rarity_is_judged_on_the_whole_corpus() -> None:
    abstracts, mentions = _tables()
    entities = entities_table(mentions)
    # Across the corpus the "rare" drug DB9 is in 8 abstracts: not a seed any more.
    corpus_abstracts = pa.table({"pmid": [str(i) for i in range(1, 101)]})
    extra = [_m(str(p), 9, 15, "raredr", "drugbank:DB9", "Raredrug", "drug") for p in range(50, 56)]
    corpus_mentions = pa.concat_tables([mentions, pa.Table.from_pylist(extra)])
    stats = stats_table(abstracts, mentions, entities, corpus_abstracts, corpus_mentions)
    row = {r["canonical_id"]: r for r in stats.to_pylist()}["drugbank:DB9"]
    assert (row["doc_freq"], row["corpus_doc_freq"], row["corpus_docs"]) == (2, 8, 100)
    policy = SeedPolicy(min_evidence=2, max_doc_freq=5, max_rel_freq=0.5)
    assert seeds_table(stats, policy, limit=10).num_rows == 0
    assert seeds_table(stats_table(abstracts, mentions, entities), policy, 10).num_rows == 1
