"""Trajectories as SFT examples: ReAct chat messages with a token-level loss
mask, and the same conversation in OpenAI tool-call format.

The mask trains the assistant turns (their text and the end-of-turn token,
so the model learns to stop) and nothing else: not the system prompt, not
the question, not a tool output. It is computed on the training tokenizer's
own chat template: each assistant turn is found verbatim in the rendered
text, and a token is trained exactly when its character span lies inside
one. Tool-failure simulation blanks a seeded share of tool outputs in the
SFT copy and records which.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

Message = dict[str, str]


@dataclass(frozen=True)
class Masked:
    input_ids: list[int]
    loss_mask: list[int]  # 1: trained (assistant), 0: context

    @property
    def trained(self) -> int:
        return sum(self.loss_mask)


def assistant_spans(text: str, messages: Sequence[Message], end: str) -> list[tuple[int, int]]:
    """Character spans of each assistant turn's content plus its end token in
    the rendered chat ``text``, found in order."""
    spans = []
    cursor = 0
    for message in messages:
        if message["role"] != "assistant":
            continue
        start = text.find(message["content"], cursor)
        if start < 0:
            raise ValueError("an assistant turn is not verbatim in the chat template's text")
        stop = start + len(message["content"])
        if text.startswith(end, stop):
            stop += len(end)
        spans.append((start, stop))
        cursor = stop
    return spans


def loss_mask(tokenizer: Any, messages: Sequence[Message]) -> Masked:
    text = tokenizer.apply_chat_template(list(messages), tokenize=False)
    spans = assistant_spans(text, messages, tokenizer.eos_token or "")
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    mask = [
        int(any(a <= start and stop <= b for a, b in spans) and stop > start)
        for start, stop in encoded["offset_mapping"]
    ]
    return Masked(list(encoded["input_ids"]), mask)


def mask_mismatch(tokenizer: Any, messages: Sequence[Message], masked: Masked) -> str | None:
    """An independent check of a mask: the trained tokens, decoded, must be
    exactly the assistant turns with their end tokens, and the rest must
    hold every prompt and tool output. None when it holds, else what differs."""
    end = tokenizer.eos_token or ""
    trained = [t for t, m in zip(masked.input_ids, masked.loss_mask, strict=True) if m]
    wanted = "".join(m["content"] + end for m in messages if m["role"] == "assistant")
    got = tokenizer.decode(trained)
    if got != wanted:
        at = next((i for i, (a, b) in enumerate(zip(got, wanted, strict=False)) if a != b), None)
        at = min(len(got), len(wanted)) if at is None else at
        return (
            "the trained tokens are not exactly the assistant turns (first difference at "
            f"character {at}: trained {got[at : at + 30]!r}, expected {wanted[at : at + 30]!r})"
        )
    rest = tokenizer.decode(
        [t for t, m in zip(masked.input_ids, masked.loss_mask, strict=True) if not m]
    )
    missing = [m["role"] for m in messages if m["role"] != "assistant" and m["content"] not in rest]
    return f"a {missing[0]} message is trained on" if missing else None
