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
from kisa_tasks.settings import KisaSettings
from kisa_tasks.sft.export import BLANKED, Masked, blank_tool_outputs, loss_mask, mask_mismatch
from kisa_tasks.sft.stage import run_sft_export
from kisa_tasks.sft.tokenizer import training_tokenizer

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


def test_tool_failures_are_simulated_by_a_seeded_share_and_recorded() -> None:
    many = [MESSAGES[0], MESSAGES[1]] + [
        {"role": "user", "content": render_responses([f"out {i}"])} for i in range(400)
    ]
    copy, blanked = blank_tool_outputs(many, "t1", seed=7)
    assert 8 <= len(blanked) <= 35  # about 5 % of 400
    assert blank_tool_outputs(many, "t1", seed=7) == (copy, blanked)
    assert blank_tool_outputs(many, "t1", seed=8)[1] != blanked
    for i in blanked:
        assert BLANKED in copy[2 + i]["content"]
    assert many[2]["content"] == render_responses(["out 0"])  # the original is untouched


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
        "termination": "answered", "tool_calls": 2, "turns": 2,
    }  # fmt: skip
    store.write(
        Partition("trajectories", "cardiology", "sft-1"),
        [pa.Table.from_pylist([row], schema=TRAJECTORIES_SCHEMA)],
    )
    store.write(Partition("qa", "cardiology", "sft-1"), [_qa_table()])
    result = run_sft_export(settings, specialty="cardiology", run_id="sft-1", blank_share=0.0)
    [example] = store.read(Partition("sft", "cardiology", "sft-1")).to_pylist()
    assert result["counts"]["examples"] == 1
    assert example["trained_tokens"] == sum(example["loss_mask"]) > 0
    assert len(example["input_ids"]) == len(example["loss_mask"])
    assert json.loads(example["openai_messages_json"])[1]["content"] == "Which chemical?"


def _qa_table() -> pa.Table:
    from kisa_tasks.qa.records import QAItem, to_table

    item = QAItem(
        seed="mesh:S", seed_name="Seedosis", specialty="cardiology", strategy="max_chain",
        subgraph_id="sg1", question="Which chemical?", answer="Gammatoxin", answer_id="chem:T",
        answer_aliases=(), reasoning_path="", entity_mapping=(), path=("mesh:S", "chem:T"),
        paradigm="multi_hop_chain", generator="rules", prompt_version="rules-v1", qa_id="q1",
    )  # fmt: skip
    return to_table([item])


def test_outside_react_trajectories_get_sensible_verdicts() -> None:
    verdicts = judge_external(REFERENCE / "react_trajectory_sample.jsonl")
    assert [v.rollout.termination for v in verdicts] == ["answered"] * 3
    # "**The Archers**" for "The Archers - Radio Soap" and "**Jim Douglas**" for
    # "jim douglas race car driver" count; "**Epsom Derby**" for "English horse
    # race Derby" does not (a word the accepted answer lacks): strict, never fooled.
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
    run_sft_export(settings, specialty="cardiology", run_id="imp-1", blank_share=0.0)
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
