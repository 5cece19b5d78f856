"""Deterministic artefact keys: ``STAGE/specialty=S/run=R/part-NNNNN.parquet``.

Pure functions; every path component is validated so a run id typed into the
Airflow trigger form can never escape its prefix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_COMPONENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:+\-]{0,127}$")
MARKER = "_COMMITTED.json"
REJECTED_PREFIX = "rejected"
STAGING_PREFIX = "_staging"


class InvalidKeyError(ValueError):
    pass


def check_component(kind: str, value: str) -> str:
    if not _COMPONENT.fullmatch(value) or ".." in value:
        raise InvalidKeyError(
            f"invalid {kind} {value!r}: use letters, digits and _ . : + - "
            "(at most 128, not starting with a symbol)"
        )
    return value


@dataclass(frozen=True, order=True)
class Partition:
    """One stage's output for one specialty and one run."""

    stage: str
    specialty: str
    run: str

    def __post_init__(self) -> None:
        check_component("stage", self.stage)
        check_component("specialty", self.specialty)
        check_component("run", self.run)

    @property
    def prefix(self) -> str:
        return f"{self.stage}/specialty={self.specialty}/run={self.run}"

    @property
    def rejected_prefix(self) -> str:
        return f"{REJECTED_PREFIX}/{self.prefix}"

    @property
    def staging_prefix(self) -> str:
        """Where writers of this partition stage their parts, one folder each."""
        return f"{STAGING_PREFIX}/{self.prefix}"

    @property
    def marker_key(self) -> str:
        return f"{self.prefix}/{MARKER}"

    def part_key(self, index: int) -> str:
        return f"{self.prefix}/{part_name(index)}"

    def rejected_part_key(self, index: int) -> str:
        return f"{self.rejected_prefix}/{part_name(index)}"


def part_name(index: int) -> str:
    if not 0 <= index < 100_000:
        raise InvalidKeyError(f"part index {index} out of range 0..99999")
    return f"part-{index:05d}.parquet"


def parse_partition_prefix(key: str) -> Partition | None:
    """Inverse of ``Partition.prefix`` for listing; None for foreign keys."""
    m = re.match(r"^([^/]+)/specialty=([^/]+)/run=([^/]+)(?:/|$)", key)
    if not m:
        return None
    try:
        return Partition(*m.groups())
    except InvalidKeyError:
        return None
