"""Seed graphs on the real FalkorDB: batched MERGE, the Cypher longest path
against the exact in-memory search, its fallback, hostile entity names."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kisa_tasks.graph import GraphStore, open_graph_store
from kisa_tasks.settings import KisaSettings
from kisa_tasks.subgraphs.graph import Edge, EntityInfo, KnowledgeGraph
from kisa_tasks.subgraphs.paths import longest_path
from kisa_tasks.subgraphs.store_io import (
    graph_id,
    load_seed_graph,
    relation_rows,
    replace_seed_graph,
    store_longest_path,
    write_seed_graph,
)


def _write(store: GraphStore, graph: str, edges: list[Edge]) -> None:
    names = {n for e in edges for n in (e.head, e.tail)}
    info = {n: EntityInfo(f"name of {n}", "disease") for n in names}
    write_seed_graph(store, relation_rows(graph, edges, info, {}))


NODES = [f"mesh:D{i:03d}" for i in range(8)]


@st.composite
def edge_lists(draw: st.DrawFn) -> list[Edge]:
    pairs = list(itertools.combinations(NODES, 2))
    chosen = draw(st.lists(st.sampled_from(pairs), min_size=1, max_size=14, unique=True))
    weights = draw(st.lists(st.integers(1, 3), min_size=len(chosen), max_size=len(chosen)))
    return [
        Edge(a, "associated_with", b, float(w)) for (a, b), w in zip(chosen, weights, strict=True)
    ]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(edge_lists(), st.sampled_from(NODES), st.integers(1, 6))
def test_cypher_longest_path_equals_the_exact_search(
    graph_store: GraphStore, edges: list[Edge], seed: str, depth: int
) -> None:
    graph_store.clear()
    _write(graph_store, "g1", edges)
    _write(graph_store, "g2", [Edge(seed, "other_graph", "mesh:X", 9.0)])  # not ours
    expected = longest_path(KnowledgeGraph.of(edges), seed, depth)
    result = store_longest_path(graph_store, "g1", seed, depth)
    assert result.method == "cypher"
    assert result.path == expected


@pytest.fixture()
def graph_store(contract_store: GraphStore) -> GraphStore:
    """Every store test here is the graph-store contract: it runs on FalkorDB,
    and on Neo4j too wherever KISA_NEO4J__URI is set (conftest)."""
    return contract_store


def test_rebuilding_a_seed_graph_changes_nothing(graph_store: GraphStore) -> None:
    edges = [Edge("mesh:A", "treats", "mesh:B", 2.0), Edge("mesh:B", "causes", "mesh:C", 1.0)]
    for _ in range(3):
        _write(graph_store, graph_id("mesh:A"), edges)
    assert graph_store.run("graph_counts") == [{"nodes": 3, "relations": 2}]
    loaded = load_seed_graph(graph_store, graph_id("mesh:A"))
    assert sorted(loaded.edges) == sorted(edges)


def test_a_timed_out_query_falls_back_to_the_exact_search(graph_store: GraphStore) -> None:
    # A complete graph on 12 nodes has ~330k simple paths of 6 hops.
    clique = [
        Edge(a, "r", b) for a, b in itertools.combinations([f"n{i:02d}" for i in range(12)], 2)
    ]
    _write(graph_store, "dense", clique)
    result = store_longest_path(graph_store, "dense", "n00", 6, timeout_ms=1)
    assert result.method == "dfs" and "ran past its 1 ms budget" in result.reason
    assert result.path == longest_path(KnowledgeGraph.of(clique), "n00", 6)
    assert len(result.path) == 7


HOSTILE = [
    'O\'Brien "syndrome"',
    "back\\slash",
    "{braces} $param",
    "x'}) MATCH (n) DETACH DELETE n //",
    "MERGE CREATE DELETE RETURN",
    "αβγ 糖尿病 ☃",
    "z" * 10_000,
]


def test_hostile_entity_names_are_stored_and_queried_safely(graph_store: GraphStore) -> None:
    ids = [f"name:{i}" for i in range(len(HOSTILE))]
    edges = [Edge(a, "associated_with", b) for a, b in itertools.pairwise(ids)]
    info = {i: EntityInfo(name, "concept") for i, name in zip(ids, HOSTILE, strict=True)}
    write_seed_graph(graph_store, relation_rows("h", edges, info, {}))
    # The same names as ids and graph ids too: parameters, never text.
    evil = [
        Edge(HOSTILE[3], "associated_with", HOSTILE[0]),
        Edge(HOSTILE[0], "r", HOSTILE[6]),
        Edge(HOSTILE[6], "r", HOSTILE[4]),  # the 10 kB id twice in one batch
    ]
    evil_info = {n: EntityInfo(n, "concept") for n in HOSTILE}
    for _ in range(2):  # a rebuild: nothing new, not even for the 10 kB id
        write_seed_graph(graph_store, relation_rows(HOSTILE[3], evil, evil_info, {}))
        counts = graph_store.run("graph_counts")
        assert counts == [{"nodes": len(HOSTILE) + 4, "relations": len(edges) + 3}]
    stored = graph_store.run("entity_names", {"ids": ids})
    assert [r["name"] for r in stored] == HOSTILE
    assert store_longest_path(graph_store, HOSTILE[3], HOSTILE[3], 6).path == (
        HOSTILE[3],
        HOSTILE[0],
        HOSTILE[6],
        HOSTILE[4],
    )
    # The exact fallback reads the same whole ids back.
    assert load_seed_graph(graph_store, HOSTILE[3]).has_edge(HOSTILE[6], HOSTILE[4])


def test_a_graph_store_that_is_gone_fails_with_what_to_fix(settings: KisaSettings) -> None:
    from kisa_tasks.graph import GraphStoreUnavailableError
    from kisa_tasks.services.process import choose_ports

    port = choose_ports(("x",), {})["x"]  # nothing listens there
    gone = settings.model_copy(
        update={"falkordb": settings.falkordb.model_copy(update={"port": port})}
    )
    with pytest.raises(GraphStoreUnavailableError) as err, open_graph_store(gone) as store:
        store_longest_path(store, "g", "mesh:A", 6)
    message = str(err.value)
    assert f"127.0.0.1:{port}" in message and "kisa services up graph" in message
    assert "nothing is duplicated" in message


def test_a_rebuilt_seed_graph_holds_only_the_new_relations(graph_store: GraphStore) -> None:
    graph = "rebuilt-seed"
    old = [Edge("mesh:DOLD1", "causes", "mesh:DOLD2", 1.0), Edge("mesh:DOLD2", "treats", "x:1")]
    _write(graph_store, graph, old)
    new = [Edge("mesh:DOLD1", "causes", "mesh:DNEW", 2.0)]
    info = {n: EntityInfo(n, "disease") for e in new for n in (e.head, e.tail)}
    replace_seed_graph(graph_store, graph, relation_rows(graph, new, info, {}))
    assert sorted(load_seed_graph(graph_store, graph).best.values()) == new


def test_a_query_error_that_is_no_timeout_fails_instead_of_falling_back(
    settings: KisaSettings,
) -> None:
    import redis

    from kisa_tasks.graph import open_graph_store

    # A key of the wrong type where the graph should be: the server answers
    # with an error that is not a timeout, as a broken query or backend would.
    wrong = settings.model_copy(
        update={"graph": settings.graph.model_copy(update={"name": "kisa_not_a_graph"})}
    )
    with open_graph_store(wrong) as store:
        store._db.connection.set("kisa_not_a_graph", "a string")  # type: ignore[attr-defined]
        try:
            with pytest.raises(redis.exceptions.ResponseError, match=r"(?i)wrong|type"):
                store_longest_path(store, "g", "mesh:A", 6)
        finally:
            store._db.connection.delete("kisa_not_a_graph")  # type: ignore[attr-defined]
