"""The training mix: SFT examples balanced across question types.

The paper trains on diagnosis 30%, treatment 25%, guidelines 25% and rare
diseases 20%. ``balance`` keeps as many examples as the data allows at that
mix: the types the data has share the mix's weight between them
(renormalised), the scarcest type relative to its share sets the total, and
each type gives its first examples up to its share of it. Examples without
a known type (imported trajectories) are kept outside the balance.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence


def balance(types: Sequence[str], mix: Mapping[str, float]) -> list[int]:
    """Positions of the examples kept, in order.

    >>> balance(["diagnosis"] * 6 + ["treatment"] * 2, {"diagnosis": 0.5, "treatment": 0.5})
    [0, 1, 6, 7]
    >>> balance(["treatment", "diagnosis", ""], {"diagnosis": 0.3, "treatment": 0.25})
    [0, 1, 2]
    >>> balance(["guidelines"] * 3, {"diagnosis": 0.3, "guidelines": 0.25})
    [0, 1, 2]
    """
    have = Counter(t for t in types if mix.get(t, 0.0) > 0)
    weight = sum(mix[t] for t in have)
    if not have or weight <= 0:
        return list(range(len(types)))
    share = {t: mix[t] / weight for t in have}
    total = min(have[t] / share[t] for t in have)
    quota = {t: min(have[t], int(share[t] * total + 0.5)) for t in have}
    taken: Counter[str] = Counter()
    kept = []
    for position, kind in enumerate(types):
        if kind in quota:
            if taken[kind] >= quota[kind]:
                continue
            taken[kind] += 1
        kept.append(position)
    return kept


def achieved(types: Sequence[str]) -> dict[str, float]:
    """Each type's share of ``types`` ("unknown" for examples without one).

    >>> achieved(["diagnosis", "treatment", "diagnosis", ""])
    {'diagnosis': 0.5, 'treatment': 0.25, 'unknown': 0.25}
    """
    counts = Counter(t or "unknown" for t in types)
    return {t: round(n / len(types), 4) for t, n in sorted(counts.items())} if types else {}
