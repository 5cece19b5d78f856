"""The artefact store: Parquet parts on S3, committed atomically with a marker.

A writer stages parts under ``_staging/<partition>/<txn>/``; ``commit``
replaces the partition's parts with the staged ones and then writes
``_COMMITTED.json``, which lists every part and its row count. Readers go
through the marker only, so a crashed or half-finished write is invisible and
a rerun simply writes the same partition again; its commit also removes what
a killed writer of the partition left staged.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from kisa_tasks.artefacts.access import record_read, record_write
from kisa_tasks.artefacts.keys import (
    MARKER,
    Partition,
    parse_partition_prefix,
)
from kisa_tasks.artefacts.schemas import (
    REJECTED_SCHEMA,
    conform,
    fingerprint,
    schema_for,
)
from kisa_tasks.settings import KisaSettings

log = logging.getLogger(__name__)


class NotCommittedError(LookupError):
    """The partition has no committed output (never written, or a write died)."""


@dataclass(frozen=True)
class Rejection:
    """A record a stage refused, with the reason; kept, never dropped silently."""

    record_key: str | None
    reason: str
    record: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class CommitMarker:
    stage: str
    specialty: str
    run: str
    schema_fingerprint: str
    parts: list[str]
    rows: int
    rejected_parts: list[str] = field(default_factory=list)
    rejected_rows: int = 0
    committed_at: str = ""
    # Unique per commit: two commits within a second differ (stage receipts).
    commit_id: str = ""

    @property
    def version(self) -> str:
        return self.commit_id or self.committed_at

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> CommitMarker:
        return cls(**json.loads(text))


def s3_filesystem(settings: KisaSettings) -> pafs.S3FileSystem:
    s3 = settings.s3
    kwargs: dict[str, Any] = {"region": s3.region}
    if s3.access_key_id and s3.secret_access_key:
        kwargs["access_key"] = s3.access_key_id
        kwargs["secret_key"] = s3.secret_access_key.get_secret_value()
    if s3.endpoint_url:
        scheme, _, host = s3.endpoint_url.partition("://")
        kwargs["endpoint_override"] = host
        kwargs["scheme"] = scheme
    return pafs.S3FileSystem(**kwargs)


class ArtefactStore:
    def __init__(self, fs: pafs.FileSystem, bucket: str) -> None:
        self.fs = fs
        self.bucket = bucket

    @classmethod
    def from_settings(cls, settings: KisaSettings) -> ArtefactStore:
        return cls(s3_filesystem(settings), settings.s3.bucket)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def _path(self, key: str) -> str:
        return f"{self.bucket}/{key}"

    # -- small JSON documents (manifests, health probes) -------------------------
    def put_json(self, key: str, obj: Any) -> str:
        with self.fs.open_output_stream(self._path(key)) as fh:
            fh.write(json.dumps(obj, indent=2, sort_keys=True, default=str).encode())
        return self.uri(key)

    def put_bytes(self, key: str, data: bytes) -> str:
        """A whole file (an export); callers write it after the data it describes."""
        with self.fs.open_output_stream(self._path(key)) as fh:
            fh.write(data)
        return self.uri(key)

    def get_bytes(self, key: str) -> bytes:
        with self.fs.open_input_stream(self._path(key)) as fh:
            return bytes(fh.read())

    def get_json(self, key: str) -> Any:
        with self.fs.open_input_stream(self._path(key)) as fh:
            return json.loads(fh.read().decode())

    # -- directories of files (search indexes) -----------------------------------
    def upload_dir(self, local: Path, key: str) -> str:
        """Copy a local directory under ``key``; callers publish it with a marker."""
        pafs.copy_files(str(local), self._path(key), destination_filesystem=self.fs)
        return self.uri(key)

    def replace_dir(self, local: Path, key: str) -> str:
        """``upload_dir`` over whatever was under ``key`` before (a rerun's report)."""
        self.delete_prefix(key)
        return self.upload_dir(local, key)

    def list_keys(self, key_prefix: str) -> list[str]:
        """Every file key under a prefix, sorted (empty when there is none)."""
        selector = pafs.FileSelector(self._path(key_prefix), recursive=True, allow_not_found=True)
        start = len(self.bucket) + 1
        return sorted(
            info.path[start:]
            for info in self.fs.get_file_info(selector)
            if info.type == pafs.FileType.File
        )

    def download_dir(self, key: str, local: Path) -> None:
        local.mkdir(parents=True, exist_ok=True)
        pafs.copy_files(self._path(key), str(local), source_filesystem=self.fs)

    def read_file(
        self,
        key: str,
        columns: Sequence[str] | None = None,
        filters: Any = None,
    ) -> pa.Table:
        """One Parquet file by key (a file of a directory, not a partition);
        ``filters`` (pyarrow's) skip row groups by their statistics."""
        return pq.read_table(
            self._path(key),
            filesystem=self.fs,
            columns=list(columns) if columns is not None else None,
            filters=filters,
        )

    def write_file(self, key: str, table: pa.Table, row_group_size: int | None = None) -> str:
        """One Parquet file by key (staging, not a partition: no commit marker)."""
        pq.write_table(
            table,
            self._path(key),
            filesystem=self.fs,
            compression="zstd",
            row_group_size=row_group_size,
        )
        return self.uri(key)

    def exists(self, key: str) -> bool:
        return bool(self.fs.get_file_info(self._path(key)).type != pafs.FileType.NotFound)

    # -- writing ---------------------------------------------------------------
    @contextmanager
    def open_partition(self, partition: Partition) -> Iterator[PartitionWriter]:
        """Stage parts; commit on a clean exit, discard the staging on error."""
        writer = PartitionWriter(self, partition)
        try:
            yield writer
        except BaseException:
            writer.abort()
            raise
        writer.commit()

    def write(
        self,
        partition: Partition,
        tables: Sequence[pa.Table],
        rejections: Sequence[Rejection] = (),
    ) -> CommitMarker:
        with self.open_partition(partition) as writer:
            for table in tables:
                writer.write_part(table)
            writer.reject(rejections)
        assert writer.marker is not None
        return writer.marker

    # -- reading ---------------------------------------------------------------
    def marker(self, partition: Partition) -> CommitMarker:
        try:
            with self.fs.open_input_stream(self._path(partition.marker_key)) as fh:
                marker = CommitMarker.from_json(fh.read().decode())
        except FileNotFoundError:
            record_read(partition.marker_key, "")  # a later commit is a change
            raise NotCommittedError(
                f"{self.uri(partition.prefix)} has no committed output"
            ) from None
        record_read(partition.marker_key, marker.version)
        return marker

    def unpublish(self, partition: Partition) -> None:
        """Remove the marker: readers see "not committed" until the next commit."""
        if self.is_committed(partition):
            self.fs.delete_file(self._path(partition.marker_key))

    def is_committed(self, partition: Partition) -> bool:
        info = self.fs.get_file_info(self._path(partition.marker_key))
        return bool(info.type == pafs.FileType.File)

    def read(self, partition: Partition, columns: Sequence[str] | None = None) -> pa.Table:
        """The whole partition (or only ``columns`` of it) as one table."""
        tables = list(self.iter_parts(partition, columns))
        if tables:
            return pa.concat_tables(tables)
        schema = schema_for(partition.stage)
        return schema.empty_table() if columns is None else schema.empty_table().select(columns)

    def iter_parts(
        self, partition: Partition, columns: Sequence[str] | None = None
    ) -> Iterator[pa.Table]:
        """The partition's parts in order, one at a time (a corpus-sized
        partition read without holding it)."""
        marker = self.marker(partition)
        schema = schema_for(partition.stage)
        if marker.schema_fingerprint != fingerprint(schema):
            raise NotCommittedError(
                f"{self.uri(partition.prefix)} was written with another schema "
                f"({marker.schema_fingerprint}); rerun the stage to rewrite it"
            )
        for part in marker.parts:
            yield self.read_part(partition, part, columns)

    def part_names(self, partition: Partition) -> list[str]:
        """The committed parts of a partition, in order (items to fan out)."""
        return list(self.marker(partition).parts)

    def read_part(
        self, partition: Partition, part: str, columns: Sequence[str] | None = None
    ) -> pa.Table:
        return pq.read_table(
            self._path(f"{partition.prefix}/{part}"),
            filesystem=self.fs,
            columns=list(columns) if columns is not None else None,
        )

    def read_rejected(self, partition: Partition) -> pa.Table:
        marker = self.marker(partition)
        tables = [
            pq.read_table(self._path(f"{partition.rejected_prefix}/{p}"), filesystem=self.fs)
            for p in marker.rejected_parts
        ]
        return pa.concat_tables(tables) if tables else REJECTED_SCHEMA.empty_table()

    def committed(self, stage: str, specialty: str | None = None) -> list[Partition]:
        """Every committed partition of a stage, sorted."""
        base = self._path(stage if specialty is None else f"{stage}/specialty={specialty}")
        selector = pafs.FileSelector(base, recursive=True, allow_not_found=True)
        found = set()
        for info in self.fs.get_file_info(selector):
            if info.base_name != MARKER:
                continue
            key = info.path.removeprefix(f"{self.bucket}/")
            partition = parse_partition_prefix(key)
            if partition is not None and partition.stage == stage:
                found.add(partition)
        return sorted(found)

    def latest_run(self, stage: str, specialty: str) -> str | None:
        """The run whose ``stage`` partition of ``specialty`` was committed
        last, or None when there is none."""
        partitions = self.committed(stage, specialty)
        if not partitions:
            return None
        return max(partitions, key=lambda p: self.marker(p).committed_at).run

    # -- helpers for the writer -------------------------------------------------
    def delete_prefix(self, key_prefix: str) -> None:
        path = self._path(key_prefix)
        if self.fs.get_file_info(path).type == pafs.FileType.NotFound:
            return
        self.fs.delete_dir(path)

    def _list_parts(self, key_prefix: str) -> list[str]:
        selector = pafs.FileSelector(self._path(key_prefix), recursive=False, allow_not_found=True)
        return sorted(
            info.base_name
            for info in self.fs.get_file_info(selector)
            if info.type == pafs.FileType.File and info.base_name.startswith("part-")
        )


class BufferedWriter:
    """Rows and rejections for a partition writer, written in parts of
    ``rows`` rows however they arrive: a stage streaming its output commits
    the same files as one that wrote it whole."""

    def __init__(self, writer: PartitionWriter, rows: int, rejections_per_part: int = 50_000):
        self.writer, self.rows, self.rejections_per_part = writer, rows, rejections_per_part
        self.tables: list[pa.Table] = []
        self.rejections: list[Rejection] = []

    def add(self, table: pa.Table, rejections: Sequence[Rejection] = ()) -> None:
        self.tables.append(table)
        self.rejections.extend(rejections)
        buffered = sum(t.num_rows for t in self.tables)
        if buffered >= self.rows:
            joined = pa.concat_tables(self.tables)
            start = 0
            while buffered - start >= self.rows:
                self.writer.write_part(joined.slice(start, self.rows))
                start += self.rows
            self.tables = [joined.slice(start)]
        if len(self.rejections) >= self.rejections_per_part:
            self.writer.reject(self.rejections)
            self.rejections = []

    def flush(self) -> None:
        rest = pa.concat_tables(self.tables) if self.tables else None
        if rest is not None and rest.num_rows:
            self.writer.write_part(rest)
        self.writer.reject(self.rejections)
        self.tables, self.rejections = [], []


class PartitionWriter:
    def __init__(self, store: ArtefactStore, partition: Partition) -> None:
        self.store = store
        self.partition = partition
        self.schema = schema_for(partition.stage)
        self.staging = f"{partition.staging_prefix}/{uuid.uuid4().hex}"
        self.parts: list[tuple[str, int]] = []
        self.rejected_parts: list[tuple[str, int]] = []
        self.marker: CommitMarker | None = None

    def write_part(self, table: pa.Table) -> str:
        table = conform(table, self.schema)
        key = self.partition.part_key(len(self.parts))
        self._stage(key, table)
        self.parts.append((key.rsplit("/", 1)[1], table.num_rows))
        return key

    def reject(self, rejections: Sequence[Rejection]) -> str | None:
        if not rejections:
            return None
        table = pa.Table.from_pylist(
            [
                {
                    "stage": self.partition.stage,
                    "record_key": r.record_key,
                    "reason": r.reason,
                    "record_json": None
                    if r.record is None
                    else json.dumps(r.record, sort_keys=True, default=str),
                }
                for r in rejections
            ],
            schema=REJECTED_SCHEMA,
        )
        key = self.partition.rejected_part_key(len(self.rejected_parts))
        self._stage(key, table)
        self.rejected_parts.append((key.rsplit("/", 1)[1], table.num_rows))
        return key

    def _stage(self, key: str, table: pa.Table) -> None:
        pq.write_table(
            table,
            self.store._path(f"{self.staging}/{key}"),
            filesystem=self.store.fs,
            compression="zstd",
        )

    def commit(self) -> CommitMarker:
        store, p = self.store, self.partition
        fs = store.fs
        # Unpublish first: between here and the new marker, readers see
        # "not committed", never a mix of old and new parts.
        store.unpublish(p)
        for prefix, parts in ((p.prefix, self.parts), (p.rejected_prefix, self.rejected_parts)):
            keep = {name for name, _ in parts}
            for stale in store._list_parts(prefix):
                if stale not in keep:
                    fs.delete_file(store._path(f"{prefix}/{stale}"))
            for name, _ in parts:
                fs.copy_file(
                    store._path(f"{self.staging}/{prefix}/{name}"),
                    store._path(f"{prefix}/{name}"),
                )
        marker = CommitMarker(
            stage=p.stage,
            specialty=p.specialty,
            run=p.run,
            schema_fingerprint=fingerprint(self.schema),
            parts=[name for name, _ in self.parts],
            rows=sum(n for _, n in self.parts),
            rejected_parts=[name for name, _ in self.rejected_parts],
            rejected_rows=sum(n for _, n in self.rejected_parts),
            committed_at=datetime.now(UTC).isoformat(timespec="seconds"),
            commit_id=uuid.uuid4().hex,
        )
        with fs.open_output_stream(store._path(p.marker_key)) as fh:
            fh.write(marker.to_json().encode())
        record_write(p.marker_key, marker.version)
        # Every writer's staging: this one's and any a killed attempt left.
        store.delete_prefix(p.staging_prefix)
        self.marker = marker
        log.info(
            "committed %s: %d rows in %d parts, %d rejected",
            store.uri(p.prefix),
            marker.rows,
            len(marker.parts),
            marker.rejected_rows,
        )
        return marker

    def abort(self) -> None:
        self.store.delete_prefix(self.staging)
