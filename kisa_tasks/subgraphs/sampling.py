"""The five sub-graph sampling strategies of the reference implementation,
made exact and deterministic.

- ``max_chain``: the true longest simple path from the seed (``longest_path``),
  enriched with one- and two-hop neighbours of its nodes.
- ``augmented_chain``: a backbone between the seed and a farthest node that
  is not adjacent to it, each backbone node given 1-2 neighbours.
- ``community_core_path``: the highest-degree centre within two hops of the
  seed, and the longest path inside the centre's depth-2 neighbourhood.
- ``dual_core_bridge``: two high-degree, non-adjacent cores near the seed, the
  path bridging them, and neighbours of both.
- ``mixed``: one of the four per sample.

Every choice is either ordered (degree, evidence, id) or drawn from a
``random.Random`` seeded with the seed entity, the run's seed and the
strategy, so the same graph and seed give the same ``Subgraph``.
"""

from __future__ import annotations

import hashlib
import itertools
import random
from collections.abc import Iterable, Sequence

from kisa_tasks.subgraphs.graph import Edge, KnowledgeGraph, Subgraph
from kisa_tasks.subgraphs.paths import DEFAULT_MAX_DEPTH, distances, longest_path, shortest_path
from kisa_tasks.vocabulary import SAMPLING_STRATEGIES, STRATEGIES

NEIGHBOURS_PER_NODE = 3


def subgraph_id(seed: str, strategy: str, rng_seed: int) -> str:
    """Deterministic id of the sub-graph a (seed, strategy, sampling seed) gives."""
    return hashlib.sha256(f"{seed}|{strategy}|{rng_seed}".encode()).hexdigest()[:16]


class SamplingError(ValueError):
    """No sub-graph of this kind exists around the seed; the reason says why."""


def path_edges(graph: KnowledgeGraph, path: Sequence[str]) -> list[Edge]:
    return [graph.edge(a, b) for a, b in itertools.pairwise(path)]


def enrich(
    graph: KnowledgeGraph,
    path: Sequence[str],
    per_node: int | Sequence[int] = NEIGHBOURS_PER_NODE,
    hops: int = 1,
) -> tuple[tuple[str, ...], tuple[Edge, ...]]:
    """Path plus up to ``per_node`` best-evidenced neighbours of each path node
    (a sequence gives each node its own cap); with ``hops=2`` each added
    neighbour brings its own best neighbour too."""
    caps = [per_node] * len(path) if isinstance(per_node, int) else list(per_node)
    nodes = list(dict.fromkeys(path))
    taken = set(nodes)
    edges = path_edges(graph, path)
    frontier: list[str] = []
    for node, cap in zip(path, caps, strict=True):
        added = 0
        for other in graph.neighbours(node):
            if added >= cap:
                break
            if other in taken:
                continue
            taken.add(other)
            nodes.append(other)
            edges.append(graph.edge(node, other))
            frontier.append(other)
            added += 1
    for _ in range(hops - 1):
        next_frontier = []
        for node in frontier:
            for other in graph.neighbours(node):
                if other not in taken:
                    taken.add(other)
                    nodes.append(other)
                    edges.append(graph.edge(node, other))
                    next_frontier.append(other)
                    break
        frontier = next_frontier
    return tuple(nodes), tuple(dict.fromkeys(edges))


def _by_degree(graph: KnowledgeGraph, nodes: Iterable[str]) -> list[str]:
    return sorted(nodes, key=lambda n: (-graph.degree(n), n))


def _with_seed_link(
    graph: KnowledgeGraph,
    seed: str,
    target: str,
    nodes: tuple[str, ...],
    edges: tuple[Edge, ...],
) -> tuple[tuple[str, ...], tuple[Edge, ...]]:
    """Add the seed's shortest way to ``target``, so a sub-graph sampled around
    a core still contains the seed it belongs to."""
    link = shortest_path(graph, seed, target) or (seed,)
    return (
        (*nodes, *(n for n in link if n not in nodes)),
        (*edges, *(e for e in path_edges(graph, link) if e not in edges)),
    )


def _require_neighbours(graph: KnowledgeGraph, seed: str) -> None:
    if not graph.neighbours(seed):
        raise SamplingError(f"seed {seed!r} has no relation in its graph")


def max_chain(graph: KnowledgeGraph, seed: str, rng: random.Random, max_depth: int) -> Subgraph:
    _require_neighbours(graph, seed)
    path = longest_path(graph, seed, max_depth)
    nodes, edges = enrich(graph, path, hops=2)
    return Subgraph(seed, "max_chain", path, nodes, edges)


def augmented_chain(
    graph: KnowledgeGraph, seed: str, rng: random.Random, max_depth: int
) -> Subgraph:
    _require_neighbours(graph, seed)
    reach = distances(graph, seed, max_depth)
    farthest = max(reach.values())
    if farthest < 2:
        raise SamplingError(f"no entity two hops from seed {seed!r}: no backbone")
    target = rng.choice(sorted(n for n, d in reach.items() if d == farthest))
    backbone = shortest_path(graph, seed, target)
    assert backbone is not None  # reachable by construction
    caps = [rng.choice((1, 2)) for _ in backbone]
    nodes, edges = enrich(graph, backbone, caps)
    return Subgraph(seed, "augmented_chain", backbone, nodes, edges)


def community_core_path(
    graph: KnowledgeGraph, seed: str, rng: random.Random, max_depth: int
) -> Subgraph:
    _require_neighbours(graph, seed)
    centre = _by_degree(graph, distances(graph, seed, 2))[0]
    community = set(distances(graph, centre, 2))
    path = longest_path(graph, centre, max_depth, allowed=community)
    if len(path) < 2:
        raise SamplingError(f"the core {centre!r} near seed {seed!r} has no path")
    nodes, edges = _with_seed_link(graph, seed, centre, *enrich(graph, path))
    return Subgraph(seed, "community_core_path", path, nodes, edges)


def dual_core_bridge(
    graph: KnowledgeGraph, seed: str, rng: random.Random, max_depth: int
) -> Subgraph:
    _require_neighbours(graph, seed)
    ranked = _by_degree(graph, distances(graph, seed, max_depth))[:8]
    pairs = [
        (a, b) for i, a in enumerate(ranked) for b in ranked[i + 1 :] if not graph.has_edge(a, b)
    ]
    if not pairs:
        raise SamplingError(f"no two non-adjacent cores near seed {seed!r}")
    # The best-connected pairs first; the rng picks among the top three.
    pairs.sort(key=lambda p: (-(graph.degree(p[0]) + graph.degree(p[1])), p))
    a, b = rng.choice(pairs[:3])
    bridge = shortest_path(graph, a, b)
    assert bridge is not None  # both are reachable from the seed
    caps = [NEIGHBOURS_PER_NODE if n in (a, b) else 0 for n in bridge]
    nodes, edges = enrich(graph, bridge, caps)
    link = shortest_path(graph, seed, a) or (seed,)
    extra_nodes = [n for n in link if n not in nodes]
    extra_edges = [e for e in path_edges(graph, link) if e not in edges]
    return Subgraph(
        seed, "dual_core_bridge", bridge, (*nodes, *extra_nodes), (*edges, *extra_edges)
    )


_SAMPLERS = {
    "max_chain": max_chain,
    "augmented_chain": augmented_chain,
    "community_core_path": community_core_path,
    "dual_core_bridge": dual_core_bridge,
}


def sample_subgraph(
    graph: KnowledgeGraph,
    seed: str,
    strategy: str,
    rng_seed: int = 0,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> Subgraph:
    """One sub-graph around ``seed``; ``mixed`` records the strategy it drew."""
    if strategy not in SAMPLING_STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; accepted: {SAMPLING_STRATEGIES}")
    # Seeded, reproducible choices (not security): S311 does not apply.
    rng = random.Random(f"{seed}|{rng_seed}|{strategy}")  # noqa: S311
    if strategy == "mixed":
        strategy = rng.choice(STRATEGIES)
    return _SAMPLERS[strategy](graph, seed, rng, max_depth)
