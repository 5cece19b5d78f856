"""How much a triple's evidence can be trusted (issue 18).

Each abstract that states a relation is one piece of evidence. How often
one piece is right depends on its relation type and what it is
(``TripleEvidence.support``: a sentence pattern, a MeSH claim with a
sentence that shows it, or both); ``PRECISION`` holds that, measured on the
tuned-on parts of the labelled set (dev, and holdouts already read) with a
uniform prior, so a type with few labels does not borrow the others'
precision (``benchmarks/triple_precision.py --calibrate`` prints it; the
fresh holdout never feeds it). Independent
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
# support): dev and seen labels of the rows today's code produces, with a
# uniform prior, (right + 1) / (n + 2); the comment is the count behind each.
SUPPORT_PRECISION = {"mesh": 0.93, "sentence": 0.91}
PRECISION: dict[tuple[str, str], float] = {
    ("associated_with", "sentence"): 0.93,  # 101/108
    ("causes", "mesh"): 0.89,  # 7/7
    ("causes", "sentence"): 0.93,  # 143/153
    ("complication_of", "sentence"): 0.84,  # 15/17
    ("decreases", "sentence"): 0.80,  # 7/8
    ("diagnoses", "sentence"): 0.88,  # 6/6
    ("increases", "sentence"): 0.62,  # 7/11
    ("inhibits", "sentence"): 0.67,  # 15/22
    ("interacts_with", "sentence"): 0.83,  # 9/10
    ("prevents", "mesh"): 0.78,  # 6/7
    ("prevents", "sentence"): 0.60,  # 8/13
    ("risk_factor_for", "sentence"): 0.94,  # 15/15
    ("treats", "mesh"): 0.93,  # 63/67
    ("treats", "sentence"): 0.96,  # 68/70
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
