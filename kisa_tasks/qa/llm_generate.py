"""The ``llm`` question generator: the sub-graph as structured context, our
English prompt, JSON-schema output.

The model sees the sub-graph's entities under local ids (``E1`` ...), its
relations, and the path to walk; it writes the question, the answer (the
path's last entity), a reasoning path with placeholders, the entity mapping,
the paradigm, and the clues it used (path entity -> named neighbour). Those
clues with our path make the same ``QuestionPlan`` the rules backend makes,
so one set of validators judges both. A reply that is not JSON or has the
wrong shape (after the client's one repair), names an entity that is not in
the sub-graph, or answers something else is refused with the reason and the
seed is regenerated from another sub-graph.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kisa_tasks.qa.generate import Candidate, Entities, GenTask, QAConfig, item_from_plan
from kisa_tasks.qa.plan import PlanError, QuestionPlan, Step, plan_question, step_along
from kisa_tasks.qa.text import normalise
from kisa_tasks.subgraphs.graph import Edge

if TYPE_CHECKING:
    from kisa_tasks.llm.client import LLMClient

PROMPT_VERSION = "llm-qa-v1"
PARADIGMS = ("which_x_of", "comparison", "count", "temporal")

SYSTEM_PROMPT = f"""You write one hard multi-hop question for evaluating medical research agents.
(prompt {PROMPT_VERSION})

You get a knowledge sub-graph: entities with local ids, names and types, typed relations
between them, and a PATH of entity ids. Write a question that can only be answered by
walking the whole PATH, whose unique answer is the LAST entity of the PATH.

Rules:
- Never write the name of any PATH entity (or an obvious synonym) in the question.
  Describe each one by its relations to other entities of the sub-graph, by its type,
  and by times or numbers where the context gives them.
- Entities that are not on the PATH may be named; use them as clues.
- Describe the first PATH entity with at least one clue.
- Paradigm: one of {", ".join(PARADIGMS)}; the answer is always an entity name.
- reasoning_path: numbered steps that refer to entities only as Entity_A, Entity_B, ...
  and the answer as Target_Entity; entity_mapping resolves every placeholder.
- clues: for every clue in the question, the PATH entity id and the neighbour id.
Reply with JSON only."""


def answer_schema() -> dict[str, Any]:
    """Bounded everywhere so a constrained decoder always closes the object."""
    text = {"type": "string", "minLength": 1}
    return {
        "type": "object",
        "properties": {
            "question": {**text, "maxLength": 1500},
            "answer": {**text, "maxLength": 200},
            "reasoning_path": {**text, "maxLength": 3000},
            "entity_mapping": {
                "type": "array",
                "maxItems": 20,
                "items": {
                    "type": "object",
                    "properties": {
                        "placeholder": {**text, "maxLength": 40},
                        "value": {**text, "maxLength": 300},
                    },
                    "required": ["placeholder", "value"],
                    "additionalProperties": False,
                },
            },
            "paradigm": {"type": "string", "enum": list(PARADIGMS)},
            "clues": {
                "type": "array",
                "minItems": 1,
                "maxItems": 12,
                "items": {
                    "type": "object",
                    "properties": {
                        "entity": {**text, "maxLength": 12},
                        "neighbour": {**text, "maxLength": 12},
                    },
                    "required": ["entity", "neighbour"],
                    "additionalProperties": False,
                },
            },
        },
        "required": [
            "question",
            "answer",
            "reasoning_path",
            "entity_mapping",
            "paradigm",
            "clues",
        ],
        "additionalProperties": False,
    }


def local_ids(nodes: Sequence[str]) -> dict[str, str]:
    return {node: f"E{i}" for i, node in enumerate(nodes, start=1)}


def context(plan: QuestionPlan, edges: Sequence[Edge], corpus: Entities) -> str:
    """The user message: the sub-graph as JSON, path entities first."""
    nodes = list(dict.fromkeys([*plan.path, *(n for e in edges for n in (e.head, e.tail))]))
    ids = local_ids(nodes)
    payload = {
        "entities": [
            {"id": ids[n], "name": corpus.name(n), "type": corpus.entities[n].type} for n in nodes
        ],
        "relations": [
            {"head": ids[e.head], "relation": e.relation, "tail": ids[e.tail], "evidence": e.weight}
            for e in edges
        ],
        "path": [ids[n] for n in plan.path],
    }
    return json.dumps(payload, ensure_ascii=False, indent=1)


def plan_from_reply(
    plan: QuestionPlan, edges: Sequence[Edge], data: dict[str, Any]
) -> QuestionPlan:
    """Our path with the clues the model says it used; raises ``PlanError``
    when a clue is not a relation of the sub-graph."""
    nodes = list(dict.fromkeys([*plan.path, *(n for e in edges for n in (e.head, e.tail))]))
    by_local = {v: k for k, v in local_ids(nodes).items()}
    on_path = set(plan.path)
    clues: dict[str, list[Step]] = {}
    for clue in data["clues"]:
        entity, neighbour = by_local.get(clue["entity"]), by_local.get(clue["neighbour"])
        if entity is None or neighbour is None:
            raise PlanError(f"unknown_entity: clue {clue} names an id not in the sub-graph")
        if entity not in on_path or neighbour in on_path:
            raise PlanError(f"bad_clue: {clue} must link a path entity to one off the path")
        edge = next(
            (e for e in edges if {e.head, e.tail} == {entity, neighbour}),
            None,
        )
        if edge is None:
            raise PlanError(
                f"bad_clue: no relation between {clue['entity']} and "
                f"{clue['neighbour']} in the sub-graph"
            )
        clues.setdefault(entity, []).append(step_along(edge, entity))
    if plan.path[0] not in clues:
        raise PlanError("bad_clue: the first path entity has no clue")
    return QuestionPlan(
        seed=plan.seed,
        strategy=plan.strategy,
        subgraph_id=plan.subgraph_id,
        path=plan.path,
        hops=plan.hops,
        clues={k: tuple(v) for k, v in clues.items()},
        entities=plan.entities,
    )


def unnamed_clues(plan: QuestionPlan, question: str, corpus: Entities) -> list[str]:
    """The clue neighbours the model claims but the question never writes
    (by name or alias, as whole words): the validators check the plan, so a
    claimed clue must be one the reader is given."""
    text = f" {normalise(question)} "
    missing = []
    for steps in plan.clues.values():
        for step in steps:
            names = [corpus.name(step.target), *corpus.aliases(step.target)]
            if not any(normalise(n) and f" {normalise(n)} " in text for n in names):
                missing.append(corpus.name(step.target))
    return missing


@dataclass
class LLMGenerator:
    make_client: Callable[[], LLMClient]
    corpus: Entities
    config: QAConfig = field(default_factory=QAConfig)
    name: str = "llm"
    prompt_version: str = PROMPT_VERSION

    def generate(self, tasks: Sequence[GenTask]) -> list[Candidate | str]:
        from kisa_tasks.llm.batch import LLMRequest, run_all
        from kisa_tasks.llm.client import Sampling

        out: list[Candidate | str] = []
        asked: list[tuple[int, GenTask, QuestionPlan]] = []
        requests = []
        for task in tasks:
            try:
                # The path and its hops; the model picks the clues itself.
                base = plan_question(
                    task.subgraph,
                    task.subgraph_id,
                    self.corpus.entities,
                    min_hops=self.config.min_hops,
                    max_hops=self.config.max_hops,
                    anchor_clues=0,
                    clues_per_node=0,
                    require_anchor_clue=False,
                )
            except PlanError as exc:
                out.append(f"no_plan: {exc}")
                continue
            messages = [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": context(base, task.subgraph.edges, self.corpus)},
            ]
            asked.append((len(out), task, base))
            requests.append(LLMRequest(task.key, messages))
            out.append("pending")
        if not requests:
            return out
        client = self.make_client()
        model = client.model
        sampling = Sampling(temperature=0.0, max_tokens=1500, seed=0)
        outcomes = run_all(
            client, requests, schema=answer_schema(), sampling=sampling, label="qa generate"
        )
        for (slot, task, base), outcome in zip(asked, outcomes, strict=True):
            if not outcome.ok:
                out[slot] = f"llm_failed: {outcome.error}"
                continue
            out[slot] = self._candidate(task, base, outcome.data, model)
        return out

    def _candidate(
        self, task: GenTask, base: QuestionPlan, data: dict[str, Any], model: str
    ) -> Candidate | str:
        try:
            plan = plan_from_reply(base, task.subgraph.edges, data)
        except PlanError as exc:
            return str(exc) if ":" in str(exc) else f"bad_clue: {exc}"
        missing = unnamed_clues(plan, data["question"], self.corpus)
        if missing:
            return (
                f"clue_not_in_question: {', '.join(missing)} claimed as a clue but never "
                "named in the question"
            )
        answer = data["answer"].strip()
        accepted = {
            normalise(plan.name(plan.answer)),
            *(normalise(a) for a in self.corpus.aliases(plan.answer)),
        }
        if normalise(answer) not in accepted:
            return (
                f"wrong_answer: {answer!r} is not the path's last entity {plan.name(plan.answer)!r}"
            )
        item = item_from_plan(
            task,
            plan,
            self.corpus,
            question=data["question"].strip(),
            reasoning_path=data["reasoning_path"].strip(),
            entity_mapping=[(m["placeholder"], m["value"]) for m in data["entity_mapping"]],
            paradigm=data["paradigm"],
            generator=f"llm:{model}",
            prompt_version=self.prompt_version,
        )
        return Candidate(item, plan)
