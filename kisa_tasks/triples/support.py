"""How much a triple's evidence can be trusted (issue 18).

Each abstract that states a relation is one piece of evidence. How often
one piece is right depends on its relation type and what it is
(``TripleEvidence.support``: a sentence pattern, a MeSH claim with a
sentence that shows it, or both); ``PRECISION`` holds that, measured on the
dev part of the labelled set with a uniform prior, so a type with few labels
does not borrow the others' precision (``benchmarks/triple_precision.py
--calibrate`` prints it; the held-out part never feeds it). Independent
pieces compound: a relation is wrong only if every piece is, so confidence
is ``1 - prod(1 - p)``; a sentence the indexers also claim is two pieces.

The graphs stage keeps relations at ``graph.min_confidence`` or above, so
a relation type the patterns read poorly enters questions only with more
evidence than one abstract.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

# Precision of one piece of evidence by support, then by (relation type,
# support): dev labels with a uniform prior, (right + 1) / (n + 2); the
# comment is the dev count behind each.
SUPPORT_PRECISION = {"mesh": 0.81, "sentence": 0.92}
PRECISION: dict[tuple[str, str], float] = {
    ("associated_with", "sentence"): 0.94,  # 67/70
    ("causes", "mesh"): 0.54,  # 6/11
    ("causes", "sentence"): 0.92,  # 104/112
    ("complication_of", "sentence"): 0.77,  # 9/11
    ("decreases", "sentence"): 0.86,  # 5/5
    ("diagnoses", "sentence"): 0.88,  # 6/6
    ("increases", "sentence"): 0.57,  # 3/5
    ("inhibits", "sentence"): 0.73,  # 10/13
    ("interacts_with", "sentence"): 0.80,  # 7/8
    ("prevents", "mesh"): 0.43,  # 5/12
    ("prevents", "sentence"): 0.56,  # 4/7
    ("risk_factor_for", "sentence"): 0.91,  # 9/9
    ("treats", "mesh"): 0.92,  # 66/71
    ("treats", "sentence"): 0.94,  # 46/48
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
