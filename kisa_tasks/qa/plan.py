"""The constraints a multi-hop question encodes, independent of its wording.

A ``QuestionPlan`` walks a sub-graph's path from its first entity (the
anchor) to its last (the answer). The anchor is pinned down by clues: its
relations to neighbours in G_sub that are not on the path, named, while the
path entities themselves are never named. Each hop is a relation type and a
direction, so the plan is what the uniqueness check evaluates in the graph
store and what the templates put into words; an ``llm`` question carries the
same plan, so both backends are validated alike.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kisa_tasks.qa.text import names_overlap
from kisa_tasks.subgraphs.graph import Edge, EntityInfo, Subgraph

ANCHOR_CLUES = 2  # clues pinning down the first path entity
CLUES_PER_NODE = 1  # clues for each intermediate path entity


class PlanError(ValueError):
    """No question of the requested kind fits this sub-graph; says why."""


@dataclass(frozen=True)
class Step:
    """One relation walked or used as a clue: ``source`` ``relation`` ``target``
    in the direction of the walk; ``outgoing`` tells whether the stored edge
    points the same way (source is its head) or the other (source is its tail)."""

    source: str
    relation: str
    target: str
    outgoing: bool
    weight: float = 1.0


@dataclass(frozen=True)
class QuestionPlan:
    seed: str
    strategy: str
    subgraph_id: str
    path: tuple[str, ...]  # anchor ... answer, entity ids
    hops: tuple[Step, ...]  # path[i] -> path[i + 1]
    clues: Mapping[str, tuple[Step, ...]]  # path entity -> steps from it to named neighbours
    entities: Mapping[str, EntityInfo]  # every entity the plan mentions

    @property
    def answer(self) -> str:
        return self.path[-1]

    @property
    def masked(self) -> tuple[str, ...]:
        """Entities the question must not name: the whole path."""
        return self.path

    def name(self, entity: str) -> str:
        return self.entities[entity].name

    def type_of(self, entity: str) -> str:
        return self.entities[entity].type


def step_along(edge: Edge, source: str) -> Step:
    """``edge`` walked from ``source`` to its other end."""
    if source not in (edge.head, edge.tail):
        raise ValueError(f"{source!r} is not an end of {edge}")
    return Step(source, edge.relation, edge.other(source), edge.head == source, edge.weight)


def _edges_at(subgraph: Subgraph) -> dict[str, list[Edge]]:
    at: dict[str, list[Edge]] = {}
    for edge in subgraph.edges:
        at.setdefault(edge.head, []).append(edge)
        at.setdefault(edge.tail, []).append(edge)
    return at


def plan_question(
    subgraph: Subgraph,
    subgraph_id: str,
    entities: Mapping[str, EntityInfo],
    *,
    min_hops: int = 2,
    max_hops: int = 6,
    anchor_clues: int = ANCHOR_CLUES,
    clues_per_node: int = CLUES_PER_NODE,
    answer_clues: int = 0,
    require_anchor_clue: bool = True,
) -> QuestionPlan:
    """The plan over ``subgraph``'s path (its first ``max_hops`` hops).

    Clues are the best-evidenced relations of a path entity to entities off
    the path (ties by id), so the same sub-graph gives the same plan.
    """
    path = tuple(subgraph.path[: max_hops + 1])
    try:
        return _plan_along(path, subgraph, subgraph_id, entities, min_hops, anchor_clues,
                           clues_per_node, answer_clues, require_anchor_clue)  # fmt: skip
    except AnchorError:
        # A rare seed often has one relation only: nothing off the path to
        # describe it by. The same chain asked from its other end may have.
        return _plan_along(path[::-1], subgraph, subgraph_id, entities, min_hops, anchor_clues,
                           clues_per_node, answer_clues, require_anchor_clue)  # fmt: skip


class AnchorError(PlanError):
    """The first path entity has nothing off the path to describe it by."""


def _plan_along(
    path: tuple[str, ...],
    subgraph: Subgraph,
    subgraph_id: str,
    entities: Mapping[str, EntityInfo],
    min_hops: int,
    anchor_clues: int,
    clues_per_node: int,
    answer_clues: int,
    require_anchor_clue: bool,
) -> QuestionPlan:
    if len(path) - 1 < min_hops:
        raise PlanError(
            f"sub-graph path has {len(path) - 1} hop(s); the question needs at least {min_hops}"
        )
    at = _edges_at(subgraph)
    on_path = set(path)

    def edge_between(a: str, b: str) -> Edge:
        for edge in at.get(a, ()):
            if edge.other(a) == b:
                return edge
        raise PlanError(f"the sub-graph has no edge between path entities {a!r} and {b!r}")

    hops = tuple(step_along(edge_between(a, b), a) for a, b in itertools.pairwise(path))
    clues: dict[str, tuple[Step, ...]] = {}
    for i, node in enumerate(path):
        # The answer is what is asked: a clue there only narrows it down.
        cap = anchor_clues if i == 0 else answer_clues if i == len(path) - 1 else clues_per_node
        # A neighbour whose name gives a path entity's away ("Heart Failure"
        # for "Heart", "Hypertension, Pulmonary" for "Pulmonary Arterial
        # Hypertension") would name the masked entity: never a clue.
        off_path = [
            e
            for e in at.get(node, ())
            if e.other(node) not in on_path
            and e.other(node) in entities
            and not any(
                names_overlap(entities[e.other(node)].name, entities[p].name)
                for p in path
                if p in entities
            )
        ]
        off_path.sort(key=lambda e: (-e.weight, e.other(node), e.relation))
        chosen: list[Step] = []
        for edge in off_path:
            if len(chosen) >= cap:
                break
            if any(s.target == edge.other(node) for s in chosen):
                continue  # two clues through one neighbour add little
            chosen.append(step_along(edge, node))
        if chosen:
            clues[node] = tuple(chosen)
    if require_anchor_clue and path[0] not in clues:
        raise AnchorError(
            f"the first path entity {path[0]!r} has no neighbour off the path to describe it by"
        )
    mentioned = set(path) | {s.target for steps in clues.values() for s in steps}
    missing = sorted(m for m in mentioned if m not in entities)
    if missing:
        raise PlanError(f"no name or type known for {missing[:3]}")
    return QuestionPlan(
        seed=subgraph.seed,
        strategy=subgraph.strategy,
        subgraph_id=subgraph_id,
        path=tuple(path),
        hops=hops,
        clues=clues,
        entities={m: entities[m] for m in sorted(mentioned)},
    )


def placeholder(index: int, last: bool) -> str:
    """``Entity_A``, ``Entity_B``, ...; the answer is ``Target_Entity`` (the
    reference format's names)."""
    return "Target_Entity" if last else f"Entity_{chr(ord('A') + index)}"


def placeholders(path: Sequence[str]) -> dict[str, str]:
    return {node: placeholder(i, i == len(path) - 1) for i, node in enumerate(path)}
