"""The ``llm`` question generator: the sub-graph as structured context, our
English prompt, JSON-schema output.

The model sees the sub-graph's entities under local ids (``E1`` ...), its
relations, and the path to walk; it writes the question, the answer (the
path's last entity), a reasoning path with placeholders, the entity mapping,
the paradigm, and each clue it used: the words of its question that give
it, the path entity and the named neighbour. Those clues with our path make
the same ``QuestionPlan`` the rules backend makes, so one set of validators
judges both (``generate.validate``, which also leak-checks the hints the
guided rollout reads). What the model writes is checked against what it
claims, and refused with the reason:

- an entity that is not in the sub-graph, or a clue that is no relation of
  it (``unknown_entity``, ``bad_clue``);
- a clue whose words are not in the question, or do not name its neighbour
  (``clue_not_in_question``), or carry no word of its relation
  (``clue_relation_not_in_question``), or state it the other way round
  ("caused by N" where the entity causes N: ``clue_direction_reversed``);
- clues on the answer that single it out alone (``shortcut``: the question
  would be one search);
- a number or year the context never gives (``invented_number``);
- an answer that is not the path's last entity (``wrong_answer``).

A reply that is not JSON or has the wrong shape (after the client's one
repair) fails its seed, which is regenerated from another sub-graph.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kisa_tasks.qa.generate import Candidate, Entities, GenTask, QAConfig, item_from_plan
from kisa_tasks.qa.plan import PlanError, QuestionPlan, Step, plan_question, step_along
from kisa_tasks.qa.text import normalise
from kisa_tasks.qa.validate import StepFn, check_shortcut
from kisa_tasks.subgraphs.graph import Edge
from kisa_tasks.triples.rules import RELATION_CUE_WORDS, RELATION_CUES

if TYPE_CHECKING:
    from kisa_tasks.llm.client import LLMClient

PROMPT_VERSION = "llm-qa-v2"
# count, comparison and temporal questions need numbers and dates; the
# sub-graph carries names, types and relations only, so they are not offered.
PARADIGMS = ("which_x_of",)
SYMMETRIC = frozenset({"associated_with", "interacts_with"})

SYSTEM_PROMPT = f"""You write one hard multi-hop question for evaluating medical research agents.
(prompt {PROMPT_VERSION})

You get a knowledge sub-graph: entities with local ids, names and types, typed relations
between them (head -relation-> tail), and a PATH of entity ids. Write a question that can
only be answered by walking the whole PATH, whose unique answer is the LAST entity of the
PATH.

Rules:
- Never write the name of any PATH entity (or a synonym, in any case) in the question or
  in the reasoning_path. Describe each one by its type and its relations to other
  entities of the sub-graph.
- Entities that are not on the PATH may be named; use them as clues.
- Describe the first PATH entity with at least one clue.
- State every relation in its direction: for "E1 -causes-> E2", E1 causes E2 and E2 is
  caused by E1; never the other way round.
- A clue on the answer must be a fact it shares with other entities of the sub-graph:
  never one that names the answer alone, or the question is one search.
- Write no number, year or date: the sub-graph gives none.
- Paradigm: {", ".join(PARADIGMS)}; the answer is always an entity name.
- reasoning_path: numbered steps that refer to entities only as Entity_A, Entity_B, ...
  and the answer as Target_Entity; entity_mapping resolves every placeholder.
- clues: for every clue, the exact words of your question that give it (naming the
  neighbour), the PATH entity id and the neighbour id.
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
                    # The words first: the model quotes before it claims.
                    "properties": {
                        "text": {**text, "maxLength": 300},
                        "entity": {**text, "maxLength": 12},
                        "neighbour": {**text, "maxLength": 12},
                    },
                    "required": ["text", "entity", "neighbour"],
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


def claimed_steps(plan: QuestionPlan, edges: Sequence[Edge], data: dict[str, Any]) -> list[Step]:
    """The reply's clues as steps from a path entity, in the reply's order;
    raises ``PlanError`` when a clue is not a relation of the sub-graph."""
    nodes = list(dict.fromkeys([*plan.path, *(n for e in edges for n in (e.head, e.tail))]))
    by_local = {v: k for k, v in local_ids(nodes).items()}
    on_path = set(plan.path)
    steps = []
    for clue in data["clues"]:
        entity, neighbour = by_local.get(clue["entity"]), by_local.get(clue["neighbour"])
        if entity is None or neighbour is None:
            raise PlanError(f"unknown_entity: clue {clue} names an id not in the sub-graph")
        if entity not in on_path or neighbour in on_path:
            raise PlanError(f"bad_clue: {clue} must link a path entity to one off the path")
        edge = next((e for e in edges if {e.head, e.tail} == {entity, neighbour}), None)
        if edge is None:
            raise PlanError(
                f"bad_clue: no relation between {clue['entity']} and "
                f"{clue['neighbour']} in the sub-graph"
            )
        steps.append(step_along(edge, entity))
    return steps


def plan_from_reply(plan: QuestionPlan, steps: Sequence[Step]) -> QuestionPlan:
    """Our path with the clues the model says it used."""
    clues: dict[str, list[Step]] = {}
    for step in steps:
        clues.setdefault(step.source, []).append(step)
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


def _names_pattern(names: Sequence[str]) -> str:
    return "|".join(re.escape(n) for n in sorted({normalise(n) for n in names if normalise(n)}))


def clue_direction(text: str, names: Sequence[str], relation: str) -> bool | None:
    """Whether the clue's words make the neighbour the relation's head (True:
    "treated with N", "caused by N", "N-induced"), its tail (False: "that
    causes N", "treatment of N"), or cannot tell (None). ``text`` and
    ``names`` are compared normalised.

    >>> clue_direction("a disease treated with alphamab", ["Alphamab"], "treats")
    True
    >>> clue_direction("a disease that causes xitis", ["Xitis"], "causes")
    False
    >>> clue_direction("a drug linked to xitis", ["Xitis"], "causes") is None
    True
    """
    words = RELATION_CUE_WORDS.get(relation)
    said = normalise(text)
    name = _names_pattern(names)
    if words is None or not name:
        return None
    cue_word = rf"\b(?:{words})\w*"
    head_forms = (
        rf"{cue_word} (?:with|by) (?:\w+ ){{0,2}}(?:{name})\b",
        rf"\bby (?:the |a |an )?(?:{name})\b",
        rf"\b(?:{name}) (?:induced|mediated|caused|triggered|treated|related)\b",
        rf"\b(?:due|secondary) to (?:the |a |an )?(?:{name})\b",
        rf"\bhas as (?:a |an )?(?:\w+ ){{0,2}}(?:{name})\b",  # "has as a complication N"
    )
    if any(re.search(f, said) for f in head_forms):
        return True
    tail_form = rf"{cue_word} (?:(?:\w+ )?(?:of|for) )?(?:the |a |an )?(?:{name})\b"
    if re.search(tail_form, said):  # "causes N", "a risk factor for N", "treatment of N"
        return False
    return None


def clue_problem(
    steps: Sequence[Step], data: dict[str, Any], question: str, corpus: Entities
) -> str | None:
    """Why the clues the model claims (``steps``, in the reply's order) are
    not the ones its question gives."""
    written = f" {normalise(question)} "
    for clue, step in zip(data["clues"], steps, strict=True):
        names = [corpus.name(step.target), *corpus.aliases(step.target)]
        said = f" {normalise(clue['text'])} "
        neighbour = corpus.name(step.target)
        if said.strip() == "" or said not in written:
            return f"clue_not_in_question: the clue {clue['text']!r} is not words of the question"
        if not any(normalise(n) and f" {normalise(n)} " in said for n in names):
            return f"clue_not_in_question: {neighbour} claimed as a clue but never named in it"
        cue = RELATION_CUES.get(step.relation)
        if cue is not None and cue.search(clue["text"]) is None:
            return (
                f"clue_relation_not_in_question: {clue['text']!r} says nothing of "
                f"{step.relation} ({neighbour})"
            )
        if step.relation in SYMMETRIC:
            continue
        neighbour_is_head = not step.outgoing
        if clue_direction(clue["text"], names, step.relation) not in (None, neighbour_is_head):
            return (
                f"clue_direction_reversed: {clue['text']!r} states {step.relation} the "
                f"other way round ({neighbour} is its {'head' if neighbour_is_head else 'tail'})"
            )
    return None


def invented_numbers(question: str, context_text: str) -> list[str]:
    """Numbers and years the question writes that the context never gives.

    >>> invented_numbers("Approved in 2019, which drug treats IL-6 ...", "IL-6")
    ['2019']
    """
    given = set(re.findall(r"\d+", context_text))
    return [n for n in re.findall(r"\d+", question) if n not in given]


@dataclass
class LLMGenerator:
    make_client: Callable[[], LLMClient]
    corpus: Entities
    config: QAConfig = field(default_factory=QAConfig)
    name: str = "llm"
    prompt_version: str = PROMPT_VERSION
    # The graph access of the uniqueness check; with it, clues on the answer
    # that single it out alone are refused (``shortcut``).
    steps: Callable[[str], StepFn] | None = None

    def generate(self, tasks: Sequence[GenTask]) -> list[Candidate | str]:
        from kisa_tasks.llm.batch import LLMRequest, run_all
        from kisa_tasks.llm.client import Sampling

        out: list[Candidate | str] = []
        asked: list[tuple[int, GenTask, QuestionPlan, str]] = []
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
            given = context(base, task.subgraph.edges, self.corpus)
            messages = [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": given},
            ]
            asked.append((len(out), task, base, given))
            requests.append(LLMRequest(task.key, messages))
            out.append("pending")
        if not requests:
            return out
        client = self.make_client()
        model = client.model
        made_by = client.provenance(self.prompt_version)
        sampling = Sampling(temperature=0.0, max_tokens=1500, seed=0)
        outcomes = run_all(
            client, requests, schema=answer_schema(), sampling=sampling, label="qa generate"
        )
        for (slot, task, base, given), outcome in zip(asked, outcomes, strict=True):
            if not outcome.ok:
                out[slot] = f"llm_failed: {outcome.error}"
                continue
            out[slot] = self._candidate(task, base, given, outcome.data, model, made_by)
        return out

    def _candidate(
        self,
        task: GenTask,
        base: QuestionPlan,
        given: str,
        data: dict[str, Any],
        model: str,
        made_by: str,
    ) -> Candidate | str:
        try:
            steps = claimed_steps(base, task.subgraph.edges, data)
            plan = plan_from_reply(base, steps)
        except PlanError as exc:
            return str(exc) if ":" in str(exc) else f"bad_clue: {exc}"
        question = data["question"]
        problem = clue_problem(steps, data, question, self.corpus)
        if problem is not None:
            return problem
        if self.steps is not None and (shortcut := check_shortcut(plan, self.steps(task.seed))):
            return shortcut
        names = json.loads(given)["entities"]
        invented = invented_numbers(question, " ".join(e["name"] for e in names))
        if invented:
            return f"invented_number: {', '.join(invented)} is in no name of the sub-graph"
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
            question=question.strip(),
            reasoning_path=data["reasoning_path"].strip(),
            entity_mapping=[(m["placeholder"], m["value"]) for m in data["entity_mapping"]],
            paradigm=data["paradigm"],
            generator=f"llm:{model}",
            prompt_version=self.prompt_version,
            provenance=made_by,
        )
        return Candidate(item, plan)
