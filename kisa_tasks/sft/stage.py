"""The ``sft`` stage: kept trajectories -> SFT examples on S3.

One row per trajectory: the ReAct messages (with the seeded tool-failure
simulation applied), the token ids and loss mask under the training
tokenizer, the same conversation in OpenAI tool-call format with the tools'
schemas, and which tool outputs were blanked.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pyarrow as pa

import kisa_tasks.agent.stage  # noqa: F401 - registers the trajectories schema
from kisa_tasks.agent.react import asked, openai_messages
from kisa_tasks.artefacts import ArtefactStore, Partition, Rejection, register_stage
from kisa_tasks.qa.records import QAItem
from kisa_tasks.settings import KisaSettings
from kisa_tasks.sft.export import BLANK_SHARE, blank_tool_outputs, loss_mask, mask_mismatch
from kisa_tasks.sft.tokenizer import TOKENIZER_NAME, training_tokenizer

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
            pa.field("blanked_tool_outputs", pa.list_(pa.int32()), nullable=False),
            pa.field("tokenizer", pa.string(), nullable=False),
        ]
    ),
)


class MaskError(ValueError):
    """A loss mask that fails its check: the example is refused, not trained on."""


def sft_row(
    tokenizer: Any, trajectory: dict[str, Any], question: str, rng_seed: int, share: float
) -> dict[str, Any]:
    messages, blanked = blank_tool_outputs(
        trajectory["messages"], trajectory["trajectory_id"], rng_seed, share
    )
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
        "blanked_tool_outputs": blanked,
        "tokenizer": TOKENIZER_NAME,
    }


def run_sft_export(
    settings: KisaSettings,
    *,
    specialty: str,
    run_id: str,
    rng_seed: int = 0,
    blank_share: float = BLANK_SHARE,
) -> dict[str, Any]:
    store = ArtefactStore.from_settings(settings)
    trajectories = store.read(Partition("trajectories", specialty, run_id)).to_pylist()
    qa = Partition("qa", specialty, run_id)
    questions = (  # an imported run may have trajectories and no QA items
        {r["qa_id"]: QAItem.from_row(r).question for r in store.read(qa).to_pylist()}
        if store.is_committed(qa)
        else {}
    )
    rows = []
    refused = []
    if trajectories:  # the tokenizer takes seconds to load: only when there is work
        tokenizer = training_tokenizer(settings.home / "tokenizers")
        for trajectory in trajectories:
            question = questions.get(trajectory["qa_id"]) or asked(trajectory["messages"])
            try:
                rows.append(sft_row(tokenizer, trajectory, question, rng_seed, blank_share))
            except MaskError as exc:
                refused.append(Rejection(trajectory["trajectory_id"], f"mask: {exc}", trajectory))
    partition = Partition("sft", specialty, run_id)
    store.write(partition, [pa.Table.from_pylist(rows, schema=SFT_SCHEMA)], refused)
    counts = {
        "examples": len(rows),
        "masks_verified": len(rows),
        "refused_mask": len(refused),
        "trained_tokens": sum(r["trained_tokens"] for r in rows),
        "tokens": sum(len(r["input_ids"]) for r in rows),
        "blanked_tool_outputs": sum(len(r["blanked_tool_outputs"]) for r in rows),
    }
    log.info("sft %s: %s", specialty, counts)
    return {"uri": store.uri(partition.prefix), "counts": counts}
