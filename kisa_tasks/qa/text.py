"""Text comparisons shared by planning, validation, calibration and dedup."""

from __future__ import annotations

import re


def normalise(text: str) -> str:
    """Case-folded words only: how answers, names and duplicates are compared."""
    return " ".join(re.findall(r"\w+", text.casefold()))


def mentions(text: str, surface: str) -> bool:
    """Whether ``surface`` occurs in ``text`` as whole words (any case)."""
    words = normalise(surface)
    return bool(words) and re.search(rf"\b{re.escape(words)}\b", normalise(text)) is not None


def names_overlap(one: str, other: str) -> bool:
    """Whether one name gives the other away: it holds the other's words, or
    all its words are the other's, in any order ("Hypertension, Pulmonary"
    and "Pulmonary Arterial Hypertension"; "Heart Failure" and "Heart").

    >>> names_overlap("Hypertension, Pulmonary", "Pulmonary Arterial Hypertension")
    True
    >>> names_overlap("Heart Failure", "Heart"), names_overlap("Levodopa", "Dyskinesias")
    (True, False)
    """
    a, b = set(normalise(one).split()), set(normalise(other).split())
    return bool(a) and bool(b) and (a <= b or b <= a)
