"""The shape every stage task shares: settings in, stage run, counts to MLflow."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kisa_common.settings import task_settings


def run_stage(
    name: str,
    runner: Callable[..., dict[str, Any]],
    config: dict[str, Any],
    tracking: dict[str, str],
    *,
    track: bool = True,
    **kwargs: Any,
) -> dict[str, Any]:
    """Run one stage for this DAG run's specialty; log its counts as ``name.*``
    (``track=False`` for a part of a stage whose whole logs them)."""
    from airflow.sdk import get_current_context

    from kisa_tasks.tracking import log_stage_metrics

    settings = task_settings()
    result = runner(
        settings,
        specialty=config["specialty"],
        run_id=get_current_context()["run_id"],
        **kwargs,
    )
    if track:
        log_stage_metrics(settings, tracking["mlflow_run_id"], name, result["counts"])
    return result


def run_gate_task(stage: str, config: dict[str, Any], tracking: dict[str, str]) -> dict[str, Any]:
    """The quality gate after ``stage`` for this DAG run (fails the task on a
    critical expectation)."""
    from airflow.sdk import get_current_context

    from kisa_tasks.quality.gate import run_gate

    context = get_current_context()
    return run_gate(
        task_settings(),
        stage=stage,
        specialty=config["specialty"],
        run_id=context["run_id"],
        dag_id=context["dag"].dag_id,
        mlflow_run_id=tracking["mlflow_run_id"],
    )
