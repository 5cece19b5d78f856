"""The sentence splitter before issue 19 (three copies of it: triples, LLM
extraction chunks, judge): a full stop, "!" or "?", whitespace, then a
capital, digit or bracket. Kept as the benchmark's baseline."""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[])")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    spans = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        spans.append((start, match.start()))
        start = match.end()
    if start < len(text):
        spans.append((start, len(text)))
    return spans
