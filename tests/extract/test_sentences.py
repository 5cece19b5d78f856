"""Sentence boundaries: abbreviations common in abstracts end no sentence,
units and full stops do, and spans carry no surrounding whitespace."""

from __future__ import annotations

from kisa_tasks.extract.sentences import sentence_spans


def sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in sentence_spans(text)]


def test_abbreviations_of_abstracts_end_no_sentence() -> None:
    text = (
        "Mortality was lower with aspirin vs. placebo (Smith et al. 2001). "
        "Some drugs, e.g. warfarin, were stopped i.v. two days before. "
        "Fig. 2 shows the result in 40 patients. The effect held."
    )
    assert sentences(text) == [
        "Mortality was lower with aspirin vs. placebo (Smith et al. 2001).",
        "Some drugs, e.g. warfarin, were stopped i.v. two days before.",
        "Fig. 2 shows the result in 40 patients.",
        "The effect held.",
    ]


def test_spans_point_into_the_text_without_whitespace() -> None:
    text = "  First one.   Second one?\nThird!  "
    spans = sentence_spans(text)
    assert [text[a:b] for a, b in spans] == ["First one.", "Second one?", "Third!"]
    assert sentence_spans("") == () and sentence_spans("   ") == ()
