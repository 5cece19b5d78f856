"""Path searches and sampling strategies on random and hand-made graphs."""

from __future__ import annotations

import itertools

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kisa_tasks.subgraphs.graph import Edge, KnowledgeGraph
from kisa_tasks.subgraphs.paths import longest_path, shortest_path
from kisa_tasks.subgraphs.sampling import SamplingError, sample_subgraph
from kisa_tasks.vocabulary import SAMPLING_STRATEGIES, STRATEGIES

NODES = [f"n{i}" for i in range(9)]


@st.composite
def graphs(draw: st.DrawFn) -> KnowledgeGraph:
    pairs = list(itertools.combinations(NODES, 2))
    chosen = draw(st.lists(st.sampled_from(pairs), min_size=1, max_size=20, unique=True))
    weights = draw(st.lists(st.integers(1, 4), min_size=len(chosen), max_size=len(chosen)))
    return KnowledgeGraph.of(
        Edge(a, "related_to", b, float(w)) for (a, b), w in zip(chosen, weights, strict=True)
    )


def _exhaustive_longest(graph: KnowledgeGraph, source: str, depth: int) -> int:
    g = nx.Graph(list(graph.best))
    if source not in g:
        return 0
    others = [n for n in g if n != source]
    lengths = [len(p) - 1 for p in nx.all_simple_paths(g, source, others, cutoff=depth)]
    return max(lengths, default=0)


def _is_simple_walk(graph: KnowledgeGraph, path: tuple[str, ...]) -> bool:
    return len(set(path)) == len(path) and all(
        graph.has_edge(a, b) for a, b in itertools.pairwise(path)
    )


@settings(max_examples=150, deadline=None)
@given(graphs(), st.sampled_from(NODES), st.integers(1, 6))
def test_longest_path_is_as_long_as_exhaustive_search_finds(
    graph: KnowledgeGraph, source: str, depth: int
) -> None:
    path = longest_path(graph, source, depth)
    assert path[0] == source and _is_simple_walk(graph, path)
    assert len(path) - 1 == _exhaustive_longest(graph, source, depth) <= depth


def _exhaustive_best(graph: KnowledgeGraph, source: str, depth: int) -> tuple[str, ...]:
    """Every simple path ranked as the search ranks them: hops, evidence, ids."""
    g = nx.Graph(list(graph.best))
    if source not in g:
        return (source,)
    others = [n for n in g if n != source]
    paths = [tuple(p) for p in nx.all_simple_paths(g, source, others, cutoff=depth)]
    weight = lambda p: sum(graph.edge(a, b).weight for a, b in itertools.pairwise(p))  # noqa: E731
    return min(paths, key=lambda p: (-len(p), -weight(p), p), default=(source,))


@st.composite
def dense_graphs(draw: st.DrawFn) -> KnowledgeGraph:
    """Denser, with more spread in evidence, so paths of full depth compete."""
    pairs = list(itertools.combinations(NODES, 2))
    chosen = draw(st.lists(st.sampled_from(pairs), min_size=8, max_size=30, unique=True))
    weights = draw(st.lists(st.integers(1, 9), min_size=len(chosen), max_size=len(chosen)))
    return KnowledgeGraph.of(
        Edge(a, "related_to", b, float(w)) for (a, b), w in zip(chosen, weights, strict=True)
    )


@settings(max_examples=300, deadline=None)
@given(dense_graphs(), st.sampled_from(NODES), st.integers(2, 5))
def test_the_pruned_search_returns_the_exhaustive_best_path(
    graph: KnowledgeGraph, source: str, depth: int
) -> None:
    # The branch-and-bound cut must never lose the best-evidenced longest path.
    assert longest_path(graph, source, depth) == _exhaustive_best(graph, source, depth)


@settings(max_examples=150, deadline=None)
@given(graphs(), st.sampled_from(NODES), st.sampled_from(SAMPLING_STRATEGIES), st.integers(0, 3))
def test_every_strategy_returns_real_edges_a_simple_path_and_is_deterministic(
    graph: KnowledgeGraph, seed: str, strategy: str, rng_seed: int
) -> None:
    try:
        sub = sample_subgraph(graph, seed, strategy, rng_seed)
    except SamplingError as exc:
        assert str(exc)  # a reason, never an empty sub-graph
        return
    assert sub.strategy in STRATEGIES and sub.seed == seed
    assert sub.hops >= 1 and _is_simple_walk(graph, sub.path)
    real = set(graph.best.values())
    assert set(sub.edges) <= real
    assert set(sub.path) <= set(sub.nodes) and seed in sub.nodes
    assert {n for e in sub.edges for n in (e.head, e.tail)} <= set(sub.nodes)
    assert sample_subgraph(graph, seed, strategy, rng_seed) == sub


def _chain(*names: str, weight: float = 1.0) -> list[Edge]:
    return [Edge(a, "r", b, weight) for a, b in itertools.pairwise(names)]


def test_ties_go_to_the_better_evidenced_path() -> None:
    graph = KnowledgeGraph.of(
        [*_chain("s", "a", "b"), *_chain("s", "c", "d", weight=3.0), Edge("a", "r", "x")]
    )
    assert longest_path(graph, "s", 6) == ("s", "c", "d")
    assert longest_path(graph, "s", 1) == ("s", "c")


def test_max_chain_is_the_true_longest_path_not_a_capped_one() -> None:
    # A 7-hop chain with many short branches: depth 6 gives exactly 6 hops.
    branches = [Edge("s", "r", f"leaf{i}") for i in range(10)]
    graph = KnowledgeGraph.of([*_chain("s", "a", "b", "c", "d", "e", "f", "g"), *branches])
    sub = sample_subgraph(graph, "s", "max_chain")
    assert sub.path == ("s", "a", "b", "c", "d", "e", "f") and sub.hops == 6


def test_a_seed_without_relations_is_refused_with_the_reason() -> None:
    graph = KnowledgeGraph.of(_chain("a", "b"))
    for strategy in STRATEGIES:
        with pytest.raises(SamplingError, match="no relation"):
            sample_subgraph(graph, "lonely", strategy)


def test_augmented_chain_needs_a_node_two_hops_away() -> None:
    star = KnowledgeGraph.of([Edge("s", "r", x) for x in "abc"])
    with pytest.raises(SamplingError, match="two hops"):
        sample_subgraph(star, "s", "augmented_chain")
    sub = sample_subgraph(KnowledgeGraph.of(_chain("s", "a", "b")), "s", "augmented_chain")
    assert sub.path == ("s", "a", "b")


def test_shortest_path_prefers_evidence_at_equal_length() -> None:
    graph = KnowledgeGraph.of(
        [*_chain("s", "a", "t"), *_chain("s", "b", weight=5.0), *_chain("b", "t")]
    )
    assert shortest_path(graph, "s", "t") == ("s", "b", "t")
    assert shortest_path(graph, "s", "nowhere") is None
