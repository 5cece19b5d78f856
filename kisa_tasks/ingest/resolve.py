"""Ingest, step 2: versions and deletions across staged files, out of core.

The rule (NLM's: baseline first, then updates in release order): a
``DeleteCitation`` withdraws a PMID, and of the citations of a PMID after
its last deletion the one with the highest version wins, the later one on a
tie (a re-issued record wins even at the same version).

Only the key columns of every staged file are held at once (PMID, version,
file, position: 20 bytes a citation, 0.6 GB for the 30M of a full baseline),
never a record. The winners are then read back a PMID range at a time from
the staged files (each sorted by PMID, in small row groups, so a range read
skips the rest) and handed on in PMID order, a chunk at a time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kisa_tasks.artefacts import Rejection
from kisa_tasks.ingest.abstracts import ABSTRACTS_SCHEMA, reason_count_key
from kisa_tasks.schedule import in_window

CHUNK_ROWS = 20_000
# Reads rows of staged file ``file`` with ``lo <= pmid_int <= hi``.
RangeReader = Callable[[int, int, int], pa.Table]


@dataclass(frozen=True)
class LiveCitations:
    """The winning citation of every live PMID, sorted by PMID: which staged
    file holds it and where."""

    pmid: np.ndarray
    file: np.ndarray
    position: np.ndarray

    def __len__(self) -> int:
        return int(self.pmid.size)


def _order(file: np.ndarray, position: np.ndarray) -> np.ndarray:
    """One int64 per event that sorts in corpus order (file, then position)."""
    return (file.astype(np.int64) << 32) | position.astype(np.int64)


def _keys(tables: Sequence[pa.Table], columns: Sequence[str]) -> dict[str, np.ndarray]:
    """Key columns of every file's table, with the file's index added."""
    out = {
        name: np.concatenate(
            [t.column(name).to_numpy().astype(np.int64) for t in tables] or [np.zeros(0, np.int64)]
        )
        for name in columns
    }
    out["file"] = np.concatenate(
        [np.full(t.num_rows, i, np.int64) for i, t in enumerate(tables)] or [np.zeros(0, np.int64)]
    )
    return out


def live_citations(
    citation_keys: Sequence[pa.Table], deletion_keys: Sequence[pa.Table]
) -> LiveCitations:
    """Resolve versions and deletions. Table ``i`` of each list is file ``i``
    in corpus order; citation tables have ``pmid_int``, ``version`` and
    ``position``, deletion tables ``pmid_int`` and ``position``."""
    c = _keys(citation_keys, ("pmid_int", "version", "position"))
    d = _keys(deletion_keys, ("pmid_int", "position"))
    order = _order(c["file"], c["position"])
    if d["pmid_int"].size:
        # The last deletion of each deleted PMID, looked up for every citation.
        d_order = _order(d["file"], d["position"])
        by_pmid = np.lexsort((d_order, d["pmid_int"]))
        d_pmid, d_order = d["pmid_int"][by_pmid], d_order[by_pmid]
        last = np.r_[d_pmid[1:] != d_pmid[:-1], True]
        deleted_pmid, deleted_at = d_pmid[last], d_order[last]
        slot = np.clip(np.searchsorted(deleted_pmid, c["pmid_int"]), 0, deleted_pmid.size - 1)
        was_deleted = deleted_pmid[slot] == c["pmid_int"]
        after = ~was_deleted | (order > deleted_at[slot])
        c = {name: values[after] for name, values in c.items()}
        order = order[after]
    # Per PMID the last row by (version, order) wins (lexsort's last key is primary).
    ranked = np.lexsort((order, c["version"], c["pmid_int"]))
    pmid = c["pmid_int"][ranked]
    winner = ranked[np.r_[pmid[1:] != pmid[:-1], True]] if pmid.size else ranked
    return LiveCitations(
        c["pmid_int"][winner], c["file"][winner].astype(np.int32), c["position"][winner]
    )


def live_chunks(
    live: LiveCitations, read_range: RangeReader, rows: int = CHUNK_ROWS
) -> Iterator[pa.Table]:
    """The live citations' staged rows in PMID order, ``rows`` at a time."""
    for start in range(0, len(live), rows):
        pmids = live.pmid[start : start + rows]
        files = live.file[start : start + rows]
        positions = live.position[start : start + rows]
        parts = []
        for f in np.unique(files):
            mine = files == f
            table = read_range(int(f), int(pmids[mine].min()), int(pmids[mine].max()))
            parts.append(table.filter(pc.is_in(table["position"], pa.array(positions[mine]))))
        yield pa.concat_tables(parts).sort_by("pmid_int")


def list_contains(column: pa.ChunkedArray | pa.Array, value: str) -> np.ndarray:
    """Per row, whether the list column holds ``value``."""
    lists = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    hits = pc.equal(pc.list_flatten(lists), value).to_numpy(zero_copy_only=False)
    mask = np.zeros(len(lists), dtype=bool)
    mask[pc.list_parent_indices(lists).to_numpy()[np.nan_to_num(hits).astype(bool)]] = True
    return mask


@dataclass
class PartitionSelector:
    """One ``abstracts`` partition picked from live chunks in PMID order: the
    usable citations of ``specialty`` (all when None) published in
    ``window``, at most ``limit``; a rejection for each unusable one."""

    specialty: str | None
    limit: int | None = None
    window: tuple[str, str] | None = None
    counts: Counter[str] = field(default_factory=Counter)

    def _count(self, name: str, n: int) -> None:
        # Only what happened is counted, as the in-memory rule counts.
        if n > 0:
            self.counts[name] += n

    def take(self, chunk: pa.Table) -> tuple[pa.Table, list[Rejection]]:
        keep = np.ones(chunk.num_rows, dtype=bool)
        if self.specialty is not None:
            keep = list_contains(chunk["specialties"], self.specialty)
            self._count("other_specialties", int((~keep).sum()))
        if self.window is not None:
            dates = chunk["pub_date"].to_pylist()
            inside = np.array([in_window(d, self.window) for d in dates], dtype=bool)
            self._count("outside_window", int((keep & ~inside).sum()))
            keep &= inside
        reasons = chunk["reason"].to_pylist()
        rejected = [i for i in np.flatnonzero(keep) if reasons[i] is not None]
        pmids, sources = chunk["pmid"].to_pylist(), chunk["source"].to_pylist()
        rejections = []
        for i in rejected:
            self.counts[reason_count_key(reasons[i])] += 1
            rejections.append(
                Rejection(pmids[i], reasons[i], {"pmid": pmids[i], "source": sources[i]})
            )
        usable = np.flatnonzero(keep & pc.is_null(chunk["reason"]).to_numpy(zero_copy_only=False))
        if self.limit is not None:
            room = max(self.limit - self.counts["kept"], 0)
            self._count("beyond_limit", usable.size - room)
            usable = usable[:room]
        self.counts["kept"] += int(usable.size)
        return chunk.take(usable).select(ABSTRACTS_SCHEMA.names), rejections


def malformed_rejections(tables: Sequence[pa.Table]) -> list[Rejection]:
    """A rejection per malformed record, in corpus order."""
    return [
        Rejection(
            record_key=row["pmid"],
            reason=f"malformed: {row['reason']}",
            record={"source": row["source"], "position": row["position"], "xml": row["xml"]},
        )
        for table in tables
        for row in table.to_pylist()
    ]
