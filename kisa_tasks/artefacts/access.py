"""Which committed partitions a piece of work read and wrote, by marker key
and commit version: what a stage receipt (``kisa_tasks.stage_receipts``)
compares on a rerun. The artefact store records every marker it reads and
every commit it makes into the innermost open ``AccessLog`` of this context
(thread or task); outside one, recording does nothing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass
class AccessLog:
    """Marker key -> version (``CommitMarker.version``; "" = not committed)."""

    reads: dict[str, str] = field(default_factory=dict)
    writes: dict[str, str] = field(default_factory=dict)

    @property
    def inputs(self) -> dict[str, str]:
        """What was read and not written by the same work: its inputs."""
        return {k: v for k, v in self.reads.items() if k not in self.writes}


_CURRENT: ContextVar[AccessLog | None] = ContextVar("kisa_artefact_access", default=None)


@contextmanager
def recording() -> Iterator[AccessLog]:
    log = AccessLog()
    token = _CURRENT.set(log)
    try:
        yield log
    finally:
        _CURRENT.reset(token)


def record_read(marker_key: str, version: str) -> None:
    log = _CURRENT.get()
    # The first read is what the work saw before it wrote anything.
    if log is not None and marker_key not in log.reads:
        log.reads[marker_key] = version


def record_write(marker_key: str, version: str) -> None:
    log = _CURRENT.get()
    if log is not None:
        log.writes[marker_key] = version
