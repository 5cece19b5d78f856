"""Rules triple extraction (issue 18): a relation only between the cue's own
subject and object, in the pattern's direction, of the entity itself, when
asserted, between entities its signature allows; MeSH claims as support.
Each error class the issue found in the old extractor has a case here."""

from __future__ import annotations

import doctest

import pytest

from kisa_tasks.triples import rules, signatures, support
from kisa_tasks.triples.evidence import EvidenceRecord, rules_triples
from kisa_tasks.triples.rules import (
    RELATION_TYPES,
    EntitySpan,
    claim_problem,
    sentence_triples,
)
from kisa_tasks.triples.support import confidence

Entity = tuple[str, str, str]  # surface, id, kind


def _spans(text: str, *entities: Entity) -> list[EntitySpan]:
    out = []
    for surface, entity_id, kind in entities:
        start = text.lower().index(surface.lower())
        type_ = kind if kind in ("disease", "drug", "chemical") else "concept"
        out.append(EntitySpan(entity_id, surface, type_, start, start + len(surface), kind))
    return out


def _typed(text: str, *entities: Entity) -> set[tuple[str, str, str]]:
    found = sentence_triples("1", text, _spans(text, *entities))
    return {(t.head, t.relation_type, t.tail) for t in found}


DIG = ("digoxin", "drug:dig", "drug")
HF = ("heart failure", "mesh:HF", "disease")
AR = ("arrhythmia", "mesh:AR", "disease")


def test_patterns_give_type_and_direction() -> None:
    treats = {("drug:dig", "treats", "mesh:HF")}
    assert _typed("Patients with heart failure were treated with digoxin.", HF, DIG) == treats
    assert _typed("Use of digoxin in the treatment of heart failure.", DIG, HF) == treats
    assert _typed("Treatment of heart failure with digoxin.", HF, DIG) == treats
    causes = {("drug:dig", "causes", "mesh:AR")}
    assert _typed("The arrhythmia was caused by digoxin.", AR, DIG) == causes  # passive
    assert _typed("Fatal digoxin-induced arrhythmia in two cases.", DIG, AR) == causes
    text = "Nephrotic syndrome complicated by renal vein thrombosis."
    found = _typed(
        text,
        ("Nephrotic syndrome", "mesh:NS", "disease"),
        ("renal vein thrombosis", "mesh:RVT", "disease"),
    )
    assert found == {("mesh:RVT", "complication_of", "mesh:NS")}


def test_a_pair_the_cue_does_not_link_is_dropped() -> None:
    # The old extractor read "phenylephrine increases nitroglycerin" here.
    text = "Both nitroglycerin and phenylephrine increased myocardial blood flow."
    assert (
        _typed(
            text,
            ("nitroglycerin", "drug:ntg", "drug"),
            ("phenylephrine", "drug:phe", "drug"),
        )
        == set()
    )
    # A third entity between the two breaks the pair.
    text = "Digoxin and verapamil treated heart failure."
    assert ("drug:dig", "treats", "mesh:HF") not in _typed(
        text, DIG, ("verapamil", "drug:ver", "drug"), HF
    )
    # Co-occurrence with no relation phrase is vague: dropped.
    assert _typed("Digoxin and heart failure were studied.", DIG, HF) == set()


def test_a_property_of_the_entity_is_not_the_entity() -> None:
    pra = ("prazosin", "drug:pra", "drug")
    ne = ("noradrenaline", "mesh:NE", "chemical")
    assert _typed("Prazosin blocks the contractile effect of noradrenaline.", pra, ne) == set()
    assert _typed("The effect of noradrenaline was blocked by prazosin.", ne, pra) == set()
    assert _typed("Prazosin inhibited noradrenaline release in vitro.", pra, ne) == set()
    # ... but the entity's level or activity is the entity's.
    assert _typed("Prazosin increased noradrenaline levels.", pra, ne) == {
        ("drug:pra", "increases", "mesh:NE")
    }


def test_compounds_and_unlinked_short_forms_are_not_mentions() -> None:
    covid = ("COVID-19", "mesh:COVID", "disease")
    sars = ("SARS", "mesh:SARS", "disease")
    text = "COVID-19 is caused by SARS-CoV-2 in humans."
    assert _typed(text, covid, sars) == set()
    # An all-capitals short form the abstract never defines is a dictionary guess.
    text = "Tocilizumab inhibits IL-6 in vitro."
    il6 = ("IL-6", "mesh:PLASMACYTOMA", "disease")
    toc = ("Tocilizumab", "drug:toc", "drug")
    assert _typed(text, toc, il6) == set()
    # Defined in the text as that entity: trusted.
    text = "Captopril inhibits angiotensin-converting enzyme (ACE). Enalapril inhibits ACE."
    cap = ("Enalapril", "drug:ena", "drug")
    ace_long = ("angiotensin-converting enzyme", "mesh:ACE", "chemical")
    spans = _spans(text, cap, ace_long)
    short = text.rindex("ACE")
    spans.append(EntitySpan("mesh:ACE", "Peptidyl-Dipeptidase A", "chemical", short, short + 3))
    found = {(t.head, t.relation_type, t.tail) for t in sentence_triples("1", text, spans)}
    assert ("drug:ena", "inhibits", "mesh:ACE") in found


def test_signatures_keep_organs_organisms_and_drugs_in_their_place() -> None:
    colon = ("colon", "mesh:COLON", "anatomy")
    assert _typed("Cancer of the colon caused by digoxin.", colon, DIG) == set()
    ver = ("verapamil", "drug:ver", "drug")
    assert _typed("Digoxin treats verapamil.", DIG, ver) == set()
    assert _typed("Heart failure causes arrhythmia.", HF, AR) == {("mesh:HF", "causes", "mesh:AR")}
    assert signatures.signature_violation("causes", "anatomy", "disease") is not None
    assert signatures.entity_kind("concept", ["methods"]) == "procedure"


def test_negated_hedged_and_aimed_claims_are_dropped() -> None:
    pg = ("prostaglandins", "mesh:PG", "chemical")
    hyp = ("hypotension", "mesh:HYPO", "disease")
    assert _typed("The hypotension was not due to prostaglandins.", hyp, pg) == set()
    assert _typed("The hypotension was due to prostaglandins.", hyp, pg) == {
        ("mesh:PG", "causes", "mesh:HYPO")
    }
    assert _typed("Digoxin may cause arrhythmia.", DIG, AR) == set()
    assert _typed("To determine whether digoxin causes arrhythmia, we did X.", DIG, AR) == set()
    assert _typed("Does digoxin cause arrhythmia?", DIG, AR) == set()


def test_a_background_condition_is_not_the_target() -> None:
    text = "Prostaglandin was given to patients with a missed abortion."
    found = _typed(
        text, ("Prostaglandin", "mesh:PG", "chemical"), ("missed abortion", "mesh:MA", "disease")
    )
    assert found == set()


def test_mesh_claims_add_support_and_need_a_sentence_that_shows_them() -> None:
    title = "Heart failure: a trial of digoxin therapy."
    abstract = "We gave digoxin to 40 adults. Digoxin improved heart failure symptoms."
    # "digoxin" in the first sentence, "heart failure" in the second: not together.
    spans = {"title": _spans(title, DIG, HF), "abstract": _spans(abstract, DIG, HF)}
    qualifiers = {"drug:dig": ["therapeutic use"], "mesh:HF": ["drug therapy"]}
    record = EvidenceRecord("7", {"title": title, "abstract": abstract}, spans, qualifiers)
    found = rules_triples(record)
    assert [(t.head, t.relation_type, t.tail, t.support) for t in found] == [
        ("drug:dig", "treats", "mesh:HF", "mesh")
    ]
    assert found[0].sentence == title  # no abstract sentence speaks of treating it
    # Without the claim, the title alone states nothing.
    assert rules_triples(EvidenceRecord("7", record.texts, spans, {})) == []
    # A bare co-mention shows no relation, a hedged or negated one denies it.
    for bare in (
        "Digoxin in heart failure.",
        "A possible role of digoxin in treating heart failure.",
        "Digoxin was not effective in treating heart failure.",
    ):
        only_spans = {"title": _spans(bare, DIG, HF), "abstract": []}
        only = EvidenceRecord("7", {"title": bare, "abstract": ""}, only_spans, qualifiers)
        assert rules_triples(only) == [], bare
    # A sentence pattern the indexers also claim is the strongest evidence.
    text = "Digoxin in the treatment of heart failure."
    both = EvidenceRecord("8", {"title": text, "abstract": ""},
                          {"title": _spans(text, DIG, HF), "abstract": []}, qualifiers)  # fmt: skip
    assert [t.support for t in rules_triples(both)] == ["sentence+mesh"]


def test_checks_for_a_relation_read_elsewhere() -> None:
    text = "The arrhythmia was caused by digoxin."
    ar, dig = _spans(text, AR, DIG)
    assert claim_problem(text, 0, dig, "causes", ar) is None
    assert (claim_problem(text, 0, ar, "causes", dig) or "").startswith("signature")
    text = "The arrhythmia was caused by heart failure."
    ar, hf = _spans(text, AR, HF)
    assert claim_problem(text, 0, hf, "causes", ar) is None
    assert claim_problem(text, 0, ar, "causes", hf) == "direction_reversed"
    text = "The arrhythmia was not caused by digoxin."
    ar, dig = _spans(text, AR, DIG)
    assert claim_problem(text, 0, dig, "causes", ar) == "not_asserted"


def test_confidence_compounds_independent_evidence() -> None:
    one = confidence("treats", ["sentence"])
    assert one < confidence("treats", ["sentence", "sentence"]) < 1
    assert confidence("treats", ["mesh"]) < confidence("treats", ["sentence+mesh"])
    assert confidence("treats", []) == 0.0
    # An llm reading counts as a sentence pattern of its type until measured.
    assert confidence("causes", ["llm"]) == confidence("causes", ["sentence"])


def test_relation_types_are_from_the_vocabulary_and_evidence_counts_once() -> None:
    text = "Digoxin treats heart failure; digoxin treats heart failure again."
    found = sentence_triples("9", text, _spans(text, DIG, HF))
    assert len(found) == 1 and found[0].relation_type in RELATION_TYPES
    assert found[0].sentence == text and found[0].relation == "treats"


def test_docstring_examples() -> None:
    for module in (rules, signatures, support):
        assert doctest.testmod(module).failed == 0


NOT_PAIRS = [
    # a property through a possessive
    ("Ephedrine reduced ethanol's effects on the EEG.",
     ("Ephedrine", "drug:eph", "drug"), ("ethanol", "mesh:ETH", "chemical")),
    # a list: "increase" is a noun, the comma ends it
    ("Events were aspartate aminotransferase increase (18.8%), alanine transaminase increase.",
     ("aspartate aminotransferase", "mesh:AST", "chemical"),
     ("alanine transaminase", "mesh:ALT", "chemical")),
    # a combination did it, not the drug alone
    ("The hyperkinesia induced by carbidopa plus L-Dopa in mice.",
     ("hyperkinesia", "mesh:HK", "disease"), ("carbidopa", "drug:cd", "drug")),
    # the subject is outside the parenthesis
    ("Borohydride (2 g of elastin) reduced allysine.",
     ("elastin", "mesh:ELA", "chemical"), ("allysine", "mesh:ALY", "chemical")),
    # both interact with a third thing
    ("The interaction of chloroquine and quinacrine with DNA.",
     ("chloroquine", "drug:cq", "drug"), ("quinacrine", "drug:qn", "drug")),
    # the vaccines did it, not the disease
    ("Thrombocytopenia induced by coronavirus disease 2019 (COVID-19) vaccines.",
     ("Thrombocytopenia", "mesh:ITP", "disease"),
     ("coronavirus disease 2019", "mesh:COVID", "disease")),
    # an allergy to the drug, not the drug
    ("Asthma associated with aspirin hypersensitivity and nasal polyps.",
     ("Asthma", "mesh:AST", "disease"), ("aspirin", "drug:asa", "drug")),
    # a slashed combination induced it
    ("Liver tumours induced by diethylnitrosamine/phenobarbital in rats.",
     ("Liver tumours", "mesh:LT", "disease"), ("diethylnitrosamine", "mesh:DEN", "chemical")),
    # the mention is the generic head of a more specific name
    ("Tributyltin increased interferon γ in mice.",
     ("Tributyltin", "mesh:TBT", "chemical"), ("interferon", "drug:ifn", "drug")),
    ("Wortmannin inhibited phosphoinositide 3-kinase.",
     ("Wortmannin", "mesh:WM", "chemical"), ("phosphoinositide", "drug:pi", "drug")),
    ("Takotsubo syndrome was attributed to adrenergic discharge.",
     ("Takotsubo syndrome", "mesh:TTS", "disease"), ("adrenergic", "drug:adr", "drug")),
    ("Lamivudine treated hepatitis B in 40 patients.",
     ("Lamivudine", "drug:lam", "drug"), ("hepatitis", "mesh:HEP", "disease")),
]  # fmt: skip


@pytest.mark.parametrize(("text", "first", "second"), NOT_PAIRS)
def test_lists_possessives_combinations_third_parties_and_allergies_are_not_pairs(
    text: str, first: Entity, second: Entity
) -> None:
    assert _typed(text, first, second) == set()


def test_an_interaction_of_two_is_a_pair() -> None:
    cq = ("chloroquine", "drug:cq", "drug")
    qn = ("quinacrine", "drug:qn", "drug")
    assert _typed("The interaction of chloroquine and quinacrine in vitro.", cq, qn) == {
        ("drug:cq", "interacts_with", "drug:qn")
    }


def test_dictionary_ids_medline_uses_for_another_name_are_relinked() -> None:
    from kisa_tasks.triples.evidence import mislinked, relink

    indexed = {"mesh:D014655": "Vascular Resistance", "mesh:D006973": "Hypertension"}
    by_name = {"vascular resistance": "mesh:D014655", "hypertension": "mesh:D006973"}
    wrong = {"entity_id": "mesh:D014655", "name": "Hypertension", "surface": "hypertension",
             "type": "disease"}  # fmt: skip
    assert mislinked(wrong, indexed, by_name)
    assert relink(wrong, by_name) == "mesh:D006973"
    right = wrong | {"entity_id": "mesh:D006973"}
    assert not mislinked(right, indexed, by_name)
    # An id the corpus never indexes, for a name it indexes under another UI.
    unseen = wrong | {"entity_id": "mesh:D015532", "name": "Hypertension"}
    assert mislinked(unseen, indexed, by_name)
    # A name MEDLINE never indexes keeps an id of its own name.
    lone = {"entity_id": "mesh:D1", "name": "Odd Syndrome", "surface": "odd syndrome",
            "type": "disease"}  # fmt: skip
    assert relink(lone, by_name) == "disease:odd_syndrome"


def test_part_of_a_defined_long_form_does_not_take_its_short_form() -> None:
    # "RPN" is defined as renal papillary necrosis, of which "necrosis" is a part.
    text = "Renal papillary necrosis (RPN) was seen. RPN associated with hypercalciuria."
    necrosis = text.index("necrosis")
    second = text.rindex("RPN")
    hyper = text.index("hypercalciuria")
    spans = [
        EntitySpan("mesh:NEC", "Necrosis", "disease", necrosis, necrosis + 8, "disease"),
        EntitySpan("mesh:NEC", "Necrosis", "disease", second, second + 3, "disease"),
        EntitySpan("mesh:HC", "Hypercalciuria", "disease", hyper, hyper + 14, "disease"),
    ]
    assert sentence_triples("1", text, spans) == []
