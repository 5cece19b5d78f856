"""Records the triples layer shares with the graphs built on it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EntityInfo:
    """An entity's display name and type."""

    name: str
    type: str
