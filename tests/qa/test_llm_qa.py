"""The llm generator and the LLM solver against a small real
OpenAI-compatible server that answers on demand (good, broken, leaking)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fakes.openai_server import FakeOpenAI
from qa_world import EDGES, SEED, Corpus, subgraph, write_graph

from kisa_tasks.agent.post import decoy
from kisa_tasks.graph import GraphStore
from kisa_tasks.llm.client import LLMClient
from kisa_tasks.qa.calibrate import LLMSolver
from kisa_tasks.qa.generate import GenTask, QAConfig, RulesGenerator, synthesise
from kisa_tasks.qa.hints import masked_hints
from kisa_tasks.qa.llm_generate import PROMPT_VERSION, LLMGenerator
from kisa_tasks.qa.stage import make_solvers
from kisa_tasks.qa.validate import graph_step
from kisa_tasks.settings import KisaSettings, load_settings
from kisa_tasks.subgraphs.graph import Edge
from kisa_tasks.subgraphs.store_io import graph_id, load_seed_graph


def _context(body: dict[str, Any]) -> dict[str, Any]:
    return json.loads(body["messages"][1]["content"])


def _reply(body: dict[str, Any], mode: str) -> str:
    ctx = _context(body)
    ids = {e["name"]: e["id"] for e in ctx["entities"]}
    path = ctx["path"]
    answer_clue = "one Omegacillin increases"
    if mode == "reversed":  # the answer increases Omegacillin: the edge read backwards
        answer_clue = "one that increases Omegacillin"
    if mode == "no_relation":
        answer_clue = "one Omegacillin touches"
    if mode == "number":
        answer_clue = "one Omegacillin increases, first reported in 1987"
    question = (
        "A disease (A) is treated with Alphamab. A causes a disease (B). "
        f"B is treated with a drug (C). C inhibits which chemical ({answer_clue})?"
    )
    answer = "Gammatoxin"
    clues = [
        {"text": "is treated with Alphamab", "entity": path[0], "neighbour": ids["Alphamab"]},
        {"text": answer_clue, "entity": path[-1], "neighbour": ids["Omegacillin"]},
    ]
    reasoning = "1. Entity_A from Clue_1.\n2. ... GAMMATOXIN, or gamma toxin, is Target_Entity."
    if mode == "leak":
        question = question.replace("which chemical", "Gammatoxin, which chemical")
    if mode == "hint_leak":  # a path entity by name in the reasoning path, in lower case
        reasoning = "1. Entity_A from Clue_1.\n2. betanib inhibits Target_Entity."
    if mode == "unknown":
        clues = [{"text": "Alphamab", "entity": path[0], "neighbour": "E99"}]
    if mode == "wrong":
        answer = "Aspirin"
    if mode == "unnamed":  # claims the Omegacillin clue, never writes it
        question = question.replace(f" ({answer_clue})", "")
    return json.dumps(
        {
            "question": question,
            "answer": answer,
            "reasoning_path": reasoning,
            "entity_mapping": [{"placeholder": "Target_Entity", "value": answer}],
            "paradigm": "which_x_of",
            "clues": clues,
        }
    )


def _run(store: GraphStore, server: FakeOpenAI, generator: Any, solvers: list[Any]) -> Any:
    corpus = Corpus()
    return synthesise(
        [GenTask(SEED, "cardiology", subgraph(), "sg1", rng_seed=0)],
        generator,
        corpus,
        steps=lambda seed: graph_step(store, graph_id(seed)),
        graphs=lambda seed: load_seed_graph(store, graph_id(seed)),
        solvers=solvers,
        config=QAConfig(max_regenerations=0),
    )


def _client(server: FakeOpenAI) -> LLMClient:
    return LLMClient(base_url=server.base_url, model="fake", max_attempts=1, backoff_s=0.01)


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("good", None),
        ("broken", "llm_failed"),
        ("leak", "leak"),
        ("hint_leak", "hint_leak"),
        ("unknown", "unknown_entity"),
        ("wrong", "wrong_answer"),
        ("unnamed", "clue_not_in_question"),
        ("reversed", "clue_direction_reversed"),
        ("no_relation", "clue_relation_not_in_question"),
        ("number", "invented_number"),
    ],
)
def test_llm_replies_are_validated_like_rules_ones(
    seed_graph: GraphStore, mode: str, reason: str | None
) -> None:
    with FakeOpenAI() as server:
        server.responder = lambda body: (
            ("answer", "this is { not json") if mode == "broken" else ("answer", _reply(body, mode))
        )
        outcome = _run(seed_graph, server, LLMGenerator(lambda: _client(server), Corpus()), [])
        request = server.requests[0]
    system = request["messages"][0]["content"]
    assert PROMPT_VERSION in system and "Never write the name" in system
    clue = request["response_format"]["json_schema"]["schema"]["properties"]["clues"]["items"]
    assert next(iter(clue["properties"])) == "text"  # the words before the claim
    if reason is None:
        [item] = outcome.items
        assert item.generator == "llm:fake" and item.answer_id == "chem:T"
        assert item.paradigm == "which_x_of" and item.hops == 3
        # The hints mask the answer in any case and by its alias.
        assert "gamma" not in masked_hints(item).lower()
        # The judge's decoy is a clue the question names, not a masked path name.
        assert item.clue_names == ("Alphamab", "Omegacillin") and decoy(item) == "Alphamab"
    else:
        assert outcome.items == []
        assert [r.split(":")[0] for _, r, _ in outcome.rejected] == [reason]


def test_a_clue_that_names_the_answer_alone_is_a_shortcut(seed_graph: GraphStore) -> None:
    """Omegacillin increases Gammatoxin and nothing else: "which chemical does
    Omegacillin increase" is one search. Once it increases Deltoid too, the
    clue only narrows the last hop down, and the item passes."""
    steps = lambda seed: graph_step(seed_graph, graph_id(seed))  # noqa: E731
    outcomes = []
    for edges in (EDGES, (*EDGES, Edge("db:D3", "increases", "chem:U", 1.0))):
        write_graph(seed_graph, edges)
        with FakeOpenAI() as server:
            server.responder = lambda body: ("answer", _reply(body, "good"))
            generator = LLMGenerator(lambda: _client(server), Corpus(), steps=steps)
            outcomes.append(_run(seed_graph, server, generator, []))
    shortcut, shared = outcomes
    assert [r.split(":")[0] for _, r, _ in shortcut.rejected] == ["shortcut"]
    assert [i.answer_id for i in shared.items] == ["chem:T"]


def test_a_question_the_solver_gets_right_is_too_easy(seed_graph: GraphStore) -> None:
    with FakeOpenAI() as server:
        server.responder = lambda body: ("answer", json.dumps({"answer": "gammatoxin"}))
        solver = LLMSolver(lambda: _client(server), attempts=3)
        outcome = _run(seed_graph, server, RulesGenerator(Corpus()), [solver])
        seeds = sorted(r["seed"] for r in server.requests)
    assert outcome.items == []
    [(_, reason, item)] = outcome.rejected
    assert reason == "too_easy: solver accuracy 1.00"
    assert item is not None and item.solver_answers == 3
    assert seeds == [0, 1, 2]  # one request per attempt, each with its own sampling seed


def test_solver_failures_are_never_counted_as_calibrated(seed_graph: GraphStore) -> None:
    with FakeOpenAI() as server:
        server.responder = lambda body: ("status", 500)
        solver = LLMSolver(lambda: _client(server), attempts=2)
        outcome = _run(seed_graph, server, RulesGenerator(Corpus()), [solver])
    assert outcome.items == []
    [(_, reason, item)] = outcome.rejected
    assert reason == "uncalibrated: no solver answered"
    assert item is not None and item.solver_answers == 0


def test_further_solver_endpoints_come_from_settings(
    settings: KisaSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeOpenAI() as server:
        server.responder = lambda body: ("answer", json.dumps({"answer": "Deltoid"}))
        endpoints = json.dumps([{"base_url": server.base_url, "model": "judge-a"}])
        monkeypatch.setenv("KISA_QA__LLM_SOLVERS", endpoints)
        monkeypatch.setenv("KISA_QA__SOLVERS", "[]")
        monkeypatch.setenv("KISA_QA__SOLVER_ATTEMPTS", "2")
        configured = load_settings(home=settings.home)
        [solver] = make_solvers(configured, None, None, "")  # type: ignore[arg-type]
        item = RulesGenerator(Corpus()).generate(
            [GenTask(SEED, "cardiology", subgraph(), "sg1", rng_seed=0)]
        )[0]
        assert not isinstance(item, str)
        answers = solver.answer_all([item.item], {item.item.qa_id: "chemical"})
        models = {r["model"] for r in server.requests}
    assert solver.name == "llm:judge-a" and models == {"judge-a"}
    assert answers == {item.item.qa_id: ["Deltoid", "Deltoid"]}
