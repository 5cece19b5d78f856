"""The artefact store against the real SeaweedFS S3 server."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kisa_tasks.artefacts import (
    ArtefactStore,
    InvalidKeyError,
    NotCommittedError,
    Partition,
    Rejection,
    SchemaMismatchError,
    register_stage,
)
from kisa_tasks.artefacts.keys import parse_partition_prefix, part_name
from kisa_tasks.artefacts.store import PartitionWriter
from kisa_tasks.settings import KisaSettings

SCHEMA = register_stage(
    "unit_rows",
    pa.schema([pa.field("id", pa.string(), nullable=False), pa.field("score", pa.float64())]),
)


@pytest.fixture()
def store(settings: KisaSettings) -> ArtefactStore:
    return ArtefactStore.from_settings(settings)


def test_keys_follow_the_documented_layout() -> None:
    p = Partition("abstracts", "cardiology", "manual__2026-01-01T00:00:00+00:00")
    assert p.part_key(3) == (
        "abstracts/specialty=cardiology/run=manual__2026-01-01T00:00:00+00:00/part-00003.parquet"
    )
    assert p.rejected_part_key(0).startswith("rejected/abstracts/specialty=cardiology/")
    assert parse_partition_prefix(p.marker_key) == p


@pytest.mark.parametrize("bad", ["../etc", "a/b", "", ".hidden", "x" * 200, "a b"])
def test_path_components_cannot_escape_their_prefix(bad: str) -> None:
    with pytest.raises(InvalidKeyError):
        Partition("abstracts", bad, "r1")


@given(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-.:+", min_size=1, max_size=60).filter(
        lambda s: s[0].isalnum() and ".." not in s
    ),
    st.integers(min_value=0, max_value=99_999),
)
def test_partition_keys_round_trip(run: str, index: int) -> None:
    p = Partition("qa", "oncology", run)
    assert parse_partition_prefix(p.part_key(index)) == p
    assert p.part_key(index).endswith(part_name(index))


def test_commit_makes_parts_visible_with_counts_and_rejections(store: ArtefactStore) -> None:
    p = Partition("unit_rows", "neurology", "commit1")
    marker = store.write(
        p,
        [
            pa.table({"id": ["a", "b"], "score": [0.5, 1.0]}),
            pa.table({"score": [2.0], "id": ["c"]}),
        ],
        [Rejection("z", "abstract is empty", {"id": "z"})],
    )
    assert marker.parts == ["part-00000.parquet", "part-00001.parquet"]
    assert marker.rows == 3 and marker.rejected_rows == 1
    table = store.read(p)
    assert table.schema.equals(SCHEMA)
    assert table.column("id").to_pylist() == ["a", "b", "c"]
    rejected = store.read_rejected(p).to_pylist()
    assert rejected == [
        {
            "stage": "unit_rows",
            "record_key": "z",
            "reason": "abstract is empty",
            "record_json": '{"id": "z"}',
        }
    ]
    assert p in store.committed("unit_rows")
    # The parts are ordinary Parquet at the documented keys.
    direct = pq.read_table(f"{store.bucket}/{p.part_key(1)}", filesystem=store.fs)
    assert direct.column("id").to_pylist() == ["c"]


def test_a_write_that_dies_is_invisible_and_leaves_no_staging(store: ArtefactStore) -> None:
    p = Partition("unit_rows", "neurology", "crashed")
    with pytest.raises(RuntimeError, match="worker died"):
        with store.open_partition(p) as writer:
            writer.write_part(pa.table({"id": ["a"], "score": [1.0]}))
            raise RuntimeError("worker died")
    assert not store.is_committed(p)
    with pytest.raises(NotCommittedError, match="no committed output"):
        store.read(p)
    assert store._list_parts(p.prefix) == []
    import pyarrow.fs as pafs

    staged = store.fs.get_file_info(
        pafs.FileSelector(f"{store.bucket}/_staging", recursive=True, allow_not_found=True)
    )
    assert not [i for i in staged if "crashed" in i.path and i.type == pafs.FileType.File]


def test_a_rerun_removes_what_a_killed_writer_left_staged(store: ArtefactStore) -> None:
    import pyarrow.fs as pafs

    p = Partition("unit_rows", "neurology", "killed")
    killed = PartitionWriter(store, p)  # a worker killed mid-write runs no cleanup
    killed.write_part(pa.table({"id": ["half"], "score": [0.5]}))

    def staged() -> list[str]:
        infos = store.fs.get_file_info(
            pafs.FileSelector(store._path(p.staging_prefix), recursive=True, allow_not_found=True)
        )
        return [i.path for i in infos if i.type == pafs.FileType.File]

    assert staged() and not store.is_committed(p)
    store.write(p, [pa.table({"id": ["whole"], "score": [1.0]})])
    assert store.read(p).column("id").to_pylist() == ["whole"]
    assert staged() == []


def test_rerun_replaces_the_partition_and_drops_stale_parts(store: ArtefactStore) -> None:
    p = Partition("unit_rows", "hematology", "rerun")
    store.write(p, [pa.table({"id": [str(i)], "score": [float(i)]}) for i in range(3)])
    store.write(p, [pa.table({"id": ["only"], "score": [9.0]})])
    assert store.read(p).column("id").to_pylist() == ["only"]
    assert store._list_parts(p.prefix) == ["part-00000.parquet"]


def test_same_input_gives_byte_identical_parts(store: ArtefactStore) -> None:
    table = pa.table({"id": ["x", "y"], "score": [1.5, None]})
    blobs = []
    for run in ("det1", "det2"):
        p = Partition("unit_rows", "dermatology", run)
        store.write(p, [table])
        with store.fs.open_input_stream(f"{store.bucket}/{p.part_key(0)}") as fh:
            blobs.append(fh.read())
    assert blobs[0] == blobs[1]


def test_schema_mismatch_is_refused_naming_the_columns(store: ArtefactStore) -> None:
    p = Partition("unit_rows", "oncology", "bad_schema")
    with pytest.raises(SchemaMismatchError, match=r"missing \['score'\], extra \['extra'\]"):
        store.write(p, [pa.table({"id": ["a"], "extra": [1]})])
    with pytest.raises(SchemaMismatchError, match="'id' is not nullable"):
        store.write(p, [pa.table({"id": pa.array([None], pa.string()), "score": [1.0]})])
    assert not store.is_committed(p)


def test_unknown_stage_is_an_error() -> None:
    from kisa_tasks.artefacts import schema_for

    with pytest.raises(SchemaMismatchError, match="no schema registered"):
        schema_for("nope")
