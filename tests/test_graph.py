"""The graph store on the real FalkorDB server, and the Cypher loader."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kisa_tasks.graph import CypherError, GraphStore, load_cypher, render
from kisa_tasks.graph.cypher import CYPHER_DIR, statements

ENTITIES = [
    {"id": "mesh:D001", "name": "drug A", "type": "drug"},
    {"id": "mesh:D002", "name": "disease B", "type": "disease"},
    {"id": "mesh:D003", "name": "gene C", "type": "gene"},
]
RELATIONS = [
    {"head": "mesh:D001", "tail": "mesh:D002", "type": "treats", "pmids": ["1", "2"]},
    {"head": "mesh:D002", "tail": "mesh:D003", "type": "associated_with", "pmids": ["3"]},
]


@pytest.fixture()
def graph_store(contract_store: GraphStore) -> GraphStore:
    """Every store test here is the graph-store contract: it runs on FalkorDB,
    and on Neo4j too wherever KISA_NEO4J__URI is set (conftest)."""
    return contract_store


def test_merge_is_idempotent(graph_store: GraphStore) -> None:
    for _ in range(2):
        assert graph_store.run_batches("merge_entities", ENTITIES, batch_size=2) == 3
        graph_store.run_batches("merge_relations", RELATIONS)
    assert graph_store.run("graph_counts") == [{"nodes": 3, "relations": 2}]


def test_parameters_carry_hostile_strings_as_data(graph_store: GraphStore) -> None:
    name = "x'}) DETACH DELETE n //"
    graph_store.run_batches(
        "merge_entities", [{"id": "evil", "name": name, "type": "drug"}, *ENTITIES]
    )
    assert graph_store.run("graph_counts")[0]["nodes"] == 4
    rows = graph_store.run("entity_neighbours", {"id": "mesh:D001"}, literals={"max_depth": 1})
    assert rows == []  # no relations yet; the hostile name did nothing


def test_depth_literal_bounds_the_traversal(graph_store: GraphStore) -> None:
    graph_store.run_batches("merge_entities", ENTITIES)
    graph_store.run_batches("merge_relations", RELATIONS)
    one = graph_store.run("entity_neighbours", {"id": "mesh:D001"}, literals={"max_depth": 1})
    two = graph_store.run("entity_neighbours", {"id": "mesh:D001"}, literals={"max_depth": 2})
    assert [r["id"] for r in one] == ["mesh:D002"]
    assert [r["id"] for r in two] == ["mesh:D002", "mesh:D003"]


def test_schema_statements_apply_twice(graph_store: GraphStore) -> None:
    graph_store.ensure_schema()
    graph_store.ensure_schema()
    assert graph_store.ping()


@pytest.mark.parametrize("value", ["6", 6.0, True, -1, 65, "1..3"])
def test_slots_take_only_bounded_ints(value: object) -> None:
    with pytest.raises(CypherError):
        render("MATCH p=()-[*1..{{max_depth}}]-() RETURN p", {"max_depth": value})  # type: ignore[dict-item]


@given(st.integers(min_value=0, max_value=64))
def test_slot_rendering_is_exact(depth: int) -> None:
    assert render("[*1..{{ max_depth }}]", {"max_depth": depth}) == f"[*1..{depth}]"


def test_missing_slot_and_unknown_file_are_named() -> None:
    with pytest.raises(CypherError, match="max_depth"):
        render("[*1..{{max_depth}}]", {})
    with pytest.raises(CypherError, match=r"known: .*merge_entities"):
        load_cypher("no_such_query")
    with pytest.raises(CypherError, match="invalid cypher name"):
        load_cypher("../secrets")


def test_every_cypher_file_avoids_backend_specific_syntax() -> None:
    """One set of files serves FalkorDB and Neo4j: keep to the common subset."""
    for path in CYPHER_DIR.glob("*.cypher"):
        text = path.read_text()
        for banned in ("elementId(", "EXISTS {", "datetime(", "apoc."):
            assert banned not in text, f"{path.name} uses {banned}"


def test_schema_files_split_into_statements() -> None:
    for backend in ("falkordb", "neo4j"):
        stmts = statements(load_cypher(f"schema/{backend}"))
        assert stmts and all(s.upper().startswith("CREATE") for s in stmts)


LINTER = CYPHER_DIR.parents[1] / "tools" / "cypher-lint"
# A value of each parameter's type as the code passes it (the linter checks
# that every $parameter is given and used as its type allows).
PARAMETERS = {
    "entity_type": "disease", "frontier": ["mesh:D001"], "graph": "g1", "id": "mesh:D001",
    "ids": ["mesh:D001"], "outgoing": True, "relation": "treats", "seed": "mesh:D001",
    "rows": [{"id": "mesh:D001", "head": "mesh:D001", "tail": "mesh:D002", "graph": "g1"}],
}  # fmt: skip


def _lint(queries: dict[str, str]) -> dict[str, list[dict[str, object]]]:
    import json
    import shutil
    import subprocess

    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed: Neo4j's Cypher linter needs it (Node >= 20)")
    assert (LINTER / "node_modules").is_dir(), "the Cypher linter is not installed: make setup"
    done = subprocess.run(
        [node, str(LINTER / "lint.mjs")], input=json.dumps({"queries": queries,
        "parameters": PARAMETERS}), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    found: dict[str, list[dict[str, object]]] = json.loads(done.stdout)
    return found


def test_every_query_passes_neo4js_own_cypher_linter() -> None:
    """Neo4j cannot run here; its language server's linter can: every query
    as the code renders it, and the Neo4j schema, with no error or warning."""
    queries = {
        path.stem: render(load_cypher(path.stem), {"max_depth": 6})
        for path in sorted(CYPHER_DIR.glob("*.cypher"))
    }
    queries |= {
        f"schema/neo4j:{i}": s for i, s in enumerate(statements(load_cypher("schema/neo4j")))
    }
    assert len(queries) >= 12
    assert _lint(queries) == {name: [] for name in queries}
    # The linter finds what is wrong: a broken query and an undeclared parameter.
    broken = _lint({"syntax": "MATCH (n RETURN n", "parameter": "MATCH (n {id: $nope}) RETURN n"})
    assert broken["syntax"] and broken["parameter"]
    assert any(d["severity"] == 1 for d in broken["syntax"])
