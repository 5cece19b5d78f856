"""Graph store: FalkorDB or Neo4j behind one interface, Cypher loaded by name."""

from kisa_tasks.graph.cypher import CypherError, load_cypher, render
from kisa_tasks.graph.store import (
    FalkorDBStore,
    GraphQueryTimeoutError,
    GraphStore,
    GraphStoreUnavailableError,
    Neo4jStore,
    open_graph_store,
)

__all__ = [
    "CypherError",
    "FalkorDBStore",
    "GraphQueryTimeoutError",
    "GraphStore",
    "GraphStoreUnavailableError",
    "Neo4jStore",
    "load_cypher",
    "open_graph_store",
    "render",
]
