"""DuckDB queries from ``sql/duckdb/*.sql``, loaded by name, run over Arrow
tables registered as views, always with bound parameters."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import pyarrow as pa

from kisa_tasks.settings import PROJECT_ROOT

SQL_DIR = PROJECT_ROOT / "sql" / "duckdb"
_NAME = re.compile(r"^[a-z0-9_]+$")


@lru_cache(maxsize=64)
def load_sql(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ValueError(f"invalid SQL name {name!r}")
    path = SQL_DIR / f"{name}.sql"
    if not path.is_file():
        raise FileNotFoundError(f"no SQL file {path}")
    return path.read_text()


def run_sql(
    name: str, tables: Mapping[str, pa.Table], params: Mapping[str, Any] | None = None
) -> pa.Table:
    import duckdb

    with duckdb.connect(":memory:") as con:
        for view, table in tables.items():
            con.register(view, table)
        result: pa.Table = con.sql(load_sql(name), params=dict(params or {})).to_arrow_table()
    return result
