"""Which kinds of entity each relation type can join, and how an entity's
kind is known (issue 18).

Mentions come typed ``disease``, ``drug``, ``chemical`` or ``concept``; a
``concept`` is any other MeSH heading of a record: a procedure, an organism,
an organ, a phenomenon. MEDLINE XML names headings by UI only, so the MeSH
tree is not at hand; the qualifiers the indexers attach to a heading are,
and MeSH allows each qualifier on some tree branches only (``methods`` and
``instrumentation`` on procedures, ``pathogenicity`` on organisms, ``blood
supply`` and ``innervation`` on anatomy ...). A heading's kind is read from
every qualifier it carries anywhere in the corpus.

A relation whose ends do not fit its signature is not a fact whatever the
sentence says ("Colon causes ...", "a drug treats a drug"): every extractor
drops it, and the triples gate fails a partition that holds one.
"""

from __future__ import annotations

from collections.abc import Iterable

SUBSTANCES = frozenset({"drug", "chemical"})
# Kinds that can be an end of some relation; the others never enter a triple.
RELATIONAL_KINDS = SUBSTANCES | {"disease", "procedure", "organism"}

PROCEDURE_QUALIFIERS = frozenset({"methods", "instrumentation"})
ORGANISM_QUALIFIERS = frozenset({"pathogenicity"})
ANATOMY_QUALIFIERS = frozenset(
    {"anatomy & histology", "blood supply", "innervation", "cytology", "ultrastructure"}
)

_ANY_SUBSTANCE_OR_DISEASE = SUBSTANCES | {"disease"}
# relation type -> (head kinds, tail kinds)
SIGNATURES: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "treats": (SUBSTANCES | {"procedure"}, frozenset({"disease"})),
    "prevents": (SUBSTANCES | {"procedure"}, frozenset({"disease"})),
    "causes": (SUBSTANCES | {"organism", "disease"}, frozenset({"disease"})),
    "inhibits": (SUBSTANCES, SUBSTANCES),
    "increases": (SUBSTANCES, SUBSTANCES),
    "decreases": (SUBSTANCES, SUBSTANCES),
    "diagnoses": (SUBSTANCES | {"procedure"}, frozenset({"disease"})),
    "associated_with": (_ANY_SUBSTANCE_OR_DISEASE, _ANY_SUBSTANCE_OR_DISEASE),
    "risk_factor_for": (_ANY_SUBSTANCE_OR_DISEASE, frozenset({"disease"})),
    "complication_of": (frozenset({"disease"}), frozenset({"disease", "procedure"})),
    "interacts_with": (SUBSTANCES, SUBSTANCES),
}
RELATION_TYPES = tuple(SIGNATURES)


def concept_kind(qualifiers: Iterable[str]) -> str:
    """The kind of a ``concept`` heading from the qualifiers it was indexed with.

    >>> concept_kind(["methods", "adverse effects"])
    'procedure'
    >>> concept_kind(["pathogenicity", "genetics"])
    'organism'
    >>> concept_kind(["blood supply"]), concept_kind([])
    ('anatomy', 'concept')
    """
    seen = frozenset(q.lower() for q in qualifiers)
    if seen & PROCEDURE_QUALIFIERS:
        return "procedure"
    if seen & ORGANISM_QUALIFIERS:
        return "organism"
    if seen & ANATOMY_QUALIFIERS:
        return "anatomy"
    return "concept"


def entity_kind(mention_type: str, qualifiers: Iterable[str] = ()) -> str:
    """``disease``, ``drug`` and ``chemical`` mentions keep their type."""
    return concept_kind(qualifiers) if mention_type == "concept" else mention_type


def signature_violation(relation_type: str, head_kind: str, tail_kind: str) -> str | None:
    """Why ``head_kind -relation_type-> tail_kind`` cannot be a fact, or None.

    >>> signature_violation("treats", "drug", "disease") is None
    True
    >>> signature_violation("treats", "drug", "drug")
    'treats needs a disease as tail, not a drug'
    """
    signature = SIGNATURES.get(relation_type)
    if signature is None:
        return f"unknown relation type {relation_type!r}"
    heads, tails = signature
    if head_kind not in heads:
        return f"{relation_type} needs a {' or '.join(sorted(heads))} as head, not a {head_kind}"
    if tail_kind not in tails:
        return f"{relation_type} needs a {' or '.join(sorted(tails))} as tail, not a {tail_kind}"
    return None
