"""Masked guidance never names a path entity; the scripted researcher finds
the answer with real tool calls on a real BM25 index; the judge and filters
say why a rollout is refused."""

from __future__ import annotations

import dataclasses

import pyarrow as pa
from qa_world import ENTITIES, PATH, SEED, Corpus, subgraph
from records import citation

from kisa_tasks.agent.loop import Limits, Rollout, run_agent
from kisa_tasks.agent.mtg import SYSTEM_PROMPT, guided_question, masked_guidance, masked_hints
from kisa_tasks.agent.post import Filters, judge, reject_reason
from kisa_tasks.agent.scripted import Researcher, ScriptPolicy, parse_hints
from kisa_tasks.agent.select import rollout_modes
from kisa_tasks.agent.tools import Toolbox, search_tool, visit_tool
from kisa_tasks.ingest.abstracts import to_tables
from kisa_tasks.qa.generate import GenTask, RulesGenerator
from kisa_tasks.qa.records import QAItem
from kisa_tasks.retrieval.index import CorpusIndex
from kisa_tasks.subgraphs.graph import EntityInfo

DOCS = {
    "11": ("Alphamab for seedosis", "Seedosis was treated with alphamab in ten patients."),
    "12": ("Seedosis outcomes", "Seedosis causes xitis in most adults."),
    "13": ("Xitis therapy", "Xitis was treated with betanib and improved."),
    "14": ("Betanib pharmacology", "Betanib inhibits gammatoxin release in the liver."),
    "15": ("Neuroflex", "Neuroflex is associated with seedosis."),
    "16": ("Omegacillin", "Omegacillin increases gammatoxin."),
}
MENTIONS = {
    "11": ["db:D1", "mesh:S"],
    "12": ["mesh:S", "mesh:X"],
    "13": ["mesh:X", "db:D2"],
    "14": ["db:D2", "chem:T"],
    "15": ["mesh:N1", "mesh:S"],
    "16": ["db:D3", "chem:T"],
}


def _item() -> QAItem:
    task = GenTask(SEED, "cardiology", subgraph(), "sg1", rng_seed=0)
    [candidate] = RulesGenerator(Corpus()).generate([task])
    assert not isinstance(candidate, str)
    return candidate.item


def _toolbox(docs: dict[str, tuple[str, str]] = DOCS) -> Toolbox:
    cites = [citation(p, t, a) for p, (t, a) in docs.items()]
    index = CorpusIndex.build(pa.concat_tables(list(to_tables(cites))))
    return Toolbox(
        {
            "search": search_tool(index),
            "medical_search": search_tool(index, "medical_search"),
            "visit": visit_tool(docs.get),
        }
    )


def _researcher() -> Researcher:
    return Researcher(
        lambda pmid: MENTIONS.get(pmid, []),
        lambda e: (ENTITIES[e].name, ENTITIES[e].type),
    )


def test_hints_mask_every_path_entity_and_keep_the_clues() -> None:
    item = _item()
    hints = masked_hints(item)
    for node in PATH:
        assert ENTITIES[node].name not in hints
    assert "Entity A" in hints and "the target" in hints and "[is treated with Alphamab]" in hints
    # One rollout per item: guided for about 7 run seeds in 10, seeded per item.
    guided = [s for s in range(200) if rollout_modes(item.qa_id, s, 1, 0.7) == ["guided"]]
    assert 120 <= len(guided) <= 160
    assert rollout_modes(item.qa_id, 3, 4, 0.7) == rollout_modes(item.qa_id, 3, 4, 0.7)
    # k rollouts of one item: round(0.7 k) guided, give or take one.
    for k in (4, 10, 20):
        assert abs(rollout_modes(item.qa_id, 5, k, 0.7).count("guided") - 0.7 * k) < 1
    hints = masked_guidance(item)
    assert guided_question(item, hints).startswith(item.question + "\n\nHints")
    assert guided_question(item, "") == item.question


def test_the_guided_researcher_walks_the_hops_with_real_tool_calls() -> None:
    item = _item()
    plan = parse_hints(masked_hints(item))
    assert plan is not None and [h.phrase for h in plan.hops] == [
        "causes", "is treated with", "inhibits"
    ]  # fmt: skip
    toolbox = _toolbox()
    try:
        rollout = run_agent(
            ScriptPolicy(_researcher().guided(plan)), toolbox, SYSTEM_PROMPT, item.question,
            Limits(max_turns=24),
        )  # fmt: skip
    finally:
        toolbox.close()
    assert rollout.termination == "answered" and rollout.answer == "Gammatoxin"
    assert judge(rollout, item) and reject_reason(rollout, True, Filters()) is None
    # Every observation is the output of the calls just before it.
    assert rollout.tool_calls >= 4 and "PMID 14" in rollout.messages[-2]["content"]


RELATIONS = {
    "11": [("db:D1", "treats", "mesh:S")],
    "12": [("mesh:S", "causes", "mesh:X")],
    "13": [("db:D2", "treats", "mesh:X")],
    "14": [("db:D2", "inhibits", "chem:T")],
    "15": [("mesh:S", "associated_with", "mesh:N1")],
    "16": [("db:D3", "increases", "chem:T")],
    # The other way round: Deltoid inhibits Betanib, so it is no answer to
    # "Betanib inhibits which chemical?" (and sorts before Gammatoxin).
    "17": [("chem:U", "inhibits", "db:D2")],
}


def test_the_researcher_reads_relations_in_the_right_direction() -> None:
    item = _item()
    plan = parse_hints(masked_hints(item))
    assert plan is not None
    docs = {**DOCS, "17": ("Deltoid", "Deltoid inhibits betanib uptake.")}
    mentions = {**MENTIONS, "17": ["chem:U", "db:D2"]}
    names = {info.name.casefold(): entity for entity, info in ENTITIES.items()}
    researcher = Researcher(
        lambda pmid: mentions.get(pmid, []),
        lambda e: (ENTITIES[e].name, ENTITIES[e].type),
        relations_in=lambda pmid: RELATIONS.get(pmid, []),
        resolve=lambda name: names.get(name.casefold()),
    )
    toolbox = _toolbox(docs)
    try:
        rollout = run_agent(
            ScriptPolicy(researcher.guided(plan)), toolbox, SYSTEM_PROMPT, item.question,
            Limits(max_turns=30, max_tool_calls=80),
        )  # fmt: skip
    finally:
        toolbox.close()
    assert rollout.answer == "Gammatoxin" and judge(rollout, item)


def _relation_researcher(
    mentions: dict[str, list[str]],
    relations: dict[str, list[tuple[str, str, str]]],
    entities: dict[str, EntityInfo],
    aliases: dict[str, list[str]] | None = None,
) -> Researcher:
    names = {info.name.casefold(): entity for entity, info in entities.items()}
    return Researcher(
        lambda pmid: mentions.get(pmid, []),
        lambda e: (entities[e].name, entities[e].type),
        lambda e: (aliases or {}).get(e, []),
        relations_in=lambda pmid: relations.get(pmid, []),
        resolve=lambda name: names.get(name.casefold()),
    )


def _guided_rollout(researcher: Researcher, docs: dict[str, tuple[str, str]]) -> Rollout:
    item = _item()
    plan = parse_hints(masked_hints(item))
    assert plan is not None
    toolbox = _toolbox(docs)
    try:
        return run_agent(
            ScriptPolicy(researcher.guided(plan)), toolbox, SYSTEM_PROMPT, item.question,
            Limits(max_turns=40, max_tool_calls=120),
        )  # fmt: skip
    finally:
        toolbox.close()


def test_a_dead_end_sends_the_researcher_back_to_the_next_candidate() -> None:
    # Fakeosis fits both anchor clues in more abstracts than Seedosis, so it
    # is the first guess for Entity A; nothing says what it causes.
    docs = {
        **DOCS,
        "21": ("Alphamab in fakeosis", "Fakeosis was treated with alphamab."),
        "22": ("Fakeosis again", "Fakeosis, associated with neuroflex, was treated with alphamab."),
    }
    entities = {**ENTITIES, "mesh:F": EntityInfo("Fakeosis", "disease")}
    mentions = {**MENTIONS, "21": ["db:D1", "mesh:F"], "22": ["db:D1", "mesh:F", "mesh:N1"]}
    relations = {
        **RELATIONS,
        "21": [("db:D1", "treats", "mesh:F")],
        "22": [("db:D1", "treats", "mesh:F"), ("mesh:F", "associated_with", "mesh:N1")],
    }
    rollout = _guided_rollout(_relation_researcher(mentions, relations, entities), docs)
    thoughts = " ".join(m["content"] for m in rollout.messages if m["role"] == "assistant")
    assert "(A) is most likely Fakeosis" in thoughts
    assert "more likely the next candidate, Seedosis" in thoughts
    assert rollout.answer == "Gammatoxin"


def test_a_name_the_literature_does_not_use_is_searched_under_its_aliases() -> None:
    # The abstracts write the anchor's clue drug only as "AMB-1", and that is
    # the only evidence for Entity A.
    renamed = ("AMB-1 for seedosis", "Seedosis was treated with AMB-1 in ten patients.")
    docs = {**DOCS, "11": renamed}
    relations = {pmid: found for pmid, found in RELATIONS.items() if pmid != "15"}
    rollout = _guided_rollout(
        _relation_researcher(MENTIONS, relations, dict(ENTITIES), {"db:D1": ["AMB-1"]}), docs
    )
    thoughts = " ".join(m["content"] for m in rollout.messages if m["role"] == "assistant")
    assert "its other names: AMB-1" in thoughts
    assert rollout.answer == "Gammatoxin"


def test_long_trajectories_are_refused_in_tokens_of_the_given_tokenizer() -> None:
    base = Rollout([{"role": "system", "content": "x" * 40}, {"role": "user", "content": "q"}])
    answered = dataclasses.replace(base, termination="answered", answer="A", tool_calls=2)
    words = Filters(max_tokens=5, count_tokens=lambda text: len(text.split()))
    assert reject_reason(answered, True, words) is None  # 2 "tokens"
    assert reject_reason(answered, True, Filters(max_tokens=5, count_tokens=len)) == (
        "too_long: 42 tokens > 5"
    )


def test_refusals_name_their_reason() -> None:
    item = _item()
    base = Rollout([{"role": "system", "content": ""}, {"role": "user", "content": ""}])
    answered = dataclasses.replace(base, termination="answered", answer="Vitamin A", tool_calls=2)
    wrong = dataclasses.replace(answered, answer="A")
    assert not judge(wrong, item)
    assert (reject_reason(wrong, False, Filters()) or "").startswith("incorrect")
    failed = dataclasses.replace(answered, tool_errors=["timeout: no result in 20s"])
    assert (reject_reason(failed, True, Filters()) or "").startswith("tool_error")
    idle = dataclasses.replace(answered, tool_calls=0)
    assert (reject_reason(idle, True, Filters()) or "").startswith("too_few_tool_calls")
    stuck = dataclasses.replace(base, termination="max_turns", detail="no answer in 3 turns")
    assert reject_reason(stuck, False, Filters()) == "terminated: max_turns (no answer in 3 turns)"


def test_search_can_list_titles_only_to_scan_many_hits() -> None:
    toolbox = _toolbox()
    try:
        full = toolbox.call("search", {"query": ["seedosis"], "k": 5})
        titles = toolbox.call("search", {"query": ["seedosis"], "k": 5, "snippets": False})
        wrong = toolbox.call("search", {"query": ["seedosis"], "snippets": "no"})
    finally:
        toolbox.close()
    assert "Seedosis causes xitis" in full.output
    assert "Seedosis causes xitis" not in titles.output and "PMID 12" in titles.output
    assert (wrong.error or "").startswith("tool_error: ValueError: 'snippets'")
