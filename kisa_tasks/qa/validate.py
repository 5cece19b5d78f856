"""Validators every QA item passes, whichever backend wrote it.

Each returns a rejection reason (``"leak: ..."``) or None. The uniqueness
check evaluates the question's plan in the graph store, one Cypher hop at a
time (``sql/cypher/qa_step.cypher``): the anchor candidates are the entities
that satisfy every anchor clue, each hop follows its relation from the
previous candidates (narrowed by that entity's clues), and the question is
unique when exactly one entity, the answer, is left at the end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from kisa_tasks.graph import GraphStore
from kisa_tasks.qa.plan import QuestionPlan
from kisa_tasks.qa.text import mentions, names_overlap, normalise
from kisa_tasks.subgraphs.store_io import graph_id, node_key

# frontier, relation, walked along the stored edge?, type of the reached entity
StepFn = Callable[[Sequence[str], str, bool, str], set[str]]

NON_ANSWERS = frozenset(
    {"", "unknown", "none", "n/a", "na", "not known", "no answer", "cannot be determined", "null"}
)
MIN_ALIAS_CHARS = 3  # shorter aliases ("MI", "A") match inside ordinary words


@dataclass(frozen=True)
class Bounds:
    min_hops: int = 2
    min_question_chars: int = 40
    max_question_chars: int = 1500
    max_answer_chars: int = 200


def check_hops(plan: QuestionPlan, bounds: Bounds) -> str | None:
    hops = len(plan.path) - 1
    if hops < bounds.min_hops:
        return f"too_few_hops: {hops} < {bounds.min_hops}"
    return None


def check_length(question: str, answer: str, bounds: Bounds) -> str | None:
    if not bounds.min_question_chars <= len(question) <= bounds.max_question_chars:
        return (
            f"length: question has {len(question)} characters, allowed "
            f"{bounds.min_question_chars}-{bounds.max_question_chars}"
        )
    if len(answer) > bounds.max_answer_chars:
        return f"length: answer has {len(answer)} characters, at most {bounds.max_answer_chars}"
    return None


def check_real_answer(answer: str, answer_id: str, nodes: Iterable[str]) -> str | None:
    if normalise(answer) in NON_ANSWERS:
        return f"no_answer: {answer!r} is not an entity"
    if answer_id not in set(nodes):
        return f"unknown_entity: answer {answer!r} is not in the sub-graph"
    return None


def check_leak(
    question: str,
    masked: Sequence[str],
    names: Mapping[str, Sequence[str]],
    where: str = "question",
) -> str | None:
    """None of the masked entities (the path, answer included) may appear in
    the question by name or by an alias of at least ``MIN_ALIAS_CHARS``, in
    any case. ``where`` names the text: the hints a guided rollout reads are
    checked like the question (``hint_leak``)."""
    reason = "leak" if where == "question" else f"{where}_leak"
    for entity in masked:
        for surface in names.get(entity, ()):
            if len(surface) >= MIN_ALIAS_CHARS and mentions(question, surface):
                return f"{reason}: the {where} names masked entity {entity!r} as {surface!r}"
    return None


def answer_candidates(plan: QuestionPlan, step: StepFn) -> set[str]:
    """The entities the plan's constraints leave as answers."""

    def narrowed(node: str, candidates: set[str]) -> set[str]:
        for clue in plan.clues.get(node, ()):
            # The candidate is reached from the named neighbour by the clue's
            # relation walked the other way.
            candidates &= step([clue.target], clue.relation, not clue.outgoing, plan.type_of(node))
        return candidates

    anchor = plan.path[0]
    first = plan.clues[anchor][0]
    frontier = step([first.target], first.relation, not first.outgoing, plan.type_of(anchor))
    frontier = narrowed(anchor, frontier)
    for hop in plan.hops:
        if not frontier:
            break
        frontier = step(sorted(frontier), hop.relation, hop.outgoing, plan.type_of(hop.target))
        frontier = narrowed(hop.target, frontier)
    return frontier


def check_answer_clue(plan: QuestionPlan) -> str | None:
    """The answer must be singled out by a fact of its own ("... which drug
    (one that causes Hyperkinesis)?"), not by the last hop alone: the seed
    graph is a sample, and in the literature a disease causes or is treated
    with many things, so a bare last hop has many true answers."""
    if plan.clues.get(plan.answer):
        return None
    return "no_answer_clue: only the last hop points at the answer, and it has many true answers"


def check_clue_names(plan: QuestionPlan, name: Callable[[str], str]) -> str | None:
    """No clue may name a neighbour whose name gives a path entity's away
    (``text.names_overlap``): the question would all but write the masked
    name, the answer's above all."""
    for steps in plan.clues.values():
        for step in steps:
            for entity in plan.path:
                if names_overlap(name(step.target), name(entity)):
                    return (
                        f"leak: the clue {name(step.target)!r} nearly names masked entity "
                        f"{name(entity)!r}"
                    )
    return None


MAX_BARE_ENTITIES = 1


def check_bare_hops(plan: QuestionPlan, max_bare: int = MAX_BARE_ENTITIES) -> str | None:
    """At most ``max_bare`` entities in the middle of the path may be given
    by the hop that reaches them alone ("a disease that X causes"): in the
    literature each such hop has many true answers, so a chain of them is a
    tree to search, not a path to walk, however unique it is in the sample
    that is the seed graph."""
    bare = [n for n in plan.path[1:-1] if not plan.clues.get(n)]
    if len(bare) > max_bare:
        return (
            f"bare_hops: {len(bare)} entities in the middle of the path have no clue "
            f"of their own (at most {max_bare})"
        )
    return None


def check_shortcut(plan: QuestionPlan, step: StepFn) -> str | None:
    """The answer's own clues must not single it out: if they leave only the
    answer, the question is one hop for whoever searches the clue, and the
    path is decoration."""
    clues = plan.clues.get(plan.answer, ())
    if not clues:
        return None
    answer_type = plan.type_of(plan.answer)
    candidates: set[str] | None = None
    for clue in clues:
        reached = step([clue.target], clue.relation, not clue.outgoing, answer_type)
        candidates = reached if candidates is None else candidates & reached
    if candidates == {plan.answer}:
        return "shortcut: the answer's own clues name it without walking the path"
    return None


def check_unique(plan: QuestionPlan, step: StepFn) -> str | None:
    candidates = answer_candidates(plan, step)
    if candidates == {plan.answer}:
        return None
    if plan.answer not in candidates:
        return "not_unique: the constraints do not reach the answer"
    others = sorted(candidates - {plan.answer})
    return f"not_unique: {len(candidates)} entities fit, e.g. {others[:3]}"


def graph_step(store: GraphStore, graph: str) -> StepFn:
    """``StepFn`` over one seed graph in the graph store. Answers are kept:
    the graph does not change while questions are checked, and the questions
    of one seed ask the same hops again and again (5x fewer queries)."""
    seen: dict[tuple[tuple[str, ...], str, bool, str], set[str]] = {}

    def step(frontier: Sequence[str], relation: str, outgoing: bool, entity_type: str) -> set[str]:
        key = (tuple(sorted(frontier)), relation, outgoing, entity_type)
        if key not in seen:
            seen[key] = query(key[0], relation, outgoing, entity_type)
        return set(seen[key])

    def query(frontier: Sequence[str], relation: str, outgoing: bool, entity_type: str) -> set[str]:
        rows = store.run(
            "qa_step",
            {
                "frontier": [node_key(f) for f in frontier],
                "graph": graph,
                "relation": relation,
                "outgoing": outgoing,
                "entity_type": entity_type,
            },
        )
        return {r["id"] for r in rows}

    return step


def graph_steps(store: GraphStore) -> Callable[[str], StepFn]:
    """seed -> its ``graph_step``, one per seed for the whole stage."""
    steps: dict[str, StepFn] = {}

    def for_seed(seed: str) -> StepFn:
        if seed not in steps:
            steps[seed] = graph_step(store, graph_id(seed))
        return steps[seed]

    return for_seed
