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
