"""The shape every stage task shares: settings in, stage run, counts to MLflow."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kisa_common.settings import task_settings
from kisa_tasks.pipeline import Stage


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

    from kisa_tasks.stage_task import run_stage_task

    return run_stage_task(
        name,
        runner,
        task_settings(),
        specialty=config["specialty"],
        run_id=get_current_context()["run_id"],
        mlflow_run_id=tracking["mlflow_run_id"] if track else None,
        **kwargs,
    )


def run_gate_task(stage: Stage, config: dict[str, Any], tracking: dict[str, str]) -> dict[str, Any]:
    """The quality gate after ``stage`` for this DAG run (fails the task on a
    critical expectation)."""
    from airflow.sdk import get_current_context

    from kisa_tasks.platform_check import outages_named
    from kisa_tasks.quality.gate import run_gate

    context = get_current_context()
    settings = task_settings()
    with outages_named(settings, f"gate {stage.name!r} of run {context['run_id']}"):
        return run_gate(
            settings,
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


def close_run_tracking(tracking: dict[str, str]) -> str:
    """The DAG run's teardown: end its MLflow run FINISHED, or FAILED naming
    the tasks that failed (their states from Airflow's execution API)."""
    from airflow.sdk import get_current_context

    from kisa_tasks.tracking import close_dag_run, failed_tasks

    ctx = get_current_context()
    run_id = ctx["run_id"]
    states = ctx["ti"].get_task_states(dag_id=ctx["dag"].dag_id, run_ids=[run_id])
    return close_dag_run(task_settings(), tracking["mlflow_run_id"],
                         failed_tasks(states.get(run_id, {})))  # fmt: skip


def close_tracking_after(last: Any, tracking: Any) -> None:
    """Wire ``close_tracking`` after ``last`` as the teardown of the task that
    opened the MLflow run: it runs whether or not the work failed, and its own
    state does not decide the DAG run's."""
    from airflow.sdk import task

    close = task(task_id="close_tracking")(close_run_tracking)
    last >> close(tracking).as_teardown(setups=tracking)
