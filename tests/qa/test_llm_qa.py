"""The llm generator and the LLM solver against a small real
OpenAI-compatible server that answers on demand (good, broken, leaking)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fakes.openai_server import FakeOpenAI
from qa_world import EDGES, SEED, Corpus, subgraph, write_graph

from kisa_tasks.graph import GraphStore
from kisa_tasks.judge import JUDGE_PROMPT, Judge, decoy
from kisa_tasks.llm.client import LLMClient
from kisa_tasks.llm.sync import LLMGateway
from kisa_tasks.qa.calibrate import SOLVER_PROMPT_VERSION, LLMSolver
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
        "A disease (A) is treated with Alphamab. A causes a disease (B), one associated "
        "with Kappapathy. B is treated with a drug (C). C inhibits which chemical "
        f"({answer_clue})?"
    )
    answer = "Gammatoxin"
    clues = [
        {"text": "is treated with Alphamab", "entity": path[0], "neighbour": ids["Alphamab"]},
        {"text": "associated with Kappapathy", "entity": path[1], "neighbour": ids["Kappapathy"]},
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


def _run(
    store: GraphStore,
    server: FakeOpenAI,
    generator: Any,
    solvers: list[Any],
    judge: Judge | None = None,
) -> Any:
    corpus = Corpus()
    return synthesise(
        [GenTask(SEED, "cardiology", subgraph(), "sg1", rng_seed=0)],
        generator,
        corpus,
        steps=lambda seed: graph_step(store, graph_id(seed)),
        graphs=lambda seed: load_seed_graph(store, graph_id(seed)),
        solvers=solvers,
        config=QAConfig(max_regenerations=0),
        judge=judge,
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
        assert item.provenance is not None
        assert json.loads(item.provenance)["prompt"] == PROMPT_VERSION == "llm-qa-v2"
        # The hints mask the answer in any case and by its alias.
        assert "gamma" not in masked_hints(item).lower()
        # The judge's decoy is a clue the question names, not a masked path name.
        assert (
            item.clue_names == ("Alphamab", "Kappapathy", "Omegacillin")
            and decoy(item.question, item.accepted, item.named) == "Alphamab"
        )
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
        reply = json.dumps({"reasoning": "r", "answer": "gammatoxin"})
        server.responder = lambda body: ("answer", reply)
        solver = LLMSolver(lambda: _client(server), attempts=3)
        outcome = _run(seed_graph, server, RulesGenerator(Corpus()), [solver])
        seeds = sorted(r["seed"] for r in server.requests)
    assert outcome.items == []
    [(_, reason, item)] = outcome.rejected
    assert reason == "too_easy: solver accuracy 1.00"
    assert item is not None and item.solver_answers == 3
    assert seeds == [0, 1, 2]  # one request per attempt, each with its own sampling seed


def test_the_solver_reasons_first_and_a_right_answer_in_other_words_counts(
    seed_graph: GraphStore,
) -> None:
    """The solver answers "GTX", a name of Gammatoxin the corpus does not
    list: the rules call it wrong and the question would pass as hard. The
    LLM judge (which refuses the decoy) calls it right: too easy."""

    def answer(body: dict[str, Any]) -> tuple[str, Any]:
        system = body["messages"][0]["content"]
        if system == JUDGE_PROMPT:
            right = body["messages"][1]["content"].endswith("Candidate answer: GTX")
            verdict = "correct" if right else "incorrect"
            return ("answer", json.dumps({"reason": "as stated", "verdict": verdict}))
        assert SOLVER_PROMPT_VERSION in system
        return ("answer", json.dumps({"reasoning": "Betanib inhibits it.", "answer": "GTX"}))

    outcomes = []
    with FakeOpenAI() as server:
        server.responder = answer
        for judge in (Judge(), Judge(LLMGateway(lambda: _client(server)))):
            solver = LLMSolver(lambda: _client(server), attempts=2)
            outcomes.append(_run(seed_graph, server, RulesGenerator(Corpus()), [solver], judge))
        [solve, *_] = [r for r in server.requests if r["messages"][0]["content"] != JUDGE_PROMPT]
        judged = [r["messages"][1]["content"] for r in server.requests if r not in [solve]]
    schema = solve["response_format"]["json_schema"]["schema"]
    assert list(schema["properties"]) == ["reasoning", "answer"] and solve["max_tokens"] >= 1024
    rules_only, with_llm_judge = outcomes
    [item] = rules_only.items
    assert item.solver_accuracy == 0.0
    assert with_llm_judge.items == []
    [(_, reason, _)] = with_llm_judge.rejected
    assert reason == "too_easy: solver accuracy 1.00"
    assert any("Candidate answer: Alphamab" in c for c in judged)  # the decoy was probed


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
        reply = json.dumps({"reasoning": "r", "answer": "Deltoid"})
        server.responder = lambda body: ("answer", reply)
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


# Clue phrases a model might write, labelled by hand: is the named neighbour
# the relation's head (True), its tail (False), or can the words not tell (None)?
LABELLED_CLUES = [
    ("a disease induced by Neuroflex", "causes", True),
    ("a Neuroflex-induced disease", "causes", True),
    ("secondary to Neuroflex", "causes", True),
    ("a known cause of Neuroflex", "causes", False),
    ("used to treat Neuroflex", "treats", False),
    ("whose treatment includes Neuroflex", "treats", None),
    ("one that Neuroflex treats", "treats", None),
    ("a known complication of Neuroflex", "complication_of", False),
    ("a disease that has as a complication Neuroflex", "complication_of", True),
    ("a disease for which Neuroflex is a risk factor", "risk_factor_for", None),
    ("an enzyme inhibited by Neuroflex", "inhibits", True),
    ("an inhibitor of Neuroflex", "inhibits", False),
    ("detected with Neuroflex", "diagnoses", True),
]


def test_the_direction_check_never_misreads_a_clue() -> None:
    """Every clue phrasing of the rules templates, both ways round, is read
    in its direction (the check must not refuse the platform's own English),
    and the hand-labelled phrasings are read right or left undecided."""
    from kisa_tasks.qa.llm_generate import SYMMETRIC, clue_direction
    from kisa_tasks.qa.templates import PHRASES

    for relation, (active, passive) in PHRASES.items():
        if relation in SYMMETRIC:
            continue
        for text, neighbour_is_head in (
            (f"{active} Neuroflex", False),
            (f"which also {active} Neuroflex", False),
            (f"{passive} Neuroflex", True),
            (f"one {passive} Neuroflex", True),
        ):
            assert clue_direction(text, ["Neuroflex"], relation) is neighbour_is_head, text
    for text, relation, label in LABELLED_CLUES:
        assert clue_direction(text, ["Neuroflex"], relation) is label, text
