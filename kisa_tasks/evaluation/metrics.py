"""Scores of agent attempts on a benchmark: pass@k (the unbiased estimator
of Chen et al. 2021), tool use, time and how attempts ended, flattened into
MLflow-legal metric names."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import fmean

Summary = dict[str, float | int | dict[str, int]]

# MLflow metric names: alphanumerics, _ - . space / (and ':' off Windows).
_NOT_MLFLOW = re.compile(r"[^\w.\- /]")


@dataclass(frozen=True)
class Attempt:
    item_id: str
    correct: bool
    tool_calls: int
    termination: str  # e.g. "answered", "max_turns", "error"
    seconds: float


def pass_at_k(n: int, c: int, k: int) -> float:
    """Chance that at least one of ``k`` samples drawn without replacement
    from ``n`` attempts, ``c`` of them correct, is correct:
    1 - C(n-c, k) / C(n, k).

    >>> pass_at_k(4, 1, 1)
    0.25
    >>> round(pass_at_k(4, 2, 2), 4)  # 1 - 1/6
    0.8333
    >>> pass_at_k(10, 0, 5), pass_at_k(10, 8, 3)
    (0.0, 1.0)
    >>> pass_at_k(2, 1, 3)
    Traceback (most recent call last):
    ...
    ValueError: pass@k needs 1 <= k <= n and 0 <= c <= n, got n=2, c=1, k=3
    """
    if not (0 <= c <= n and 1 <= k <= n):
        raise ValueError(f"pass@k needs 1 <= k <= n and 0 <= c <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0  # every k-subset holds a correct attempt
    # C(n-c, k)/C(n, k) as a product of ratios below 1: the binomials
    # themselves overflow floats for n in the hundreds.
    miss = 1.0
    for i in range(n - c + 1, n + 1):
        miss *= 1.0 - k / i
    return 1.0 - miss


def summarise(attempts: Sequence[Attempt], k: int) -> Summary:
    """Benchmark-level scores; every item must have at least ``k`` attempts.

    >>> runs = [Attempt("a", True, 3, "answered", 2.0), Attempt("a", False, 5, "max_turns", 4.0),
    ...         Attempt("b", False, 1, "answered", 1.0), Attempt("b", False, 7, "error", 1.0)]
    >>> s = summarise(runs, k=2)
    >>> s["items"], s["attempts"], s["pass@1"], s["pass@2"], s["answered_share"]
    (2, 4, 0.25, 0.5, 0.5)
    >>> s["terminations"]
    {'answered': 2, 'error': 1, 'max_turns': 1}
    """
    if not attempts:
        raise ValueError("no attempts to summarise")
    n = Counter(a.item_id for a in attempts)
    c = Counter(a.item_id for a in attempts if a.correct)
    short = [item for item, count in n.items() if count < k]
    if short:
        raise ValueError(
            f"pass@{k} needs {k} attempts per item; {short[0]!r} has {n[short[0]]}"
            + (f" (and {len(short) - 1} more items are short)" if len(short) > 1 else "")
        )
    ends = Counter(a.termination for a in attempts)
    summary: Summary = {
        "items": len(n),
        "attempts": len(attempts),
        "pass@1": fmean(pass_at_k(n[i], c[i], 1) for i in n),
        f"pass@{k}": fmean(pass_at_k(n[i], c[i], k) for i in n),
        "mean_tool_calls": fmean(a.tool_calls for a in attempts),
        "mean_seconds": fmean(a.seconds for a in attempts),
        "terminations": dict(sorted(ends.items())),
        "answered_share": ends["answered"] / len(attempts),
    }
    return summary


def metric_name(key: str) -> str:
    """An MLflow-legal metric name: MLflow refuses '@', so pass@k is pass_at_k.

    >>> metric_name("pass@4"), metric_name("termination.tool:error")
    ('pass_at_4', 'termination.tool_error')
    """
    # ':' is legal on POSIX MLflow but not on Windows; replace it too.
    return _NOT_MLFLOW.sub("_", key.replace("@", "_at_"))


def flat_metrics(summary: Mapping[str, float | int | Mapping[str, int]]) -> dict[str, float]:
    """``summary`` as MLflow metrics; terminations become ``termination.<label>``.

    >>> flat_metrics({"items": 2, "pass@1": 0.5, "terminations": {"answered": 3}})
    {'items': 2.0, 'pass_at_1': 0.5, 'termination.answered': 3.0}
    """
    flat: dict[str, float] = {}
    for key, value in summary.items():
        if isinstance(value, Mapping):
            for label, count in value.items():
                flat[metric_name(f"termination.{label}")] = float(count)
        else:
            flat[metric_name(key)] = float(value)
    return flat
