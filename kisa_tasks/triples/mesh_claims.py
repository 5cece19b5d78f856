"""Relations MEDLINE's indexers stated: MeSH heading/qualifier pairs within
one record (issue 18).

A chemical indexed ``/therapeutic use`` in a record whose disease is indexed
``/drug therapy`` is the indexers' claim that the paper is about the
chemical treating the disease; ``/adverse effects`` with ``/chemically
induced`` is an adverse-effect claim, and so on (``CLAIMS``). A record with
several chemicals and several diseases does not say which goes with which,
so a claim is only kept for a pair that one sentence of the abstract
mentions together: that sentence is its evidence, and the reader can check
it. Mentions that cannot be a relation's end (``rules.usable_mention``) do
not count.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from kisa_tasks.extract.sentences import sentence_spans
from kisa_tasks.triples.rules import (
    RELATION_CUES,
    EntitySpan,
    TripleEvidence,
    asserted,
    short_form_links,
    usable_mention,
)
from kisa_tasks.triples.signatures import signature_violation


@dataclass(frozen=True)
class Claim:
    relation_type: str
    head_qualifiers: frozenset[str]
    tail_qualifiers: frozenset[str]


CLAIMS: tuple[Claim, ...] = (
    Claim("treats", frozenset({"therapeutic use"}), frozenset({"drug therapy"})),
    Claim("prevents", frozenset({"therapeutic use"}), frozenset({"prevention & control"})),
    Claim(
        "causes",
        frozenset({"adverse effects", "toxicity", "poisoning"}),
        frozenset({"chemically induced"}),
    ),
    Claim("diagnoses", frozenset({"diagnostic use"}), frozenset({"diagnosis"})),
    Claim(
        "causes",
        frozenset({"pathogenicity", "isolation & purification"}),
        frozenset({"microbiology", "virology", "parasitology"}),
    ),
)


def record_claims(qualifiers: Mapping[str, Sequence[str]]) -> set[tuple[str, str, str]]:
    """(head, relation type, tail) the record's indexing claims, unchecked."""
    out: set[tuple[str, str, str]] = set()
    for claim in CLAIMS:
        heads = [e for e, qs in qualifiers.items() if claim.head_qualifiers & set(qs)]
        tails = [e for e, qs in qualifiers.items() if claim.tail_qualifiers & set(qs)]
        out.update((h, claim.relation_type, t) for h in heads for t in tails if h != t)
    return out


def claimed_triples(
    pmid: str,
    texts: Mapping[str, str],
    spans: Mapping[str, Iterable[EntitySpan]],
    qualifiers: Mapping[str, Sequence[str]],
) -> list[TripleEvidence]:
    """One evidence row per claim whose pair shares a sentence (the title
    included) that speaks of the relation (its words, ``RELATION_CUES``) and
    fits the relation's signature. Claims no such sentence shows are
    dropped: a reviewer must be able to check the evidence."""
    claims = record_claims(qualifiers)
    if not claims:
        return []
    best: dict[tuple[str, str, str], TripleEvidence] = {}
    for field, text in texts.items():
        if not text:
            continue
        field_spans = list(spans.get(field, ()))
        links = short_form_links(text, field_spans)
        usable = [s for s in field_spans if usable_mention(s, text, links) is None]
        for start, end in sentence_spans(text):
            sentence = text[start:end]
            inside = {s.entity_id: s for s in usable if s.start >= start and s.end <= end}
            for head, relation_type, tail in sorted(claims):
                if head not in inside or tail not in inside:
                    continue
                # A sentence must speak of the relation, the title too: a
                # bare co-mention ("Anticoagulants and myocardial
                # infarction") was right in 30 of 40 labelled treats claims
                # and 3 of 10 causes claims, against 98 of 106 with a cue.
                if not RELATION_CUES[relation_type].search(sentence):
                    continue
                key = (head, relation_type, tail)
                if key in best:
                    continue
                h, t = inside[head], inside[tail]
                if signature_violation(relation_type, h.entity_kind, t.entity_kind):
                    continue
                # "was not effective in preventing X", "a possible role of Y".
                left, right = sorted((h, t), key=lambda s: s.start)
                if not asserted(text, start, left, right):
                    continue
                words = "MeSH: " + " + ".join(
                    f"{s.name}/{'|'.join(sorted(qualifiers[s.entity_id]))}" for s in (h, t)
                )
                best[key] = TripleEvidence(head, words, relation_type, tail, pmid, sentence, "mesh")
    return list(best.values())


def merge_support(
    sentence: Sequence[TripleEvidence], mesh: Sequence[TripleEvidence]
) -> list[TripleEvidence]:
    """One row per (head, type, tail) of an abstract: the sentence pattern's
    row, marked ``sentence+mesh`` when the indexers claim the same."""
    claimed = {(t.head, t.relation_type, t.tail): t for t in mesh}
    out: list[TripleEvidence] = []
    for t in sentence:
        key = (t.head, t.relation_type, t.tail)
        if claimed.pop(key, None) is not None:
            t = replace(t, support="sentence+mesh")
        out.append(t)
    return out + list(claimed.values())
