"""Parquet artefacts on S3: typed schemas, deterministic keys, atomic commits."""

from kisa_tasks.artefacts.keys import InvalidKeyError, Partition
from kisa_tasks.artefacts.schemas import (
    SchemaMismatchError,
    register_stage,
    schema_for,
)
from kisa_tasks.artefacts.store import (
    ArtefactStore,
    BufferedWriter,
    CommitMarker,
    NotCommittedError,
    PartitionWriter,
    Rejection,
)

__all__ = [
    "ArtefactStore",
    "BufferedWriter",
    "CommitMarker",
    "InvalidKeyError",
    "NotCommittedError",
    "Partition",
    "PartitionWriter",
    "Rejection",
    "SchemaMismatchError",
    "register_stage",
    "schema_for",
]
