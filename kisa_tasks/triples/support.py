"""How much a triple's evidence can be trusted (issue 18).

Each abstract that states a relation is one piece of evidence. How often
one piece is right depends on its relation type and what it is
(``TripleEvidence.support``: a sentence pattern, a MeSH claim with a
sentence that shows it, or both); ``PRECISION`` holds that, measured on the
dev part of the labelled set and smoothed toward the support's overall
precision (``benchmarks/triple_precision.py --calibrate`` prints it; the
held-out part never feeds it). Independent pieces compound: a relation is
wrong only if every piece is, so confidence is ``1 - prod(1 - p)``; a
sentence the indexers also claim is two pieces.

The graphs stage keeps relations at ``graph.min_confidence`` or above, so
a relation type the patterns read poorly enters questions only with more
evidence than one abstract.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

# Overall precision of one piece of evidence by support (dev labels).
SUPPORT_PRECISION = {"mesh": 0.78, "sentence": 0.87}
# By (relation type, support), smoothed toward SUPPORT_PRECISION with 5
# pseudo-labels; the comment is the dev count behind each.
PRECISION: dict[tuple[str, str], float] = {
    ("associated_with", "sentence"): 0.93,  # 42/45
    ("causes", "mesh"): 0.82,  # 1/1
    ("causes", "sentence"): 0.88,  # 36/41
    ("complication_of", "sentence"): 0.84,  # 10/12
    ("decreases", "sentence"): 0.94,  # 5/5
    ("diagnoses", "sentence"): 0.95,  # 8/8
    ("increases", "sentence"): 0.74,  # 3/5
    ("inhibits", "sentence"): 0.72,  # 10/15
    ("interacts_with", "sentence"): 0.87,  # 7/8
    ("prevents", "mesh"): 0.52,  # 5/12
    ("prevents", "sentence"): 0.70,  # 4/7
    ("risk_factor_for", "sentence"): 0.85,  # 11/13
    ("treats", "mesh"): 0.93,  # 23/24
    ("treats", "sentence"): 0.97,  # 18/18
}


def evidence_precision(relation_type: str, support: str) -> float:
    """Precision of one abstract's evidence.

    An ``llm`` reading passes the patterns' checks and has no labels of its
    own yet: it counts as a sentence pattern of its type until measured.
    """
    kind = "sentence" if support == "llm" else support
    return PRECISION.get((relation_type, kind), SUPPORT_PRECISION[kind])


def confidence(relation_type: str, supports: Iterable[str]) -> float:
    """Confidence of a relation from its evidence, one support per abstract.

    >>> confidence("treats", []) == 0.0
    True
    >>> confidence("treats", ["sentence"]) < confidence("treats", ["sentence", "sentence"]) < 1
    True
    >>> confidence("treats", ["sentence+mesh"]) > confidence("treats", ["sentence"])
    True
    """
    pieces = [p for s in supports for p in s.split("+")]
    if not pieces:
        return 0.0
    wrong = math.prod(1.0 - evidence_precision(relation_type, p) for p in pieces)
    return round(1.0 - wrong, 4)
