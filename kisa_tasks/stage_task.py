"""What one ``kisa_pipeline`` stage task does, outside Airflow's context so
a drill or a script runs exactly the same thing: the stage over this run's
specialty (skipped when its receipt shows nothing changed since it last
committed, ``stage_receipts``), its counts to MLflow, and a named outage
instead of a connection error when a platform component went away mid-run."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kisa_tasks.artefacts.schemas import register_declared
from kisa_tasks.pipeline import Stage, resolve
from kisa_tasks.platform_check import outages_named
from kisa_tasks.settings import KisaSettings
from kisa_tasks.stage_receipts import run_with_receipt
from kisa_tasks.tracking import log_stage_metrics


def run_stage_task(
    name: str,
    runner: Callable[..., dict[str, Any]],
    settings: KisaSettings,
    *,
    specialty: str,
    run_id: str,
    mlflow_run_id: str | None,
    **kwargs: Any,
) -> dict[str, Any]:
    """Run ``runner`` for (specialty, run); log its counts as ``name.*``
    unless ``mlflow_run_id`` is None (a part of a stage whose whole logs them)."""
    with outages_named(settings, f"stage {name!r} of run {run_id}"):
        result, skipped = run_with_receipt(
            settings,
            name,
            specialty,
            run_id,
            {"runner": getattr(runner, "__name__", type(runner).__name__), **kwargs},
            lambda: runner(settings, specialty=specialty, run_id=run_id, **kwargs),
        )
        if mlflow_run_id is not None:
            log_stage_metrics(settings, mlflow_run_id, name, result["counts"])
    return result | {"skipped": skipped}


def run_pipeline_stage(
    stage: Stage,
    settings: KisaSettings,
    config: Mapping[str, Any],
    *,
    run_id: str,
    mlflow_run_id: str | None,
    shard_counts: list[dict[str, int]] | None = None,
) -> dict[str, Any]:
    """A whole stage of the pipeline list for this run (a sharded stage's
    merge, given what its shards counted)."""
    register_declared(stage.writes)
    kwargs = stage.kwargs(config) if stage.shards is None else {"shard_counts": shard_counts}
    return run_stage_task(
        stage.name, resolve(stage.run), settings, specialty=config["specialty"], run_id=run_id,
        mlflow_run_id=mlflow_run_id, **kwargs,
    )  # fmt: skip


def plan_shards(
    stage: Stage, settings: KisaSettings, config: Mapping[str, Any], *, run_id: str
) -> list[dict[str, int]]:
    """One ``{"shard": k, "shards": n}`` per mapped task of a sharded stage."""
    assert stage.shards is not None, f"stage {stage.name!r} is not sharded"
    register_declared(stage.writes)
    plan = run_stage_task(
        stage.name, resolve(stage.shards.plan), settings, specialty=config["specialty"],
        run_id=run_id, mlflow_run_id=None,
    )  # fmt: skip
    return [{"shard": k, "shards": len(plan["shards"])} for k in plan["shards"]]


def run_shard(
    stage: Stage,
    spec: Mapping[str, int],
    settings: KisaSettings,
    config: Mapping[str, Any],
    *,
    run_id: str,
) -> dict[str, Any]:
    """One shard of a sharded stage; the merge logs the stage's counts."""
    assert stage.shards is not None, f"stage {stage.name!r} is not sharded"
    register_declared(stage.writes)
    return run_stage_task(
        stage.name, resolve(stage.shards.run), settings, specialty=config["specialty"],
        run_id=run_id, mlflow_run_id=None, shard=spec["shard"], shards=spec["shards"],
        **stage.kwargs(config),
    )  # fmt: skip
