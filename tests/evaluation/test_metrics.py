"""pass@k against brute force, the benchmark summary and its MLflow names."""

from __future__ import annotations

import itertools

import pytest

from kisa_tasks.evaluation.metrics import Attempt, flat_metrics, pass_at_k, summarise


def brute_pass_at_k(n: int, c: int, k: int) -> float:
    """Share of all k-subsets of n attempts (first c correct) with a correct one."""
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(i < c for i in s) for s in subsets) / len(subsets)


@pytest.mark.parametrize("n", range(1, 8))
def test_pass_at_k_matches_enumeration(n: int) -> None:
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(brute_pass_at_k(n, c, k), abs=1e-12)


def test_pass_at_k_is_stable_for_large_n() -> None:
    # math.comb(1000, 500) overflows a float; the product form must not.
    assert pass_at_k(1000, 1, 500) == pytest.approx(0.5)
    assert 0.0 < pass_at_k(2000, 3, 10) < 1.0


@pytest.mark.parametrize(("n", "c", "k"), [(3, 1, 4), (3, 4, 1), (-1, 0, 1), (3, -1, 1), (3, 1, 0)])
def test_pass_at_k_rejects_bad_counts(n: int, c: int, k: int) -> None:
    with pytest.raises(ValueError, match="pass@k needs"):
        pass_at_k(n, c, k)


def attempts() -> list[Attempt]:
    # item a: 2 of 4 correct; item b: 0 of 4; item c: 4 of 4.
    out = []
    for item, correct in (("a", [1, 0, 1, 0]), ("b", [0, 0, 0, 0]), ("c", [1, 1, 1, 1])):
        for j, ok in enumerate(correct):
            out.append(
                Attempt(
                    item,
                    bool(ok),
                    tool_calls=j + 1,
                    termination="answered" if j < 3 else ("max_turns" if item != "c" else "error"),
                    seconds=float(2 * j),
                )
            )
    return out


def test_summarise() -> None:
    summary = summarise(attempts(), k=2)
    assert summary["items"] == 3
    assert summary["attempts"] == 12
    assert summary["pass@1"] == pytest.approx((0.5 + 0.0 + 1.0) / 3)
    assert summary["pass@2"] == pytest.approx((brute_pass_at_k(4, 2, 2) + 0.0 + 1.0) / 3)
    assert summary["mean_tool_calls"] == pytest.approx(2.5)
    assert summary["mean_seconds"] == pytest.approx(3.0)
    assert summary["answered_share"] == pytest.approx(9 / 12)
    terminations = summary["terminations"]
    assert terminations == {"answered": 9, "error": 1, "max_turns": 2}
    assert isinstance(terminations, dict)
    assert list(terminations) == sorted(terminations)


def test_summarise_key_follows_k() -> None:
    summary = summarise(attempts(), k=4)
    assert "pass@4" in summary and "pass@2" not in summary
    assert summary["pass@4"] == pytest.approx((1.0 + 0.0 + 1.0) / 3)


def test_summarise_names_item_with_too_few_attempts() -> None:
    runs = [*attempts(), Attempt("lonely", True, 1, "answered", 1.0)]
    with pytest.raises(ValueError, match="'lonely' has 1"):
        summarise(runs, k=2)


def test_summarise_empty() -> None:
    with pytest.raises(ValueError, match="no attempts to summarise"):
        summarise([], k=1)


def test_flat_metrics_are_mlflow_legal() -> None:
    from mlflow.utils.validation import _validate_metric_name

    runs = [*attempts(), *[Attempt("d", False, 0, "tool:error@x", 0.0)] * 4]
    flat = flat_metrics(summarise(runs, k=4))
    assert flat["pass_at_1"] == pytest.approx((0.5 + 0 + 1 + 0) / 4)
    assert "pass_at_4" in flat
    assert flat["termination.answered"] == 9.0
    assert flat["termination.tool_error_at_x"] == 4.0
    assert not any("@" in name for name in flat)
    assert all(isinstance(v, float) for v in flat.values())
    for name in flat:
        _validate_metric_name(name)  # raises MlflowException on a bad name
