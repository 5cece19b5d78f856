"""What a gate validates: a committed partition as a pandas frame, with the
derived columns its suite reads.

GX's column expectations are wrong on list columns without saying so (a
value-length check measures the list's printed form; uniqueness passes
duplicate lists), so every list column gets a ``<column>__len`` twin, and
checks across columns become one boolean column each. These functions are
pure: a table in, a frame out.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from kisa_tasks.triples.signatures import signature_violation


def with_list_lengths(table: pa.Table) -> pd.DataFrame:
    """The table as pandas plus ``<column>__len`` (null stays null) for each list column."""
    frame = table.to_pandas()
    for field in table.schema:
        if pa.types.is_list(field.type):
            lengths = pc.list_value_length(table.column(field.name))
            frame[f"{field.name}__len"] = pd.array(lengths.to_pylist(), dtype="Int64")
    return frame


def _triples(table: pa.Table, frame: pd.DataFrame) -> pd.DataFrame:
    frame["self_loop"] = frame["head"] == frame["tail"]
    # A relation whose ends cannot hold it (an organ as a cause, a drug
    # treating a drug) is false whatever the sentence says.
    frame["signature_violation"] = [
        signature_violation(r, h, t) is not None
        for r, h, t in zip(
            frame["relation_type"], frame["head_kind"], frame["tail_kind"], strict=True
        )
    ]
    return frame


def _subgraphs(table: pa.Table, frame: pd.DataFrame) -> pd.DataFrame:
    frame["path_matches_hops"] = frame["path__len"] == frame["hops"] + 1
    return frame


def _sft(table: pa.Table, frame: pd.DataFrame) -> pd.DataFrame:
    frame["mask_aligned"] = frame["loss_mask__len"] == frame["input_ids__len"]
    return frame


DERIVE: dict[str, Callable[[pa.Table, pd.DataFrame], pd.DataFrame]] = {
    "triples": _triples,
    "subgraphs": _subgraphs,
    "sft": _sft,
}


def gate_frame(stage: str, table: pa.Table, *, rejected: int = 0) -> pd.DataFrame:
    """The frame ``stage``'s suite validates. ``rejected``: rows the stage
    refused, for the share it kept (trajectories' ``accept_rate``)."""
    frame = with_list_lengths(table)
    frame = DERIVE.get(stage, lambda _, f: f)(table, frame)
    if stage == "trajectories":
        total = table.num_rows + rejected
        frame["accept_rate"] = table.num_rows / total if total else 0.0
    return frame
