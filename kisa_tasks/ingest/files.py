"""Ingest, step 1: each MEDLINE file on its own, to Parquet.

A file is parsed once into three tables and staged on S3 under
``ingest/files/PARSER_VERSION/NAME/SIZE/``: its citations (every parsed
record, with the reason a later stage could not use it, sorted by PMID), its
deletions and its malformed records. Files are independent, so they are
staged in parallel (``kisa_tasks.fanout``: processes here, one Ray task per
file on a cluster), and a staged file is never parsed again: a rerun, or a
corpus that gained an update file, parses only what is new. A process holds
one file at a time, so its memory does not depend on how many files there are.

Resolving versions and deletions across files is ``ingest.resolve``'s job.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from kisa_tasks.artefacts import ArtefactStore
from kisa_tasks.ingest.abstracts import ABSTRACTS_SCHEMA, rejection_reason, to_row
from kisa_tasks.ingest.medline import Citation, Deletion, Malformed, MedlineReader

log = logging.getLogger(__name__)

# Bump when parsing or the staged columns change: staged files of another
# version are never read, so every file is parsed again.
PARSER_VERSION = 1
STAGING_PREFIX = "ingest/files"
ROW_GROUP_ROWS = 2_000  # small groups: resolve reads PMID ranges of a file
DONE = "_DONE.json"
BATCH_ROWS = 2_000

CITATIONS_SCHEMA = pa.schema(
    [
        pa.field("pmid_int", pa.int64(), nullable=False),
        pa.field("position", pa.int32(), nullable=False),
        pa.field("reason", pa.string()),
        *ABSTRACTS_SCHEMA,
    ]
)
DELETIONS_SCHEMA = pa.schema(
    [pa.field("pmid_int", pa.int64(), nullable=False), pa.field("position", pa.int32())]
)
MALFORMED_SCHEMA = pa.schema(
    [
        pa.field("pmid", pa.string()),
        pa.field("reason", pa.string()),
        pa.field("source", pa.string()),
        pa.field("position", pa.int32()),
        pa.field("xml", pa.string()),
    ]
)
TABLES = ("citations", "deletions", "malformed")


@dataclass(frozen=True)
class CorpusFile:
    """One input file: where this process reads it, and what it is called."""

    path: str
    name: str
    size: int

    @classmethod
    def local(cls, path: Path) -> CorpusFile:
        return cls(str(path), path.name, path.stat().st_size)

    @property
    def staging_key(self) -> str:
        return f"{STAGING_PREFIX}/v{PARSER_VERSION}/{self.name}/{self.size}"

    def key(self, table: str) -> str:
        return f"{self.staging_key}/{table}.parquet"


@dataclass(frozen=True)
class StagedTables:
    citations: pa.Table
    deletions: pa.Table
    malformed: pa.Table


def parse_file(path: Path | str, source: str | None = None) -> StagedTables:
    """The three staged tables of one file (pure apart from reading it)."""
    rows: list[dict[str, object]] = []
    batches: list[pa.Table] = []  # rows as Arrow every BATCH_ROWS: dicts cost 10x
    deletions: list[dict[str, object]] = []
    malformed: list[dict[str, object]] = []
    for event in MedlineReader(path, source):
        if isinstance(event, Citation):
            rows.append(
                to_row(event)
                | {
                    "pmid_int": int(event.pmid),
                    "position": event.position,
                    "reason": rejection_reason(event),
                }
            )
            if len(rows) == BATCH_ROWS:
                batches.append(pa.Table.from_pylist(rows, schema=CITATIONS_SCHEMA))
                rows = []
        elif isinstance(event, Deletion):
            deletions.extend(
                {"pmid_int": int(p), "position": event.position} for p in event.pmids if p.isdigit()
            )
        elif isinstance(event, Malformed):
            malformed.append(
                {
                    "pmid": event.pmid,
                    "reason": event.reason,
                    "source": event.source,
                    "position": event.position,
                    "xml": event.snippet,
                }
            )
    batches.append(pa.Table.from_pylist(rows, schema=CITATIONS_SCHEMA))
    citations = pa.concat_tables(batches)
    return StagedTables(
        citations.sort_by([("pmid_int", "ascending"), ("position", "ascending")]),
        pa.Table.from_pylist(deletions, schema=DELETIONS_SCHEMA),
        pa.Table.from_pylist(malformed, schema=MALFORMED_SCHEMA),
    )


def is_staged(store: ArtefactStore, file: CorpusFile) -> bool:
    return store.exists(f"{file.staging_key}/{DONE}")


def stage_file(store: ArtefactStore, file: CorpusFile) -> dict[str, int]:
    """Parse one file and stage its tables (a no-op when already staged);
    returns its counts. The marker is written last, so a file cut off
    mid-write is staged again."""
    done = f"{file.staging_key}/{DONE}"
    if store.exists(done):
        return dict(store.get_json(done)["counts"])
    if file.path.startswith("s3://"):
        with tempfile.TemporaryDirectory(prefix="kisa-ingest-") as tmp:
            local = Path(tmp) / file.name
            with store.fs.open_input_stream(file.path.removeprefix("s3://")) as src:
                with open(local, "wb") as dst:
                    while block := src.read(1 << 20):
                        dst.write(block)
            tables = parse_file(local, file.name)
    else:
        tables = parse_file(file.path, file.name)
    for name in TABLES:
        store.write_file(file.key(name), getattr(tables, name), ROW_GROUP_ROWS)
    counts = {name: getattr(tables, name).num_rows for name in TABLES}
    store.put_json(done, {"file": file.name, "size": file.size, "counts": counts})
    log.info("staged %s: %s", file.name, json.dumps(counts))
    return counts
