"""A toy stage, added to a pipeline the way a real one is (one module plus
one ``Stage`` in the list): it commits one row per MeSH branch of the run's
specialty. ``tests/test_pipeline.py`` builds a DAG from a list holding it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from kisa_tasks.artefacts import ArtefactStore, Partition
from kisa_tasks.pipeline import Stage, Suite, from_config
from kisa_tasks.settings import KisaSettings
from kisa_tasks.specialties import get_specialty

SCHEMA = pa.schema(
    [
        pa.field("specialty", pa.string(), nullable=False),
        pa.field("branch", pa.string(), nullable=False),
        pa.field("copy", pa.int64(), nullable=False),
    ]
)


def run_branches(
    settings: KisaSettings, *, specialty: str, run_id: str, copies: int
) -> dict[str, Any]:
    branches = get_specialty(specialty).mesh_branches
    rows = [{"specialty": specialty, "branch": b, "copy": c} for b in branches
            for c in range(copies)]  # fmt: skip
    store = ArtefactStore.from_settings(settings)
    marker = store.write(
        Partition("branches", specialty, run_id), [pa.Table.from_pylist(rows, SCHEMA)]
    )
    return {"uri": store.uri(Partition("branches", specialty, run_id).prefix),
            "counts": {"rows": marker.rows}}  # fmt: skip


TOY = Stage(
    "branches",
    "toy_stage:run_branches",
    writes={"branches": "toy_stage:SCHEMA"},
    params=from_config(copies="qa_per_seed"),
    suites=(Suite("branches", directory=Path(__file__).parent / "fixtures" / "toy_suites"),),
)
