"""Typed Arrow schemas, one per partition; a writer refuses a table that does
not match its partition. A schema is registered where its record type is
defined; the pipeline list (``kisa_tasks.pipeline``) names that place for
every partition it writes, so a reader needs no import to find one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

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


def register_declared(writes: Mapping[str, str]) -> None:
    """Register schemas from where a stage declares them (partition ->
    ``"module:CONSTANT"``): a stage outside the pipeline list, before it
    runs or its output is read."""
    from kisa_tasks.pipeline import resolve

    for partition, ref in writes.items():
        register_stage(partition, resolve(ref))


def schema_for(stage: str) -> pa.Schema:
    if stage not in _SCHEMAS:
        # Imported here: the pipeline list names the modules that define the
        # schemas, and those modules register them through this one.
        from kisa_tasks.pipeline import resolve, schema_ref

        ref = schema_ref(stage)
        if ref is not None:
            register_stage(stage, resolve(ref))
    try:
        return _SCHEMAS[stage]
    except KeyError:
        raise SchemaMismatchError(
            f"no schema registered for stage {stage!r}; known: {sorted(_SCHEMAS)}"
        ) from None


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
