"""Question plans, the English templates and the validators, on a small seed
graph in the real graph store."""

from __future__ import annotations

import dataclasses

import pytest
from qa_world import AMBIGUOUS, EDGES, ENTITIES, PATH, SEED, Corpus, subgraph, write_graph

from kisa_tasks.graph import GraphStore
from kisa_tasks.qa.generate import GenTask, QAConfig, RulesGenerator, synthesise, validate
from kisa_tasks.qa.plan import PlanError, Step, plan_question
from kisa_tasks.qa.templates import render
from kisa_tasks.qa.validate import (
    Bounds,
    check_bare_hops,
    check_clue_names,
    check_leak,
    check_length,
    check_real_answer,
    check_unique,
    graph_step,
    graph_steps,
)
from kisa_tasks.subgraphs.graph import Edge, EntityInfo
from kisa_tasks.subgraphs.store_io import graph_id, load_seed_graph


def test_the_plan_walks_the_path_and_pins_the_anchor_with_off_path_clues() -> None:
    plan = plan_question(subgraph(), "sg1", ENTITIES)
    assert plan.path == PATH and plan.answer == "chem:T"
    assert [(h.relation, h.outgoing) for h in plan.hops] == [
        ("causes", True),  # Seedosis causes Xitis
        ("treats", False),  # Xitis is treated with Betanib
        ("inhibits", True),  # Betanib inhibits Gammatoxin
    ]
    # Best-evidenced first: Alphamab (3) before Neuroflex (1).
    assert [c.target for c in plan.clues["mesh:S"]] == ["db:D1", "mesh:N1"]


def test_the_question_names_clues_never_path_entities() -> None:
    qa = render(plan_question(subgraph(), "sg1", ENTITIES))
    assert qa.question == (
        "A disease (A) is treated with Alphamab and is associated with Neuroflex. "
        "A causes a disease (B), which is also associated with Kappapathy. "
        "B is treated with a drug (C). C inhibits which chemical?"
    )
    for name in ("Seedosis", "Xitis", "Betanib", "Gammatoxin"):
        assert name not in qa.question and name not in qa.reasoning_path
    # Only one entity in the middle of the path goes without a clue (Betanib).
    assert check_bare_hops(plan_question(subgraph(), "sg1", ENTITIES)) is None
    assert check_bare_hops(plan_question(subgraph(edges=EDGES[:-1]), "sg1", ENTITIES)) == (
        "bare_hops: 2 entities in the middle of the path have no clue of their own (at most 1)"
    )
    assert "Target_Entity" in qa.reasoning_path and "Clue_1 and Clue_2" in qa.reasoning_path
    assert qa.entity_mapping["Target_Entity"] == "Gammatoxin"
    assert qa.entity_mapping["Entity_A"] == "Seedosis"
    assert qa.entity_mapping["Clue_1"] == "is treated with Alphamab"


def test_a_neighbour_whose_name_contains_a_path_entity_is_never_a_clue() -> None:
    named = Edge("mesh:S", "causes", "mesh:XS", 9.0)  # the best-evidenced neighbour
    entities = {**ENTITIES, "mesh:XS": EntityInfo("Xitis Syndrome", "disease")}
    plan = plan_question(subgraph(edges=(*EDGES, named)), "sg1", entities)
    assert "mesh:XS" not in {c.target for c in plan.clues["mesh:S"]}
    assert "Xitis" not in render(plan).question
    # The same words in another order give the path entity away too.
    near = {**entities, "mesh:X": EntityInfo("Xitis, Chronic", "disease"),
            "mesh:XS": EntityInfo("Chronic Xitis", "disease")}  # fmt: skip
    plan = plan_question(subgraph(edges=(*EDGES, named)), "sg1", near)
    assert "mesh:XS" not in {c.target for c in plan.clues["mesh:S"]}
    # A model's clue through that neighbour is a leak.
    step = Step("mesh:S", "causes", "mesh:XS", True)
    leaking = dataclasses.replace(plan, clues={**plan.clues, "mesh:S": (step,)})
    assert check_clue_names(leaking, lambda e: near[e].name) == (
        "leak: the clue 'Chronic Xitis' nearly names masked entity 'Xitis, Chronic'"
    )
    assert check_clue_names(plan, lambda e: near[e].name) is None


def test_plans_are_refused_with_the_reason() -> None:
    with pytest.raises(PlanError, match="1 hop"):
        plan_question(subgraph(path=PATH[:2]), "sg1", ENTITIES)
    bare = tuple(e for e in EDGES if "mesh:S" not in (e.head, e.tail) or e.tail == "mesh:X")
    # Nothing to describe the seed by: the chain is asked from its other end.
    reversed_plan = plan_question(subgraph(edges=bare), "sg1", ENTITIES)
    assert reversed_plan.path == PATH[::-1] and reversed_plan.answer == "mesh:S"
    assert "db:D3" in {c.target for c in reversed_plan.clues["chem:T"]}
    barer = tuple(e for e in bare if e.head != "db:D3")
    with pytest.raises(PlanError, match="no neighbour off the path"):
        plan_question(subgraph(edges=barer), "sg1", ENTITIES)


def test_uniqueness_is_checked_hop_by_hop_in_the_graph_store(seed_graph: GraphStore) -> None:
    plan = plan_question(subgraph(), "sg1", ENTITIES)
    step = graph_step(seed_graph, graph_id(SEED))
    assert check_unique(plan, step) is None
    write_graph(seed_graph, (*EDGES, AMBIGUOUS))  # Betanib inhibits a second chemical
    reason = check_unique(plan, graph_step(seed_graph, graph_id(SEED)))
    assert reason is not None and reason.startswith("not_unique: 2 entities fit")
    assert "chem:U" in reason


def test_an_ambiguous_answer_gets_the_clues_that_make_it_unique(
    seed_graph: GraphStore,
) -> None:
    write_graph(seed_graph, (*EDGES, AMBIGUOUS))  # Betanib inhibits Deltoid too
    corpus, task = Corpus(), GenTask(SEED, "cardiology", subgraph(), "sg1", rng_seed=0)
    steps = graph_steps(seed_graph)
    [clued] = RulesGenerator(corpus, steps=steps).generate([task])
    assert not isinstance(clued, str)
    assert validate(clued, corpus, steps(SEED), Bounds()) is None
    assert clued.item.question.endswith(
        "C inhibits which chemical (one that is increased by Omegacillin)?"
    )


def test_an_answer_only_the_last_hop_points_at_is_refused(seed_graph: GraphStore) -> None:
    # Without Omegacillin nothing but "C inhibits" names the answer: unique in
    # this sample, not in the literature, where a drug inhibits many things.
    bare = tuple(e for e in EDGES if e.head != "db:D3")
    write_graph(seed_graph, bare)
    corpus, steps = Corpus(), graph_steps(seed_graph)
    task = GenTask(SEED, "cardiology", subgraph(bare), "sg1", rng_seed=0)
    [candidate] = RulesGenerator(corpus, steps=steps).generate([task])
    assert not isinstance(candidate, str)
    assert candidate.item.question.endswith("C inhibits which chemical?")
    reason = validate(candidate, corpus, steps(SEED), Bounds())
    assert (reason or "").startswith("no_answer_clue")


def test_leaks_non_answers_and_lengths_are_refused() -> None:
    names = {"chem:T": ["Gammatoxin", "gamma toxin"], "mesh:X": ["Xitis", "XI"]}
    assert check_leak("Which drug cures GAMMA-TOXIN poisoning?", ["chem:T"], names)
    assert check_leak("Which chemical is it?", ["chem:T", "mesh:X"], names) is None
    # A two-letter alias is too short to count ("xi" is everywhere).
    assert check_leak("A drug (XI) is named here.", ["mesh:X"], names) is None
    assert check_real_answer("Unknown", "chem:T", PATH) is not None
    assert check_real_answer("Gammatoxin", "chem:Q", PATH) is not None
    assert check_real_answer("Gammatoxin", "chem:T", PATH) is None
    assert check_length("Too short?", "x", Bounds()) is not None


def test_rounds_regenerate_a_seed_whose_first_subgraph_fails(seed_graph: GraphStore) -> None:
    corpus = Corpus()
    # The committed sub-graph has one hop: refused, then resampled from the
    # seed's graph in the store.
    first = GenTask(SEED, "cardiology", subgraph(path=PATH[:2]), "sg1", rng_seed=0)
    outcome = synthesise(
        [first],
        RulesGenerator(corpus),
        corpus,
        steps=lambda seed: graph_step(seed_graph, graph_id(seed)),
        graphs=lambda seed: load_seed_graph(seed_graph, graph_id(seed)),
        solvers=[],
        config=QAConfig(),
    )
    assert [r[1].split(":")[0] for r in outcome.rejected][:1] == ["no_plan"]
    assert len(outcome.items) == 1
    item = outcome.items[0]
    assert item.attempt >= 1 and item.answer_id == item.path[-1] and item.hops >= 2
    assert item.answer not in item.question
    assert outcome.counts["regenerated_ok"] == 1


def test_every_generated_item_passes_the_validators(seed_graph: GraphStore) -> None:
    corpus = Corpus()
    task = GenTask(SEED, "cardiology", subgraph(), "sg1", rng_seed=0)
    [candidate] = RulesGenerator(corpus).generate([task])
    assert not isinstance(candidate, str)
    step = graph_step(seed_graph, graph_id(SEED))
    assert validate(candidate, corpus, step, Bounds()) is None
    leaky = dataclasses.replace(
        candidate, item=dataclasses.replace(candidate.item, question="Is it gamma toxin?" * 3)
    )
    assert (validate(leaky, corpus, step, Bounds()) or "").startswith("leak:")


def test_each_item_records_its_weakest_hop() -> None:
    from dataclasses import replace

    from kisa_tasks.qa.records import QAItem
    from kisa_tasks.qa.stage import with_hop_confidence

    item = QAItem(
        seed="mesh:S", seed_name="S", specialty="cardiology", strategy="max_chain",
        subgraph_id="sg", question="q", answer="T", answer_id="chem:T", answer_aliases=(),
        reasoning_path="", entity_mapping=(), path=PATH, paradigm="multi_hop_chain",
        generator="rules", prompt_version="rules-v1",
    )  # fmt: skip
    triples = [
        {"seed": "mesh:S", "head": "mesh:S", "tail": "mesh:X", "confidence": 0.88},
        {"seed": "mesh:S", "head": "db:D2", "tail": "mesh:X", "confidence": 0.97},
        {"seed": "mesh:S", "head": "db:D2", "tail": "chem:T", "confidence": 0.92},
        {"seed": "mesh:S", "head": "db:D2", "tail": "chem:T", "confidence": 0.5},
        {"seed": "mesh:OTHER", "head": "mesh:S", "tail": "mesh:X", "confidence": 0.1},
    ]
    [weighed] = with_hop_confidence([item], triples)
    assert weighed.min_hop_confidence == 0.88
    # A hop the seed's graph does not hold leaves the weakest hop unknown.
    [unknown] = with_hop_confidence([replace(item, path=(*PATH, "x:gone"))], triples)
    assert unknown.min_hop_confidence is None
