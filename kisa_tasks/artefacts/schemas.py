"""Typed Arrow schemas, one per stage; a writer refuses a table that does not
match its stage. Stages register their schema next to their record type.
"""

from __future__ import annotations

import hashlib

import pyarrow as pa

_SCHEMAS: dict[str, pa.Schema] = {}


class SchemaMismatchError(ValueError):
    pass


def register_stage(stage: str, schema: pa.Schema) -> pa.Schema:
    existing = _SCHEMAS.get(stage)
    if existing is not None and not existing.equals(schema):
        raise SchemaMismatchError(f"stage {stage!r} already has a different schema")
    _SCHEMAS[stage] = schema
    return schema


def schema_for(stage: str) -> pa.Schema:
    try:
        return _SCHEMAS[stage]
    except KeyError:
        raise SchemaMismatchError(
            f"no schema registered for stage {stage!r}; known: {sorted(_SCHEMAS)}"
        ) from None


def registered_stages() -> list[str]:
    """Stage names in registration order (which is pipeline order)."""
    return list(_SCHEMAS)


def fingerprint(schema: pa.Schema) -> str:
    """Stable across processes: names, types and nullability, not metadata."""
    text = ";".join(f"{f.name}:{f.type}:{f.nullable}" for f in schema)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Reorder and safely cast ``table`` to ``schema``; name what does not fit."""
    missing = [n for n in schema.names if n not in table.column_names]
    extra = [n for n in table.column_names if n not in schema.names]
    if missing or extra:
        raise SchemaMismatchError(
            f"columns differ from the stage schema: missing {missing}, extra {extra}"
        )
    table = table.select(schema.names)
    for field in schema:
        col = table.column(field.name)
        if not field.nullable and col.null_count:
            raise SchemaMismatchError(
                f"column {field.name!r} is not nullable but has {col.null_count} nulls"
            )
    try:
        return table.cast(schema, safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise SchemaMismatchError(f"cannot cast to the stage schema: {exc}") from exc


REJECTED_SCHEMA = pa.schema(
    [
        pa.field("stage", pa.string(), nullable=False),
        pa.field("record_key", pa.string()),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("record_json", pa.string()),
    ]
)
