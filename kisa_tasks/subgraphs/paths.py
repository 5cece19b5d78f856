"""Exact path searches over a ``KnowledgeGraph``.

``longest_path`` is the bounded-depth exhaustive search that the Cypher
longest-path query is checked against and falls back to: it enumerates every
simple path from the source up to ``max_depth`` edges, so the answer is the
true longest one (the reference implementation caps it at half the sample
size instead). Ties go to the path with more evidence, then to the smaller
node sequence, so the result never depends on iteration order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection

from kisa_tasks.subgraphs.graph import KnowledgeGraph

DEFAULT_MAX_DEPTH = 6


def _better(
    candidate: tuple[int, float, tuple[str, ...]], best: tuple[int, float, tuple[str, ...]]
) -> bool:
    length, weight, path = candidate
    best_length, best_weight, best_path = best
    if length != best_length:
        return length > best_length
    if weight != best_weight:
        return weight > best_weight
    return path < best_path


def longest_path(
    graph: KnowledgeGraph,
    source: str,
    max_depth: int = DEFAULT_MAX_DEPTH,
    allowed: Collection[str] | None = None,
) -> tuple[str, ...]:
    """The longest simple path from ``source`` with at most ``max_depth`` edges
    (only through ``allowed`` nodes when given); ``(source,)`` if it has no
    neighbour."""
    if max_depth < 0:
        raise ValueError(f"max_depth must be >= 0, got {max_depth}")
    best: tuple[int, float, tuple[str, ...]] = (0, 0.0, (source,))
    # Branch and bound: once a path of max_depth hops is known, a branch whose
    # weight cannot reach the best one even over the heaviest edges is cut.
    # Neighbours come heaviest first, so heavy full-length paths are found
    # early and most of the tree is never walked; the answer stays exact.
    path = [source]
    on_path = {source}
    weights = [0.0]
    # Each frame: the neighbours of path[-1] not tried yet.
    stack = [iter(graph.neighbours(source))]
    while stack:
        step = next(stack[-1], None)
        if step is None:
            stack.pop()
            on_path.discard(path.pop())
            weights.pop()
            continue
        if step in on_path or (allowed is not None and step not in allowed):
            continue
        weight = weights[-1] + graph.edge(path[-1], step).weight
        depth = len(path)
        if best[0] == max_depth and weight + (max_depth - depth) * graph.heaviest < best[1] - 1e-9:
            continue
        path.append(step)
        on_path.add(step)
        weights.append(weight)
        candidate = (depth, round(weight, 6), tuple(path))
        if _better(candidate, best):
            best = candidate
        if depth < max_depth:
            stack.append(iter(graph.neighbours(step)))
        else:
            on_path.discard(path.pop())
            weights.pop()
    return best[2]


def distances(graph: KnowledgeGraph, source: str, max_depth: int | None = None) -> dict[str, int]:
    """Hop distance from ``source`` to every node it reaches (within ``max_depth``)."""
    seen = {source: 0}
    queue = deque([source])
    while queue:
        node = queue.popleft()
        if max_depth is not None and seen[node] >= max_depth:
            continue
        for other in graph.neighbours(node):
            if other not in seen:
                seen[other] = seen[node] + 1
                queue.append(other)
    return seen


def shortest_path(graph: KnowledgeGraph, source: str, target: str) -> tuple[str, ...] | None:
    """A fewest-hops path, the best-evidenced first at every step (BFS over
    neighbour lists sorted by evidence, so the same graph gives the same path)."""
    parent: dict[str, str | None] = {source: None}
    queue = deque([source])
    while queue:
        node = queue.popleft()
        if node == target:
            out = [node]
            while (prev := parent[out[-1]]) is not None:
                out.append(prev)
            return tuple(reversed(out))
        for other in graph.neighbours(node):
            if other not in parent:
                parent[other] = node
                queue.append(other)
    return None
