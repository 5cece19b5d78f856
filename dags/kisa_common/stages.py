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


def open_run_tracking(
    config: dict[str, Any], tag_keys: tuple[str, ...], extra_params: dict[str, Any] | None = None
) -> dict[str, str]:
    """This DAG run's MLflow run (found again on a retry), tagged with
    ``tag_keys`` of the config, every config value a param."""
    from airflow.sdk import get_current_context

    from kisa_tasks.tracking import ensure_dag_run

    ctx = get_current_context()
    params = {k: str(v) for k, v in (config | (extra_params or {})).items()}
    ref = ensure_dag_run(
        task_settings(),
        dag_id=ctx["dag"].dag_id,
        run_id=ctx["run_id"],
        tags={k: str(config[k]) for k in tag_keys},
        params=params,
    )
    return {"mlflow_run_id": ref.run_id, "experiment_id": ref.experiment_id}
