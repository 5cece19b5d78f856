"""The ``rules`` triple extractor: relations a sentence states between two
entities that are the cue's own subject and object (issue 18).

The extractor this replaced paired any two entities of a sentence with any
cue word between them, and three triples in four were false ("Both
nitroglycerin and phenylephrine increased ..." became "phenylephrine
increases nitroglycerin"). Here a relation needs all of:

- **adjacency**: the two mentions are neighbours among the sentence's
  relational entities (a third entity between them breaks the pair);
- **a whole pattern**: the text between them, parentheses dropped, is
  exactly a relation phrase ("was treated with", "-induced", "is a risk
  factor for"), allowing only auxiliaries, a few adverbs and determiners:
  no free words that could carry another subject or object;
- **direction** from the pattern (passives reversed: "induced by",
  "complicated by");
- **the entity itself, not a property of it**: "the effect of X was
  blocked", "increased X secretion", "X-induced aggregation" and
  hyphenated compounds ("SARS-CoV-2" is not SARS) are dropped;
- **an asserted finding**: no negation, hedge, question or study aim in the
  clause ("did not", "may", "whether", "to determine");
- **a linked short form that is defined**: an all-capitals surface the
  abstract never defines in parentheses is not trusted (IL-6 is not a
  plasmacytoma);
- **the relation's signature** (``signatures``): a drug treats a disease,
  never a drug or an organ.

Record-level MeSH claims (``mesh_claims``) add evidence for pairs the
indexers related; ``support`` says which evidence a triple has.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from kisa_tasks.extract.canonical import abbreviation_definitions
from kisa_tasks.extract.sentences import sentence_spans
from kisa_tasks.triples.signatures import (
    RELATION_TYPES,
    RELATIONAL_KINDS,
    signature_violation,
)

EXTRACTOR = "rules"
__all__ = ["EXTRACTOR", "RELATION_TYPES", "EntitySpan", "TripleEvidence", "sentence_triples"]


@dataclass(frozen=True)
class EntitySpan:
    """A canonical entity mentioned at ``start:end`` of a field's text."""

    entity_id: str
    name: str
    type: str
    start: int
    end: int
    kind: str = ""  # signatures.entity_kind; empty: the mention type

    @property
    def entity_kind(self) -> str:
        return self.kind or self.type


@dataclass(frozen=True)
class TripleEvidence:
    head: str
    relation: str  # the words that gave the type ("was treated with", "MeSH: ...")
    relation_type: str
    tail: str
    pmid: str
    sentence: str
    support: str = "sentence"  # "sentence", "mesh" or "sentence+mesh"
    provenance: str | None = None  # ``llm.client.provenance`` of a model's reading


# Words a relation phrase may carry besides its own: nothing that could be
# another subject or object.
_AUX = r"(?:(?:was|were|is|are|be|been|being|has|have|had|can|also|then)\s+)*"
_ADV = (
    r"(?:(?:significantly|markedly|strongly|potently|selectively|successfully|effectively|"
    r"further|completely|partially|consistently|greatly|substantially|rapidly|directly|"
    r"dose[- ]dependently|specifically|frequently|commonly|often|usually|mainly|primarily|"
    r"predominantly|reversibly|irreversibly|competitively|effectively|safely)\s+)*"
)
_DET = (
    r"(?:(?:the|a|an|its|their|both|plasma|serum|blood|circulating|urinary|tissue|"
    r"endogenous|cellular|intracellular|hepatic|renal|cerebral|cardiac|myocardial|"
    r"acute|chronic|severe|advanced|recurrent|refractory|metastatic|early|incident|new|"
    r"established|experimental|secondary|primary|progressive|mild|moderate|"
    r"moderate-to-severe|moderate-severe|human|childhood|adult)\s+)*"
)
_PATIENTS = (
    r"(?:(?:\w+\s+)?(?:patients?|subjects?|children|adults|cases|individuals|"
    r"women|men|infants|people)\s+(?:with|having|suffering from)\s+)?"
)
_DOSES = r"(?:(?:\w+\s+){0,2}(?:doses?|courses?|infusions?|administration)\s+of\s+)?"


@dataclass(frozen=True)
class Pattern:
    """A relation phrase between two adjacent mentions.

    ``gap`` must match the whole normalised text between them; ``before``,
    when set, must match the end of the text before the left mention.
    ``forward``: the left mention is the head.
    """

    name: str
    relation_type: str
    gap: re.Pattern[str]
    forward: bool
    before: re.Pattern[str] | None = None


def _pattern(
    name: str, relation_type: str, gap: str, forward: bool, before: str | None = None
) -> Pattern:
    return Pattern(
        name,
        relation_type,
        re.compile(gap),
        forward,
        re.compile(before + r"$") if before else None,
    )


_TREAT_NOUN = r"(?:treatment|management|therapy|control)"
PATTERNS: tuple[Pattern, ...] = (
    # treats
    _pattern(
        "in the treatment of",
        "treats",
        rf"{_AUX}{_ADV}(?:(?:an?|the)\s+)?(?:(?:effective|efficacious|useful|safe|new|"
        rf"first-line|standard|established)\s+)*(?:(?:drug|agent|option|choice|treatment|therapy)"
        rf"\s+)?(?:in|for)\s+(?:the\s+)?{_TREAT_NOUN}\s+of\s+{_PATIENTS}{_DET}",
        True,
    ),
    _pattern(
        "treats",
        "treats",
        rf"{_AUX}{_ADV}(?:approved\s+)?(?:to\s+)?(?:treats?|treated|treating|cures?|cured)\s+"
        rf"{_PATIENTS}{_DET}",
        True,
    ),
    _pattern(
        "therapy for",
        "treats",
        rf"(?:therapy|treatment|chemotherapy|monotherapy|regimen)\s+(?:for|of|in)\s+"
        rf"{_PATIENTS}{_DET}",
        True,
    ),
    _pattern(
        "treated with",
        "treats",
        rf"(?:(?:patients|cases|subjects|children)\s+)?{_AUX}{_ADV}(?:treated|managed|cured)\s+"
        rf"(?:with|by)\s+{_DOSES}{_DET}",
        False,
    ),
    _pattern(
        "treatment of ... with",
        "treats",
        r"with\s+",
        False,
        before=rf"(?i:\b{_TREAT_NOUN}\s+of\s+{_DET})",
    ),
    # prevents
    _pattern(
        "prevents",
        "prevents",
        rf"{_AUX}{_ADV}(?:prevents?|prevented|preventing|protects?\s+against|protected\s+"
        rf"against|(?:in|for)\s+the\s+(?:prevention|prophylaxis)\s+of|(?:reduces?|reduced|lowers?|"
        rf"lowered|decreases?|decreased)\s+the\s+(?:risk|incidence|occurrence)\s+of)\s+{_DET}",
        True,
    ),
    _pattern(
        "prophylaxis of",
        "prevents",
        rf"(?:prophylaxis|prevention)\s+(?:of|against)\s+{_DET}",
        True,
    ),
    # causes
    _pattern("-induced", "causes", rf"-?\s*(?:induced|provoked)\s+{_DET}", True),
    _pattern(
        "causes",
        "causes",
        rf"{_AUX}{_ADV}(?:causes?|caused|induces?|induced|produces?|produced|triggers?|"
        rf"triggered|provokes?|provoked|leads?\s+to|led\s+to)\s+{_DET}",
        True,
    ),
    _pattern(
        "caused by",
        "causes",
        rf"{_AUX}{_ADV}(?:caused|induced|produced|triggered|provoked)\s+by\s+{_DOSES}{_DET}",
        False,
    ),
    _pattern(
        "due to",
        "causes",
        rf"{_AUX}(?:(?:due|secondary|attributable|attributed)\s+to)\s+{_DET}",
        False,
    ),
    # inhibits
    _pattern(
        "inhibits",
        "inhibits",
        rf"{_AUX}{_ADV}(?:inhibits?|inhibited|inhibiting|blocks?|blocked|antagoni[sz]es|"
        rf"antagoni[sz]ed|suppress(?:es|ed)?)\s+{_DET}",
        True,
    ),
    _pattern(
        "an inhibitor of",
        "inhibits",
        rf",?\s*{_AUX}(?:(?:an?|the)\s+)?(?:(?:potent|selective|specific|competitive|irreversible|"
        rf"reversible|novel|oral|direct)\s+)*(?:inhibitor|antagonist|blocker)\s+of\s+{_DET}",
        True,
    ),
    _pattern(
        "inhibited by",
        "inhibits",
        rf"{_AUX}{_ADV}(?:inhibited|blocked|antagoni[sz]ed|suppressed)\s+by\s+{_DET}",
        False,
    ),
    # increases / decreases: of the entity itself or its level
    _pattern(
        "increases",
        "increases",
        rf"{_AUX}{_ADV}(?:increases?|increased|elevates?|elevated|raises?|raised|enhances?|"
        rf"enhanced)\s+{_DET}(?:(?:levels?|concentrations?)\s+of\s+{_DET})?",
        True,
    ),
    _pattern(
        "decreases",
        "decreases",
        rf"{_AUX}{_ADV}(?:decreases?|decreased|reduces?|reduced|lowers?|lowered|diminishe[sd]|"
        rf"attenuates?|attenuated|depletes?|depleted)\s+{_DET}(?:(?:levels?|concentrations?)"
        rf"\s+of\s+{_DET})?",
        True,
    ),
    # diagnoses
    _pattern(
        "in the diagnosis of",
        "diagnoses",
        rf"{_AUX}{_ADV}(?:(?:useful|helpful|valuable|accurate|reliable|sensitive|specific)\s+)?"
        rf"(?:(?:in|for)\s+)?(?:the\s+)?(?:diagnosis|diagnosing|detection|detecting)\s+"
        rf"(?:of\s+)?{_PATIENTS}{_DET}",
        True,
    ),
    _pattern(
        "diagnosed by",
        "diagnoses",
        rf"{_AUX}{_ADV}(?:diagnosed|detected|confirmed)\s+(?:by|with|using|on)\s+{_DET}",
        False,
    ),
    # risk_factor_for
    _pattern(
        "risk factor for",
        "risk_factor_for",
        rf"{_AUX}(?:(?:an?|the)\s+)?(?:(?:independent|major|important|significant|strong|"
        rf"known|main|leading|established)\s+)*risk\s+factors?\s+(?:for|of)\s+{_DET}",
        True,
    ),
    _pattern(
        "increases the risk of",
        "risk_factor_for",
        rf"{_AUX}{_ADV}(?:increases?|increased|raises?|raised)\s+the\s+risk\s+(?:of|for)\s+"
        rf"(?:developing\s+)?{_DET}",
        True,
    ),
    # complication_of
    _pattern(
        "a complication of",
        "complication_of",
        rf"(?:and\s+other\s+|,\s*)?{_AUX}(?:as\s+)?(?:(?:an?|the)\s+)?(?:(?:rare|common|serious|late|"
        rf"frequent|major|known|unusual|severe|fatal|long-term|early)\s+)*complications?\s+of\s+"
        rf"{_DET}",
        True,
    ),
    _pattern("complicated by", "complication_of", rf"{_AUX}complicated\s+by\s+{_DET}", False),
    # interacts_with
    _pattern(
        "interacts with", "interacts_with", rf"{_AUX}(?:interacts?|interacted)\s+with\s+", True
    ),
    _pattern(
        "interaction between",
        "interacts_with",
        r"(?:and|with)\s+",
        True,
        before=r"(?i:\binteractions?\s+(?:between|of)\s+)",
    ),
    # associated_with
    _pattern(
        "associated with",
        "associated_with",
        rf"{_AUX}{_ADV}(?:(?:positively|negatively|inversely|independently|closely)\s+)?"
        rf"(?:associated|correlated)\s+with\s+{_DET}",
        True,
    ),
)

# The words of each relation type, anywhere in a sentence: how a reader
# (the scripted researcher) sees that a sentence speaks of the relation.
RELATION_CUE_WORDS: dict[str, str] = {  # word starts, as regex alternatives
    "treats": r"treat|therap|management of|cure",
    "prevents": r"prevent|prophyla|protect|risk",
    "causes": r"caus|induc|produc|trigger|provok|due to|secondary to|attribut|lead|led to",
    "inhibits": r"inhibit|block|antagoni|suppress",
    "increases": r"increas|elevat|rais|enhanc",
    "decreases": r"decreas|reduc|lower|diminish|attenuat|deplet",
    "diagnoses": r"diagnos|detect|confirm",
    "risk_factor_for": r"risk",
    "complication_of": r"complicat",
    "interacts_with": r"interact",
    "associated_with": r"associat|correlat",
}
RELATION_CUES: dict[str, re.Pattern[str]] = {
    relation_type: re.compile(rf"(?i)\b(?:{words})")
    for relation_type, words in RELATION_CUE_WORDS.items()
}

# The clause holds no negation, hedge, question or study aim.
_NOT_ASSERTED = re.compile(
    r"(?i)\b(?:not|no|neither|nor|without|failed|fails|fail|unable|cannot|none|lack|absence|"
    r"may|might|could|whether|if|possibl[ey]|potential(?:ly)?|hypothes\w*|putative|presumabl[ey]|"
    r"suggest\w*|speculat\w*|unclear|unknown|controversial|remains?|"
    r"to\s+(?:investigate|determine|evaluate|examine|assess|test|study|explore|compare|clarify|"
    r"elucidate|establish|characteri[sz]e|identify|evaluate)|aims?|aimed|purpose|objectives?|"
    r"sought|attempt\w*|seem\w*|plausibl[ey]|(?:un)?likely|probabl[ey]|uncertain)\b"
)
_CLAUSE_BREAK = re.compile(r"(?i)[;:]|,\s*(?:but|whereas|while|although|however)\b|\bbut\b")
# The mention is a modifier in a compound or a property of the entity.
_PROPERTY_BEFORE = re.compile(
    r"(?i)\b(?:effects?|actions?|levels?|concentrations?|release|secretion|uptake|activity|"
    r"activities|synthesis|production|responses?|binding|metabolism|absence|lack|deficiency|"
    r"withdrawal|inhibition|blockade|antagonists?|inhibitors?|analogues?|analogs?|derivatives?|"
    r"metabolites?|precursors?|receptors?|antibod(?:y|ies)|resistance|sensitivity|toxicity|"
    r"expression|clearance|excretion|transport|history|suppression|knockdown|depletion|loss|"
    r"deletion|overexpression|activation|stimulation|induction|markers?|indicators?|indices|"
    r"index)\s+(?:of|to)\s+(?:the\s+)?$"
    # a combination, or the thing the entity's target resists
    r"|(?i:\b(?:plus|combined\s+with|in\s+combination\s+with)\s+$)"
    r"|(?i:\b(?:resistant|sensitive|susceptible|refractory)\s+to\s+(?:[\w-]+\s*(?:,|and|or)\s+)*$)"
)
_PROPERTY_AFTER = re.compile(
    r"(?i)^(?:\s*-\s*|\s+)(?:induced|mediated|stimulated|evoked|dependent|related|associated|"
    r"like|containing|positive|negative|resistant|sensitive|specific|deficient|treated|exposed|"
    r"activity|activities|release|secretion|uptake|synthesis|production|responses?|effects?|"
    r"binding|transport|metabolism|clearance|receptors?|genes?|expression|channels?|signal\w*|"
    r"pathways?|antibod(?:y|ies)|vaccines?|virus|viruses|coronavirus|cells?|mice|rats|models?|groups?|levels?|"
    r"concentrations?|content|risk|incidence|mortality|symptoms?|severity|progression|"
    r"patients?|users?|use|therapy|treatment|toxicity|resistance|infusion|administration|"
    r"withdrawal|deficiency|status|scores?|index|analogues?|analogs?|derivatives?|"
    r"synthetase|synthase|enzymes?|kinases?|oxidase|reductase|hydrolase|transferase|"
    r"dehydrogenase|transporters?|agonists?|antagonists?|inhibitors?|blockers?|increase|"
    r"vaccinations?|immuni[sz]ations?|hypersensitivity|allerg(?:y|ies)|intolerance|growth|"
    r"mrna|"
    r"decrease|rise|elevation|reduction|loss|gain|changes?|plus|combined|in\s+combination)\b"
    # a possessive: the relation is of something the entity has
    r"|^['\u2019]s\b"
)
# Hyphenated or slashed: "SARS-CoV-2", "DEN/PB-induced" (a combination).
_COMPOUND_AFTER = re.compile(r"^[-/][A-Za-z0-9]")
_COMPOUND_BEFORE = re.compile(r"[A-Za-z0-9'\u2019\u2032)\]][-/]$")
# The mention is the generic head of a more specific name that goes on past
# it: "interferon gamma" (or the letter), "phosphoinositide 3-kinase", "interleukin (IL)-17A",
# "prostaglandin E2", "factor VIII".
_SPECIFIER_AFTER = re.compile(
    r"^(?:\s*\([^()]{1,10}\)-\w"
    r"|\s+(?:[\u03b1-\u03c9\u0391-\u03a9]|(?:alpha|beta|gamma|delta|kappa)\b"
    r"|[B-HJ-Z]\d{0,2}\b|[AI]\d{1,2}\b|[IVX]{2,4}\b|\d+(?:-[A-Za-z]|[A-Z]\b)))"
)
# A relation of the entity's amount or activity keeps that word after it.
_THIRD_PARTY_AFTER = {
    "interacts_with": re.compile(r"(?i)^\s+with\b"),  # "of X and Y with DNA"
}
_ALLOWED_AFTER = {
    "increases": re.compile(r"(?i)^\s+(?:levels?|concentrations?|content)\b"),
    "decreases": re.compile(r"(?i)^\s+(?:levels?|concentrations?|content)\b"),
    "inhibits": re.compile(r"(?i)^\s+activity\b"),
}
_SHORT_FORM = re.compile(r"^[A-Z0-9][A-Z0-9-]{0,7}$")
_ADJECTIVE = re.compile(r"(?i)[a-z]+ergic")


def _normalise_gap(gap: str) -> str:
    """Lower case, parentheticals and stray brackets dropped, spaces collapsed."""
    text = gap
    while True:
        stripped = re.sub(r"\([^()]*\)|\[[^\[\]]*\]", " ", text)
        if stripped == text:
            break
        text = stripped
    # A leading comma stays (an apposition: "X, an inhibitor of Y"); so does
    # a trailing one: a list, not an object, follows.
    text = text.strip(" )(][").lower()
    return " ".join(text.split()) + " " if text else ""


def short_form_links(text: str, spans: Iterable[EntitySpan]) -> dict[str, str]:
    """Short form -> the entity its in-text definition names ("angiotensin-
    converting enzyme (ACE)"), for definitions whose whole long form is a
    mention."""
    whole = {(s.start, s.end): s.entity_id for s in spans}
    out: dict[str, str] = {}
    for short, long_start, long_end in abbreviation_definitions(text):
        # The mention must be the whole long form: "necrosis" in "renal
        # papillary necrosis (RPN)" does not make RPN a necrosis.
        if (long_start, long_end) in whole:
            out.setdefault(short, whole[(long_start, long_end)])
    return out


def usable_mention(span: EntitySpan, text: str, links: Mapping[str, str]) -> str | None:
    """Why this mention cannot be a relation's end, or None."""
    surface = text[span.start : span.end]
    if span.entity_kind not in RELATIONAL_KINDS:
        return "not_relational"
    if _COMPOUND_AFTER.match(text[span.end : span.end + 2]) and not re.match(
        r"-\s*(?:induced|provoked)\b", text[span.end : span.end + 12], re.IGNORECASE
    ):
        return "compound"
    if _COMPOUND_BEFORE.search(text[max(0, span.start - 2) : span.start]):
        return "compound"
    if _SPECIFIER_AFTER.match(text[span.end : span.end + 16]):
        return "more_specific_name"
    # "adrenergic discharge" is not the drug class Adrenergic Agents.
    if _ADJECTIVE.fullmatch(surface):
        return "adjective"
    # A short form is trusted when the text defines it as this entity, or it
    # is the entity's own name ("COVID-19"); never on a dictionary guess.
    if (
        _SHORT_FORM.match(surface)
        and links.get(surface) != span.entity_id
        and surface.lower() != span.name.lower()
    ):
        return "unlinked_short_form"
    return None


def asserted(text: str, sentence_start: int, left: EntitySpan, right: EntitySpan) -> bool:
    """No negation, hedge, aim or question in the clause that holds the pair."""
    before = text[sentence_start : left.start]
    breaks = list(_CLAUSE_BREAK.finditer(before))
    clause_start = sentence_start + breaks[-1].end() if breaks else sentence_start
    return _NOT_ASSERTED.search(text[clause_start : right.end]) is None


def _entity_itself(
    pattern: Pattern, text: str, sentence_start: int, left: EntitySpan, right: EntitySpan
) -> bool:
    """Neither end is a property of the entity ("effect of X", "X secretion")."""
    before_left = text[max(sentence_start, left.start - 40) : left.start]
    if _PROPERTY_BEFORE.search(before_left):
        return False
    # What follows the mention, past its own short form: "disease 2019
    # (COVID-19) vaccines" is about the vaccines.
    after_right = re.sub(r"^\s*\([^()]{1,12}\)", "", text[right.end : right.end + 45])[:30]
    third = _THIRD_PARTY_AFTER.get(pattern.relation_type)
    if third is not None and third.match(after_right):
        return False
    allowed = _ALLOWED_AFTER.get(pattern.relation_type)
    if allowed is not None and allowed.match(after_right):
        return True
    return _PROPERTY_AFTER.match(after_right) is None


def _alone_in_brackets(text: str, span: EntitySpan) -> bool:
    """The mention is all its parenthesis holds: "(DSS)", not "(2 g of DSS)"."""
    opening = text.rfind("(", 0, span.start)
    return opening >= 0 and not text[opening + 1 : span.start].strip()


def pair_relation(
    left: EntitySpan, right: EntitySpan, text: str, sentence_start: int
) -> tuple[EntitySpan, Pattern, EntitySpan] | None:
    """(head, pattern, tail) for two adjacent mentions, ``left`` first."""
    raw_gap = text[left.end : right.start]
    if raw_gap.lstrip().startswith(")") and not _alone_in_brackets(text, left):
        return None  # "(11 mg of elastin) reduced X": the subject is outside
    gap = _normalise_gap(raw_gap)
    before = text[max(sentence_start, left.start - 60) : left.start]
    for pattern in PATTERNS:
        if not pattern.gap.fullmatch(gap):
            continue
        if pattern.before is not None and not pattern.before.search(before):
            continue
        head, tail = (left, right) if pattern.forward else (right, left)
        if signature_violation(pattern.relation_type, head.entity_kind, tail.entity_kind):
            continue
        if not _entity_itself(pattern, text, sentence_start, left, right):
            return None
        if not asserted(text, sentence_start, left, right):
            return None
        return head, pattern, tail
    return None


def sentence_triples(pmid: str, text: str, spans: Iterable[EntitySpan]) -> list[TripleEvidence]:
    """Relations stated between adjacent entities of each sentence of ``text``."""
    ordered = sorted(spans, key=lambda s: (s.start, s.end, s.entity_id))
    if len({s.entity_id for s in ordered if s.entity_kind in RELATIONAL_KINDS}) < 2:
        return []  # nothing to relate: spare the sentence split, the stage's main cost
    ordered_links = short_form_links(text, ordered)
    out: list[TripleEvidence] = []
    seen: set[tuple[str, str, str]] = set()
    for start, end in sentence_spans(text):
        sentence = text[start:end]
        if sentence.rstrip().endswith("?"):
            continue
        inside = [
            s
            for s in ordered
            if s.start >= start and s.end <= end and s.entity_kind in RELATIONAL_KINDS
        ]
        for left, right in itertools.pairwise(inside):
            if right.entity_id == left.entity_id or right.start < left.end:
                continue
            if usable_mention(left, text, ordered_links) or usable_mention(
                right, text, ordered_links
            ):
                continue
            found = pair_relation(left, right, text, start)
            if found is None:
                continue
            head, pattern, tail = found
            key = (head.entity_id, pattern.relation_type, tail.entity_id)
            if key in seen:  # once per abstract: evidence counts documents
                continue
            seen.add(key)
            out.append(
                TripleEvidence(
                    head.entity_id, pattern.name, pattern.relation_type, tail.entity_id, pmid,
                    sentence,
                )
            )  # fmt: skip
    return out


def claim_problem(
    text: str, sentence_start: int, head: EntitySpan, relation_type: str, tail: EntitySpan
) -> str | None:
    """Why a relation someone else read in a sentence (the ``llm`` backend)
    fails the checks the patterns make, or None: the signature, both ends
    usable, the clause asserted, and the direction when a pattern reads the
    same pair the other way round."""
    violation = signature_violation(relation_type, head.entity_kind, tail.entity_kind)
    if violation:
        return f"signature: {violation}"
    links = short_form_links(text, (head, tail))
    for span in (head, tail):
        problem = usable_mention(span, text, links)
        if problem:
            return problem
    left, right = sorted((head, tail), key=lambda s: s.start)
    if not asserted(text, sentence_start, left, right):
        return "not_asserted"
    found = pair_relation(left, right, text, sentence_start)
    if found is not None and found[1].relation_type == relation_type and found[0] != head:
        return "direction_reversed"
    return None
