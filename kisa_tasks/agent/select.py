"""Several rollouts per QA item, and which of them training keeps.

Each item is rolled out ``k`` times. The modes are spread systematically:
rollout ``r`` of an item is guided when ``(r + u) / k`` falls below the
guided share (``u`` a seeded draw per item), so ``k`` rollouts hold
``round(k * share)`` guided ones give or take one, and one rollout per item
is guided with probability ``share`` as before.

Of an item's passing rollouts (filters passed, judged correct) the kept one
has the fewest redundant calls, then the fewest tool calls not counting
calls made again after a failed service (a recovery is what the failure
simulation is there to teach: it is preferred on a tie), then the lowest
number. Where an item has passing rollouts of both modes, the mode that
brings the kept set nearer the guided share is taken. The item's pass rate
over its ``k`` rollouts is its agent difficulty; its explore pass rate is the
calibration signal of the offline default.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass


def rollout_modes(qa_id: str, seed: int, k: int, guided_share: float) -> list[str]:
    """The mode of each of an item's ``k`` rollouts.

    >>> rollout_modes("q1", 0, 4, 0.7).count("guided") in (2, 3)
    True
    >>> rollout_modes("q1", 0, 10, 0.7).count("guided")
    7
    >>> rollout_modes("q1", 0, 3, 1.0), rollout_modes("q1", 0, 2, 0.0)
    (['guided', 'guided', 'guided'], ['explore', 'explore'])
    """
    digest = hashlib.sha256(f"{seed}|{qa_id}".encode()).digest()
    offset = int.from_bytes(digest[:8], "big") / 2**64
    return ["guided" if (r + offset) / k < guided_share else "explore" for r in range(k)]


@dataclass(frozen=True)
class Candidate:
    """One rollout of an item, as the selection sees it."""

    index: int  # the rollout's number among the item's
    mode: str
    passed: bool  # through the filters and judged correct
    redundant: int  # calls repeating an earlier one (``agent.efficiency.efficiency_counts``)
    tool_calls: int
    recovered: int  # failed calls made again

    @property
    def rank(self) -> tuple[int, int, int, int]:
        return (self.redundant, self.tool_calls - self.recovered, -self.recovered, self.index)


@dataclass(frozen=True)
class Difficulty:
    rollouts: int
    passed: int
    explore_rollouts: int
    explore_passed: int

    @property
    def pass_rate(self) -> float:
        return round(self.passed / self.rollouts, 4) if self.rollouts else 0.0

    @property
    def explore_pass_rate(self) -> float | None:
        if not self.explore_rollouts:
            return None
        return round(self.explore_passed / self.explore_rollouts, 4)


def difficulty(candidates: Sequence[Candidate]) -> Difficulty:
    explore = [c for c in candidates if c.mode == "explore"]
    return Difficulty(
        len(candidates),
        sum(c.passed for c in candidates),
        len(explore),
        sum(c.passed for c in explore),
    )


def select(
    items: Sequence[Sequence[Candidate]], guided_share: float, per_item: int = 1
) -> list[list[int]]:
    """For each item (in order), the rollout numbers kept: up to ``per_item``
    passing rollouts, best first, steering the kept modes to ``guided_share``.

    >>> g = Candidate(0, "guided", True, 0, 5, 0)
    >>> e = Candidate(1, "explore", True, 0, 3, 0)
    >>> select([[g, e], [g, e], [g, e]], 0.7)
    [[0], [1], [0]]
    >>> select([[Candidate(0, "guided", False, 0, 2, 0)]], 0.7)
    [[]]
    """
    kept: list[list[int]] = []
    guided = total = 0
    for candidates in items:
        passing = sorted((c for c in candidates if c.passed), key=lambda c: c.rank)
        chosen: list[int] = []
        while passing and len(chosen) < per_item:
            # The mode that leaves the kept share nearer the target, when offered.
            as_guided = abs((guided + 1) / (total + 1) - guided_share)
            wanted = (
                "guided" if as_guided <= abs(guided / (total + 1) - guided_share) else "explore"
            )
            best = next((c for c in passing if c.mode == wanted), passing[0])
            passing.remove(best)
            chosen.append(best.index)
            guided += best.mode == "guided"
            total += 1
        kept.append(chosen)
    return kept
