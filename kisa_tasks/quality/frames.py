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


def length_columns(schema: pa.Schema) -> dict[str, str]:
    """List column -> the name of its length twin."""
    return {f.name: f"{f.name}__len" for f in schema if pa.types.is_list(f.type)}


def with_list_lengths(table: pa.Table) -> pd.DataFrame:
    """The table as pandas plus ``<column>__len`` (null stays null) for each list column."""
    frame = table.to_pandas()
    for column, twin in length_columns(table.schema).items():
        lengths = pc.list_value_length(table.column(column))
        frame[twin] = pd.array(lengths.to_pylist(), dtype="Int64")
    return frame


def triples_checks(table: pa.Table, frame: pd.DataFrame, rejected: int) -> pd.DataFrame:
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


def subgraph_checks(table: pa.Table, frame: pd.DataFrame, rejected: int) -> pd.DataFrame:
    frame["path_matches_hops"] = frame["path__len"] == frame["hops"] + 1
    return frame


def sft_checks(table: pa.Table, frame: pd.DataFrame, rejected: int) -> pd.DataFrame:
    frame["mask_aligned"] = frame["loss_mask__len"] == frame["input_ids__len"]
    return frame


def accept_rate(table: pa.Table, frame: pd.DataFrame, rejected: int) -> pd.DataFrame:
    """The share of rollouts the stage kept (it refused ``rejected``)."""
    total = table.num_rows + rejected
    frame["accept_rate"] = table.num_rows / total if total else 0.0
    return frame


Derive = Callable[[pa.Table, pd.DataFrame, int], pd.DataFrame]


def gate_frame(table: pa.Table, derive: Derive | None = None, *, rejected: int = 0) -> pd.DataFrame:
    """The frame a suite validates: the table with list lengths, plus what
    ``derive`` adds. ``rejected``: rows the stage refused."""
    frame = with_list_lengths(table)
    return derive(table, frame, rejected) if derive else frame
