"""The ``sft`` stage: kept trajectories -> SFT examples on S3.

One row per kept trajectory of a train item, balanced to the question-type
mix: the ReAct messages exactly as the agent saw them (the question alone as
the user turn; tool failures where the rollout had them), the token ids and
loss mask under the training tokenizer, the same conversation in OpenAI
tool-call format, and which tool calls failed during the rollout.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pyarrow as pa

from kisa_tasks.agent.react import asked, openai_messages
from kisa_tasks.artefacts import ArtefactStore, Partition, Rejection, register_stage
from kisa_tasks.llm.tokenizer import TOKENIZER_NAME, training_tokenizer
from kisa_tasks.qa.records import QAItem
from kisa_tasks.settings import KisaSettings
from kisa_tasks.sft.export import loss_mask, mask_mismatch
from kisa_tasks.sft.mix import achieved, balance

log = logging.getLogger(__name__)

_MESSAGE = pa.struct(
    [
        pa.field("role", pa.string(), nullable=False),
        pa.field("content", pa.string(), nullable=False),
    ]
)
SFT_SCHEMA = register_stage(
    "sft",
    pa.schema(
        [
            pa.field("trajectory_id", pa.string(), nullable=False),
            pa.field("qa_id", pa.string(), nullable=False),
            pa.field("messages", pa.list_(_MESSAGE), nullable=False),
            pa.field("input_ids", pa.list_(pa.int32()), nullable=False),
            pa.field("loss_mask", pa.list_(pa.int8()), nullable=False),
            pa.field("trained_tokens", pa.int32(), nullable=False),
            pa.field("openai_messages_json", pa.string(), nullable=False),
            # Tool calls whose service failed during the rollout (numbered from 0).
            pa.field("failed_tool_calls", pa.list_(pa.int32()), nullable=False),
            pa.field("tokenizer", pa.string(), nullable=False),
            pa.field("question_type", pa.string(), nullable=False),
            pa.field("split", pa.string(), nullable=False),
            # The trajectory's provenance (``trajectories.provenance``).
            pa.field("provenance", pa.string(), nullable=True),
        ]
    ),
)


class MaskError(ValueError):
    """A loss mask that fails its check: the example is refused, not trained on."""


def sft_row(tokenizer: Any, trajectory: dict[str, Any], question: str) -> dict[str, Any]:
    messages = [dict(m) for m in trajectory["messages"]]
    masked = loss_mask(tokenizer, messages)
    if problem := mask_mismatch(tokenizer, messages, masked):
        raise MaskError(problem)
    return {
        "trajectory_id": trajectory["trajectory_id"],
        "qa_id": trajectory["qa_id"],
        "messages": messages,
        "input_ids": masked.input_ids,
        "loss_mask": masked.loss_mask,
        "trained_tokens": masked.trained,
        "openai_messages_json": json.dumps(openai_messages(messages, question), ensure_ascii=False),
        "failed_tool_calls": list(trajectory.get("failed_calls") or []),
        "tokenizer": TOKENIZER_NAME,
        "question_type": trajectory.get("question_type") or "",
        "split": "train",
        "provenance": trajectory.get("provenance"),
    }


def run_sft_export(
    settings: KisaSettings,
    *,
    specialty: str,
    run_id: str,
    rng_seed: int = 0,
) -> dict[str, Any]:
    """Kept trajectories of train items as SFT examples, balanced to the
    configured question-type mix. A trajectory of a test item is refused
    (evaluation data never trains); so is one whose loss mask fails its check."""
    store = ArtefactStore.from_settings(settings)
    trajectories = store.read(Partition("trajectories", specialty, run_id)).to_pylist()
    qa = Partition("qa", specialty, run_id)
    items = (  # an imported run may have trajectories and no QA items
        {r["qa_id"]: QAItem.from_row(r) for r in store.read(qa).to_pylist()}
        if store.is_committed(qa)
        else {}
    )
    refused = []
    usable = []
    for trajectory in trajectories:
        item = items.get(trajectory["qa_id"])
        if item is not None and item.split != "train":
            reason = f"test_item: {trajectory['qa_id']} is in the {item.split or 'no'} split"
            refused.append(Rejection(trajectory["trajectory_id"], reason, trajectory))
        else:
            usable.append(trajectory)
    types = [t.get("question_type") or "" for t in usable]
    chosen = set(range(len(usable)))
    if settings.sft.balance_mix:
        mix: dict[str, float] = {str(k): v for k, v in settings.sft.question_mix.items()}
        chosen = set(balance(types, mix))
    for position in sorted(set(range(len(usable))) - chosen):
        trajectory = usable[position]
        reason = f"mix: over the {types[position]} share of the question-type mix"
        refused.append(Rejection(trajectory["trajectory_id"], reason, trajectory))
    rows = []
    if chosen:  # the tokenizer takes seconds to load: only when there is work
        tokenizer = training_tokenizer(settings.home / "tokenizers")
        for position in sorted(chosen):
            trajectory = usable[position]
            item = items.get(trajectory["qa_id"])
            question = item.question if item else asked(trajectory["messages"])
            try:
                rows.append(sft_row(tokenizer, trajectory, question))
            except MaskError as exc:
                refused.append(Rejection(trajectory["trajectory_id"], f"mask: {exc}", trajectory))
    partition = Partition("sft", specialty, run_id)
    store.write(partition, [pa.Table.from_pylist(rows, schema=SFT_SCHEMA)], refused)
    counts: dict[str, Any] = {
        "examples": len(rows),
        "masks_verified": len(rows),
        "refused_mask": sum(r.reason.startswith("mask:") for r in refused),
        "refused_test_item": sum(r.reason.startswith("test_item:") for r in refused),
        "dropped_for_mix": len(usable) - len(chosen),
        "trained_tokens": sum(r["trained_tokens"] for r in rows),
        "tokens": sum(len(r["input_ids"]) for r in rows),
        "failed_tool_calls": sum(len(r["failed_tool_calls"]) for r in rows),
        "with_failed_tool_calls": sum(bool(r["failed_tool_calls"]) for r in rows),
    }
    counts |= {f"mix_{t}": v for t, v in achieved([r["question_type"] for r in rows]).items()}
    log.info("sft %s: %s", specialty, counts)
    return {"uri": store.uri(partition.prefix), "counts": counts}
