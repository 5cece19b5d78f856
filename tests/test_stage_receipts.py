"""Stage receipts against the real S3 server: a rerun with nothing changed
commits nothing and runs nothing; any change reruns the stage."""

from __future__ import annotations

import uuid
from typing import Any

import pyarrow as pa

from kisa_tasks.artefacts import ArtefactStore, Partition, register_stage
from kisa_tasks.settings import KisaSettings
from kisa_tasks.stage_task import run_stage_task

SCHEMA = register_stage("receipt_rows", pa.schema([pa.field("id", pa.string(), nullable=False)]))
SPECIALTY = "cardiology"


def _rows(*ids: str) -> pa.Table:
    return pa.table({"id": list(ids)}, schema=SCHEMA)


class Doubler:
    """A toy stage: reads ``receipt_rows/<specialty>/<run>-in``, writes each
    id twice to ``<run>-out``; counts its calls."""

    def __init__(self, store: ArtefactStore) -> None:
        self.store, self.calls = store, 0

    def __call__(
        self, settings: KisaSettings, *, specialty: str, run_id: str, **params: Any
    ) -> dict[str, Any]:
        self.calls += 1
        ids = self.store.read(Partition("receipt_rows", specialty, f"{run_id}-in")).column("id")
        doubled = [i for i in ids.to_pylist() for _ in range(2)]
        if params.get("commit", True):
            self.store.write(
                Partition("receipt_rows", specialty, f"{run_id}-out"), [_rows(*doubled)]
            )
        return {"uri": "toy", "counts": {"rows": len(doubled)}}


def test_a_rerun_with_nothing_changed_is_skipped_and_any_change_reruns(
    settings: KisaSettings,
) -> None:
    store = ArtefactStore.from_settings(settings)
    run = f"receipts-{uuid.uuid4().hex[:8]}"
    source, out = (Partition("receipt_rows", SPECIALTY, f"{run}-{s}") for s in ("in", "out"))
    store.write(source, [_rows("a", "b")])
    stage = Doubler(store)

    def go(**params: Any) -> dict[str, Any]:
        return run_stage_task(
            "doubler", stage, settings, specialty=SPECIALTY, run_id=run, mlflow_run_id=None,
            **params,
        )  # fmt: skip

    first = go()
    committed = store.marker(out)
    assert (stage.calls, first["skipped"], first["counts"]) == (1, False, {"rows": 4})
    again = go()
    assert (stage.calls, again["skipped"], again["counts"]) == (1, True, {"rows": 4})
    assert store.marker(out) == committed  # nothing committed again

    store.write(source, [_rows("a", "b", "c")])  # a new input
    assert go()["counts"] == {"rows": 6} and stage.calls == 2
    assert go(batch=7)["skipped"] is False and stage.calls == 3  # new parameters

    # Its output replaced by someone else: the stage runs again.
    store.write(out, [_rows("x")])
    assert go(batch=7)["skipped"] is False and stage.calls == 4
    assert go(batch=7)["skipped"] is True and stage.calls == 4

    # Settings that shape outputs are part of the fingerprint.
    stricter = settings.model_copy(
        update={"graph": settings.graph.model_copy(update={"min_confidence": 0.95})}
    )
    run_stage_task("doubler", stage, stricter, specialty=SPECIALTY, run_id=run,
                   mlflow_run_id=None, batch=7)  # fmt: skip
    assert stage.calls == 5


def test_work_that_commits_nothing_is_never_skipped(settings: KisaSettings) -> None:
    store = ArtefactStore.from_settings(settings)
    run = f"receipts-{uuid.uuid4().hex[:8]}"
    store.write(Partition("receipt_rows", SPECIALTY, f"{run}-in"), [_rows("a")])
    stage = Doubler(store)
    for _ in range(2):
        run_stage_task("plan", stage, settings, specialty=SPECIALTY, run_id=run,
                       mlflow_run_id=None, commit=False)  # fmt: skip
    assert stage.calls == 2
