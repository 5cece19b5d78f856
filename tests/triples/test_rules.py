"""Rules triple extraction: cues, direction, type constraints, MeSH qualifiers,
vague co-occurrence dropped, sentences kept apart."""

from __future__ import annotations

from kisa_tasks.triples.rules import (
    RELATION_TYPES,
    EntitySpan,
    confidence,
    sentence_spans,
    sentence_triples,
)


def _spans(text: str, *entities: tuple[str, str, str]) -> list[EntitySpan]:
    out = []
    for surface, entity_id, type_ in entities:
        start = text.lower().index(surface.lower())
        out.append(EntitySpan(entity_id, surface, type_, start, start + len(surface)))
    return out


def _typed(
    text: str, *entities: tuple[str, str, str], qualifiers=None
) -> set[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    found = sentence_triples("1", text, _spans(text, *entities), qualifiers or {})
    return {(t.head, t.relation_type, t.tail) for t in found}


DIG = ("digoxin", "drug:dig", "drug")
HF = ("heart failure", "mesh:HF", "disease")


def test_cues_give_type_and_direction() -> None:
    assert _typed("Patients with heart failure were treated with digoxin.", HF, DIG) == {
        ("drug:dig", "treats", "mesh:HF")
    }
    assert _typed("Digoxin in the treatment of heart failure.", DIG, HF) == {
        ("drug:dig", "treats", "mesh:HF")
    }
    text = "Arrhythmia caused by digoxin was rare."
    assert _typed(text, ("Arrhythmia", "mesh:AR", "disease"), DIG) == {
        ("drug:dig", "causes", "mesh:AR")
    }
    text = "Digoxin-induced arrhythmia was rare."
    assert _typed(text, DIG, ("arrhythmia", "mesh:AR", "disease")) == {
        ("drug:dig", "causes", "mesh:AR")
    }


def test_type_constraints_and_vague_pairs() -> None:
    # A disease does not treat a drug: "treated with" the wrong way round is dropped.
    assert _typed("Digoxin treated with heart failure.", DIG, HF) == set()
    # Co-occurrence with no cue and no qualifier is vague: dropped.
    assert _typed("Digoxin and heart failure were studied.", DIG, HF) == set()


def test_mesh_qualifiers_type_an_uncued_pair() -> None:
    text = "Digoxin and heart failure were studied."
    assert _typed(text, DIG, HF, qualifiers={"mesh:HF": ["drug therapy"]}) == {
        ("drug:dig", "treats", "mesh:HF")
    }
    assert _typed(text, DIG, HF, qualifiers={"drug:dig": ["adverse effects"]}) == {
        ("drug:dig", "causes", "mesh:HF")
    }


def test_entities_in_different_sentences_are_not_related() -> None:
    text = "Heart failure was common. Later, patients were treated with digoxin."
    assert _typed(text, HF, DIG) == set()
    assert len(sentence_spans(text)) == 2


def test_relation_types_are_from_the_vocabulary_and_evidence_counts_once() -> None:
    text = "Digoxin treats heart failure; digoxin treats heart failure again."
    spans = _spans(text, DIG, HF)
    found = sentence_triples("9", text, spans, {})
    assert len(found) == 1 and found[0].relation_type in RELATION_TYPES
    assert found[0].sentence == text and found[0].relation == "treats"
    assert confidence(1) < confidence(2) < confidence(10) < 1


def test_docstring_examples() -> None:
    import doctest

    from kisa_tasks.triples import rules

    assert doctest.testmod(rules).failed == 0
