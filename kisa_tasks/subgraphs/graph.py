"""A seed's knowledge graph in memory: typed records and an undirected view.

Relations are directed facts (head -relation-> tail), but a multi-hop
question may walk them either way, so paths are searched on the undirected
view. Between two entities several relations may exist; the view keeps the
best-evidenced one per pair for walking and every one for the records.
Neighbour lists are sorted (evidence weight, then id), so every search over
them is deterministic.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from kisa_tasks.triples.records import EntityInfo

__all__ = ["Edge", "EntityInfo", "KnowledgeGraph", "Subgraph"]


@dataclass(frozen=True, order=True)
class Edge:
    """One relation; ``weight`` is its evidence (distinct supporting pmids)."""

    head: str
    relation: str
    tail: str
    weight: float = 1.0

    def other(self, node: str) -> str:
        return self.tail if node == self.head else self.head


@dataclass(frozen=True)
class Subgraph:
    """What a sampling strategy returns: the sub-graph a question is built on.

    ``path`` is the chain the question walks (its hops are ``len(path) - 1``);
    ``nodes`` and ``edges`` hold the path and its enrichment.
    """

    seed: str
    strategy: str
    path: tuple[str, ...]
    nodes: tuple[str, ...]
    edges: tuple[Edge, ...]

    @property
    def hops(self) -> int:
        return max(0, len(self.path) - 1)


def pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)


def _edge_key(edge: Edge) -> tuple[str, str, str, float]:
    return (edge.head, edge.relation, edge.tail, edge.weight)


def _evidence_order(
    best: dict[tuple[str, str], Edge], node: str
) -> Callable[[str], tuple[float, str]]:
    return lambda other: (-best[pair(node, other)].weight, other)


@dataclass
class KnowledgeGraph:
    edges: tuple[Edge, ...]
    best: dict[tuple[str, str], Edge] = field(init=False)
    adjacency: dict[str, tuple[str, ...]] = field(init=False)
    heaviest: float = field(init=False)  # the largest edge weight; a search bound

    def __post_init__(self) -> None:
        best: dict[tuple[str, str], Edge] = {}
        # Sorting on a plain tuple key is several times faster than the
        # dataclass's generated ordering on large graphs; the order is the same.
        for edge in sorted(self.edges, key=_edge_key):
            if edge.head == edge.tail:
                continue  # a self-loop never lengthens a simple path
            key = pair(edge.head, edge.tail)
            if key not in best or edge.weight > best[key].weight:
                best[key] = edge
        neighbours: dict[str, set[str]] = {}
        for a, b in best:
            neighbours.setdefault(a, set()).add(b)
            neighbours.setdefault(b, set()).add(a)
        self.best = best
        self.heaviest = max((edge.weight for edge in best.values()), default=0.0)
        self.adjacency = {
            node: tuple(sorted(others, key=_evidence_order(best, node)))
            for node, others in neighbours.items()
        }

    @classmethod
    def of(cls, edges: Iterable[Edge]) -> KnowledgeGraph:
        return cls(tuple(edges))

    def neighbours(self, node: str) -> tuple[str, ...]:
        """Best-evidenced first, then by id."""
        return self.adjacency.get(node, ())

    def degree(self, node: str) -> int:
        return len(self.adjacency.get(node, ()))

    def edge(self, a: str, b: str) -> Edge:
        return self.best[pair(a, b)]

    def has_edge(self, a: str, b: str) -> bool:
        return pair(a, b) in self.best

    def nodes(self) -> list[str]:
        return sorted(self.adjacency)
