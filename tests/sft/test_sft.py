"""SFT examples: the loss mask checked token by token with the real training
tokenizer, the tool-failure simulation, the OpenAI form, the stage on S3,
and outside ReAct trajectories through our judge and filters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from kisa_tasks.agent.external import judge_external
from kisa_tasks.agent.react import ToolCall, openai_messages, render_responses, render_turn
from kisa_tasks.agent.stage import TRAJECTORIES_SCHEMA, import_trajectories
from kisa_tasks.artefacts import ArtefactStore, Partition
from kisa_tasks.llm.tokenizer import training_tokenizer
from kisa_tasks.settings import KisaSettings
from kisa_tasks.sft.export import Masked, loss_mask, mask_mismatch
from kisa_tasks.sft.stage import run_sft_export

REFERENCE = Path(__file__).parent.parent / "fixtures" / "reference"

MESSAGES = [
    {"role": "system", "content": "You are careful."},
    {"role": "user", "content": "Which chemical does Betanib inhibit?"},
    {
        "role": "assistant",
        "content": render_turn(
            "Two searches at once.",
            [ToolCall("search", {"query": ["betanib"]}), ToolCall("visit", {"pmid": "14"})],
        ),
    },
    {"role": "user", "content": render_responses(["1. [Betanib] PMID 14", "Betanib inhibits X."])},
    {"role": "assistant", "content": render_turn("It is X.", answer="Gammatoxin")},
]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return training_tokenizer(tmp_path_factory.mktemp("tokenizers"))


def test_the_loss_mask_trains_exactly_the_assistant_tokens(tokenizer: Any) -> None:
    masked = loss_mask(tokenizer, MESSAGES)
    text = tokenizer.apply_chat_template(MESSAGES, tokenize=False)
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    assert masked.input_ids == list(encoded["input_ids"])
    assistant = [m["content"] + tokenizer.eos_token for m in MESSAGES if m["role"] == "assistant"]
    spans = []
    cursor = 0
    for part in assistant:
        start = text.index(part, cursor)
        spans.append((start, start + len(part)))
        cursor = start + len(part)
    # Token by token: trained exactly when the token lies inside an assistant turn.
    for token, (start, stop), trained in zip(
        masked.input_ids, encoded["offset_mapping"], masked.loss_mask, strict=True
    ):
        inside = any(a <= start and stop <= b for a, b in spans) and stop > start
        assert trained == int(inside), tokenizer.decode([token])
    trained_ids = [t for t, m in zip(masked.input_ids, masked.loss_mask, strict=True) if m]
    assert tokenizer.decode(trained_ids) == "".join(assistant)
    untrained = tokenizer.decode(
        [t for t, m in zip(masked.input_ids, masked.loss_mask, strict=True) if not m]
    )
    assert "Betanib inhibits X." in untrained and "You are careful." in untrained


def test_the_openai_form_pairs_every_output_with_its_call() -> None:
    out = openai_messages(MESSAGES, "Which chemical does Betanib inhibit?")
    calls = out[2]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["search", "visit"]
    assert json.loads(calls[0]["function"]["arguments"]) == {"query": ["betanib"]}
    assert [(m["role"], m["tool_call_id"]) for m in out[3:5]] == [
        ("tool", calls[0]["id"]),
        ("tool", calls[1]["id"]),
    ]
    assert out[5] == {"role": "assistant", "content": "Gammatoxin", "reasoning": "It is X."}


def test_the_stage_writes_masked_examples_for_kept_trajectories(settings: KisaSettings) -> None:
    store = ArtefactStore.from_settings(settings)
    row = {
        "trajectory_id": "t1", "qa_id": "q1", "seed": "mesh:S", "specialty": "cardiology",
        "mode": "guided", "policy": "rules", "messages": MESSAGES, "answer": "Gammatoxin",
        "termination": "answered", "tool_calls": 2, "turns": 2, "rollout": 0, "guidance": "",
        "failed_calls": [1], "recovered": 0, "item_rollouts": 4, "item_pass_rate": 0.25,
        "question_type": "diagnosis",
    }  # fmt: skip
    store.write(
        Partition("trajectories", "cardiology", "sft-1"),
        [pa.Table.from_pylist([row], schema=TRAJECTORIES_SCHEMA)],
    )
    store.write(Partition("qa", "cardiology", "sft-1"), [_qa_table()])
    result = run_sft_export(settings, specialty="cardiology", run_id="sft-1")
    [example] = store.read(Partition("sft", "cardiology", "sft-1")).to_pylist()
    assert result["counts"]["examples"] == 1
    assert example["trained_tokens"] == sum(example["loss_mask"]) > 0
    assert len(example["input_ids"]) == len(example["loss_mask"])
    assert json.loads(example["openai_messages_json"])[1]["content"] == "Which chemical?"
    # What the agent saw, unchanged: the rollout's failed call is recorded, not re-made.
    assert example["messages"] == MESSAGES and example["failed_tool_calls"] == [1]
    assert (example["question_type"], example["split"]) == ("diagnosis", "train")


def _qa_table(split: str = "train") -> pa.Table:
    from kisa_tasks.qa.records import QAItem, to_table

    item = QAItem(
        seed="mesh:S", seed_name="Seedosis", specialty="cardiology", strategy="max_chain",
        subgraph_id="sg1", question="Which chemical?", answer="Gammatoxin", answer_id="chem:T",
        answer_aliases=(), reasoning_path="", entity_mapping=(), path=("mesh:S", "chem:T"),
        paradigm="multi_hop_chain", generator="rules", prompt_version="rules-v1", qa_id="q1",
        split=split,
    )  # fmt: skip
    return to_table([item])


def test_outside_react_trajectories_get_sensible_verdicts() -> None:
    verdicts = judge_external(REFERENCE / "react_trajectory_sample.jsonl")
    assert [v.rollout.termination for v in verdicts] == ["answered"] * 3
    # The rules judge: "**The Archers**" names the head of "The Archers - Radio
    # Soap" and "**Jim Douglas**" the start of "jim douglas race car driver"
    # (both right); "**Epsom Derby**" for "English horse race Derby" is right too
    # (the Derby is run at Epsom) but shares no whole mention with it: a false
    # reject of the rules, which the LLM judge can overturn (tests/agent/test_judge.py).
    assert [v.correct for v in verdicts] == [False, True, True]
    assert [v.reason is None for v in verdicts] == [False, True, True]
    assert (verdicts[0].reason or "").startswith("incorrect")


def test_outside_trajectories_enter_and_become_sft_examples(settings: KisaSettings) -> None:
    store = ArtefactStore.from_settings(settings)
    result = import_trajectories(
        store, REFERENCE / "react_trajectory_sample.jsonl", specialty="cardiology", run_id="imp-1"
    )
    assert (result["kept"], result["rejected"]) == (2, 1)
    [refused] = store.read_rejected(Partition("trajectories", "cardiology", "imp-1")).to_pylist()
    assert refused["reason"].startswith("incorrect")
    run_sft_export(settings, specialty="cardiology", run_id="imp-1")
    examples = store.read(Partition("sft", "cardiology", "imp-1")).to_pylist()
    assert len(examples) == 2 and all(e["trained_tokens"] > 0 for e in examples)
    first = json.loads(examples[0]["openai_messages_json"])
    assert first[1]["role"] == "user" and "Ambridge" in first[1]["content"] + first[-1]["content"]


def test_every_exported_mask_is_checked_and_a_wrong_one_is_caught(tokenizer: Any) -> None:
    masked = loss_mask(tokenizer, MESSAGES)
    assert mask_mismatch(tokenizer, MESSAGES, masked) is None
    # Train one token of a tool output: the check names it.
    text = tokenizer.apply_chat_template(MESSAGES, tokenize=False)
    offsets = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    at = text.index("Betanib inhibits X.")
    leak = next(i for i, (a, _) in enumerate(offsets["offset_mapping"]) if a >= at)
    wrong = Masked(
        masked.input_ids, [1 if i == leak else m for i, m in enumerate(masked.loss_mask)]
    )
    assert mask_mismatch(tokenizer, MESSAGES, wrong) is not None
    # Leave the end of an assistant turn untrained: caught too.
    last = max(i for i, m in enumerate(masked.loss_mask) if m)
    short = Masked(
        masked.input_ids, [0 if i == last else m for i, m in enumerate(masked.loss_mask)]
    )
    problem = mask_mismatch(tokenizer, MESSAGES, short)
    assert problem is not None
    assert problem.startswith("the trained tokens are not exactly the assistant turns")
    assert "first difference at character" in problem and tokenizer.eos_token in problem


def test_the_export_trains_on_train_items_only_at_the_question_type_mix(
    settings: KisaSettings,
) -> None:
    from kisa_tasks.qa.records import QAItem, to_table

    store = ArtefactStore.from_settings(settings)
    kinds = {"q1": ("train", "diagnosis"), "q2": ("test", "diagnosis"),
             "q3": ("train", "diagnosis"), "q4": ("train", "diagnosis"),
             "q5": ("train", "treatment")}  # fmt: skip
    items = [
        QAItem(
            seed=f"mesh:{q}",
            seed_name=q,
            specialty="cardiology",
            strategy="max_chain",
            subgraph_id=f"sg-{q}",
            question="Which chemical?",
            answer="Gammatoxin",
            answer_id="chem:T",
            answer_aliases=(),
            reasoning_path="",
            entity_mapping=(),
            path=("mesh:S", "chem:T"),
            paradigm="multi_hop_chain",
            generator="rules",
            prompt_version="rules-v1",
            qa_id=q,
            split=split,
            question_type=kind,
        )
        for q, (split, kind) in kinds.items()
    ]
    rows = [
        {"trajectory_id": f"t-{q}", "qa_id": q, "seed": f"mesh:{q}", "specialty": "cardiology",
         "mode": "guided", "policy": "rules", "messages": MESSAGES, "answer": "Gammatoxin",
         "termination": "answered", "tool_calls": 2, "turns": 2, "rollout": 0, "guidance": "",
         "failed_calls": [], "recovered": 0, "item_rollouts": 4, "item_pass_rate": 0.5,
         "question_type": kind}
        for q, (_, kind) in kinds.items()
    ]  # fmt: skip
    partition = Partition("trajectories", "cardiology", "mix-1")
    store.write(partition, [pa.Table.from_pylist(rows, schema=TRAJECTORIES_SCHEMA)])
    store.write(Partition("qa", "cardiology", "mix-1"), [to_table(items)])
    result = run_sft_export(settings, specialty="cardiology", run_id="mix-1")
    examples = store.read(Partition("sft", "cardiology", "mix-1")).to_pylist()
    # Diagnosis 0.30 : treatment 0.25 with one treatment example: one of each.
    assert [e["qa_id"] for e in examples] == ["q1", "q5"]
    assert result["counts"]["mix_diagnosis"] == result["counts"]["mix_treatment"] == 0.5
    refused = {
        r["record_key"]: r["reason"]
        for r in store.read_rejected(Partition("sft", "cardiology", "mix-1")).to_pylist()
    }
    assert refused["t-q2"].startswith("test_item")  # evaluation data never trains
    assert refused["t-q3"].startswith("mix") and refused["t-q4"].startswith("mix")
