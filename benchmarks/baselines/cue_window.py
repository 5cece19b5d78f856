"""Baseline for the triple precision benchmark: the ``rules`` extractor as it
was before issue 18 (commit 7194af7), kept only to measure its yield beside
today's on the same corpus. Any two entities of a sentence within 80
characters, typed by the first cue word between them or by the record's
MeSH qualifiers. Not used by the platform.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from baselines.regex_sentences import sentence_spans
from kisa_tasks.triples.rules import EntitySpan, TripleEvidence

EXTRACTOR = "cue_window"
SUBSTANCES = frozenset({"drug", "chemical"})
MAX_GAP_CHARS = 80


@dataclass(frozen=True)
class Cue:
    pattern: re.Pattern[str]
    relation_type: str
    forward: bool  # True: (left, rel, right); False: (right, rel, left)


def _cue(words: str, relation_type: str, forward: bool = True) -> Cue:
    return Cue(re.compile(rf"(?i)\b(?:{words})\b"), relation_type, forward)


# Checked in order; the first that matches the gap between two mentions wins.
CUES: tuple[Cue, ...] = (
    _cue(r"(?:was|were|is|are|being)?\s*treated with|treatment with|therapy with", "treats", False),
    _cue(r"in the treatment of|for the treatment of|to treat|treats|treated|for", "treats"),
    _cue(r"(?:was|were|is|are)?\s*(?:caused|induced) by|due to|secondary to", "causes", False),
    _cue(r"-?induced|causes|caused|leads? to|led to|results? in|resulted in", "causes"),
    _cue(r"prevents?|prevented|prevention of|prophylaxis (?:of|against)", "prevents"),
    _cue(
        r"inhibits?|inhibited|inhibition of|inhibitor of|blocks?|blocked|antagoni[sz]ed", "inhibits"
    ),
    _cue(r"increases?|increased|elevates?|elevated|raises?|raised|enhanced", "increases"),
    _cue(r"decreases?|decreased|reduces?|reduced|lowers?|lowered|attenuated", "decreases"),
    _cue(r"diagnos(?:is|ed|e|es|tic) (?:of|for)|detects?|detected", "diagnoses"),
    _cue(r"risk factors? for|risk of|predispos\w+ to", "risk_factor_for"),
    _cue(r"complications? of|complicat\w+", "complication_of"),
    _cue(r"interacts? with|interaction (?:of|between|with)", "interacts_with"),
    _cue(
        r"associated with|association (?:of|between|with)|correlated with|linked to",
        "associated_with",
    ),
)

# MeSH qualifier of a disease heading -> how a substance in the same sentence
# relates to it; and the same for a qualifier of the substance's heading.
DISEASE_QUALIFIERS = {
    "drug therapy": "treats",
    "therapy": "treats",
    "prevention & control": "prevents",
    "chemically induced": "causes",
    "diagnosis": "diagnoses",
}
SUBSTANCE_QUALIFIERS = {
    "adverse effects": "causes",
    "toxicity": "causes",
    "poisoning": "causes",
    "therapeutic use": "treats",
}


def allowed(relation_type: str, head: EntitySpan, tail: EntitySpan) -> bool:
    if relation_type in ("treats", "prevents"):
        return head.type in SUBSTANCES and tail.type == "disease"
    if relation_type == "diagnoses":
        return tail.type == "disease"
    return True


def pair_relation(
    left: EntitySpan,
    right: EntitySpan,
    text: str,
    qualifiers: Mapping[str, Sequence[str]],
) -> tuple[EntitySpan, str, str, EntitySpan] | None:
    """(head, relation words, relation type, tail) for two mentions in one
    sentence, ``left`` before ``right``; None when nothing types the pair."""
    gap = text[left.end : right.start]
    if len(gap) <= MAX_GAP_CHARS:
        for cue in CUES:
            match = cue.pattern.search(gap)
            if match is None:
                continue
            head, tail = (left, right) if cue.forward else (right, left)
            if allowed(cue.relation_type, head, tail):
                return head, " ".join(match.group(0).lower().split()), cue.relation_type, tail
            break  # the most specific cue does not fit these types: no weaker reading
    for disease, substance in ((left, right), (right, left)):
        if disease.type != "disease" or substance.type not in SUBSTANCES:
            continue
        typed = [(q, DISEASE_QUALIFIERS.get(q)) for q in qualifiers.get(disease.entity_id, ())]
        typed += [(q, SUBSTANCE_QUALIFIERS.get(q)) for q in qualifiers.get(substance.entity_id, ())]
        for qualifier, relation_type in typed:
            if relation_type is not None:
                return substance, f"qualifier: {qualifier}", relation_type, disease
    return None


def sentence_triples(
    pmid: str,
    text: str,
    spans: Iterable[EntitySpan],
    qualifiers: Mapping[str, Sequence[str]],
) -> list[TripleEvidence]:
    """Typed relations between the entities of each sentence of ``text``."""
    ordered = sorted(spans, key=lambda s: (s.start, s.end, s.entity_id))
    out: list[TripleEvidence] = []
    seen: set[tuple[str, str, str]] = set()
    for start, end in sentence_spans(text):
        inside = [s for s in ordered if s.start >= start and s.end <= end]
        for i, left in enumerate(inside):
            for right in inside[i + 1 :]:
                if right.entity_id == left.entity_id or right.start < left.end:
                    continue
                found = pair_relation(left, right, text, qualifiers)
                if found is None:
                    continue
                head, words, relation_type, tail = found
                key = (head.entity_id, relation_type, tail.entity_id)
                if key in seen:  # once per abstract: evidence counts documents
                    continue
                seen.add(key)
                out.append(
                    TripleEvidence(
                        head.entity_id, words, relation_type, tail.entity_id, pmid, text[start:end]
                    )
                )
    return out
