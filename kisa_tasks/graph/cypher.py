"""Cypher files under ``sql/cypher/``, loaded by name.

Values always travel as query parameters. The one thing Cypher cannot take as
a parameter, a variable-length bound such as ``*1..6``, is written
``{{max_depth}}`` in the file and filled here with a checked integer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

from kisa_tasks.settings import PROJECT_ROOT

CYPHER_DIR = PROJECT_ROOT / "sql" / "cypher"
_NAME = re.compile(r"^[a-z0-9_]+(/[a-z0-9_]+)*$")
_SLOT = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")


class CypherError(ValueError):
    pass


@lru_cache(maxsize=256)
def load_cypher(name: str, root: Path = CYPHER_DIR) -> str:
    if not _NAME.fullmatch(name):
        raise CypherError(f"invalid cypher name {name!r}")
    path = root / f"{name}.cypher"
    if not path.is_file():
        known = sorted(
            p.relative_to(root).with_suffix("").as_posix() for p in root.rglob("*.cypher")
        )
        raise CypherError(f"no cypher file {path}; known: {known}")
    return path.read_text()


def render(text: str, literals: Mapping[str, int] | None = None) -> str:
    """Fill ``{{slot}}`` with integers only; every slot must be given."""
    literals = dict(literals or {})

    def fill(match: re.Match[str]) -> str:
        slot = match.group(1)
        if slot not in literals:
            raise CypherError(f"cypher slot {{{{{slot}}}}} needs a value")
        value = literals[slot]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 64:
            raise CypherError(f"cypher slot {slot} must be an int in 0..64, got {value!r}")
        return str(value)

    return _SLOT.sub(fill, text)


def statements(text: str) -> list[str]:
    """Split a schema file into statements (``;`` separated, ``//`` comments)."""
    lines = [ln for ln in text.splitlines() if not ln.strip().startswith("//")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
