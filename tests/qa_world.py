"""A small seed graph for QA and agent tests, written to the real graph store.

Seedosis (the seed) causes Xitis, which Betanib treats; Betanib inhibits
Gammatoxin. Alphamab treats Seedosis and Seedosis is associated with
Neuroflex: the two clues that pin the seed down; Xitis is associated with
Kappapathy (a clue in the middle of the path: at most one entity there may
go without); Omegacillin increases Gammatoxin. Tests add an edge to make the
answer ambiguous.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from kisa_tasks.graph import GraphStore
from kisa_tasks.subgraphs.graph import Edge, EntityInfo, Subgraph
from kisa_tasks.subgraphs.store_io import graph_id, relation_rows, write_seed_graph

SEED = "mesh:S"
ENTITIES = {
    "mesh:S": EntityInfo("Seedosis", "disease"),
    "mesh:X": EntityInfo("Xitis", "disease"),
    "db:D2": EntityInfo("Betanib", "drug"),
    "chem:T": EntityInfo("Gammatoxin", "chemical"),
    "db:D1": EntityInfo("Alphamab", "drug"),
    "mesh:N1": EntityInfo("Neuroflex", "concept"),
    "chem:U": EntityInfo("Deltoid", "chemical"),
    "db:D3": EntityInfo("Omegacillin", "drug"),
    "mesh:N2": EntityInfo("Kappapathy", "disease"),
}
PATH = ("mesh:S", "mesh:X", "db:D2", "chem:T")
EDGES = (
    Edge("mesh:S", "causes", "mesh:X", 2.0),
    Edge("db:D2", "treats", "mesh:X", 2.0),
    Edge("db:D2", "inhibits", "chem:T", 1.0),
    Edge("db:D1", "treats", "mesh:S", 3.0),
    Edge("mesh:S", "associated_with", "mesh:N1", 1.0),
    Edge("db:D3", "increases", "chem:T", 1.0),  # a clue that tells T from U
    Edge("mesh:X", "associated_with", "mesh:N2", 1.0),  # a clue for Xitis
)
AMBIGUOUS = Edge("db:D2", "inhibits", "chem:U", 1.0)  # a second answer


@dataclass
class Corpus:
    """Names, types and aliases, as ``EvidenceCorpus`` gives them."""

    entities: Mapping[str, EntityInfo] = field(default_factory=lambda: dict(ENTITIES))
    alias_map: Mapping[str, list[str]] = field(
        default_factory=lambda: {"chem:T": ["gamma toxin"], "mesh:X": ["x-itis"]}
    )

    def name(self, entity_id: str) -> str:
        return self.entities[entity_id].name

    def aliases(self, entity_id: str) -> list[str]:
        return list(self.alias_map.get(entity_id, []))


def subgraph(edges: tuple[Edge, ...] = EDGES, path: tuple[str, ...] = PATH) -> Subgraph:
    nodes = tuple(dict.fromkeys([*path, *(n for e in edges for n in (e.head, e.tail))]))
    return Subgraph(SEED, "max_chain", path, nodes, edges)


def write_graph(store: GraphStore, edges: tuple[Edge, ...] = EDGES) -> None:
    write_seed_graph(store, relation_rows(graph_id(SEED), edges, ENTITIES, {}))
