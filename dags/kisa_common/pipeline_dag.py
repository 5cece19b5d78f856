"""The pipeline DAG, generated from a list of stages (``kisa_tasks.pipeline``):
a task per stage, named like it, then its quality gate (``gate_<stage>``)
when it declares suites; the next stage waits for the gate. A sharded stage
is ``plan_<stage>``, a mapped ``<stage>_shard`` per shard and ``<stage>``
merging them. Before the stages: the trigger form validated, the platform
checked, the MLflow run opened; after them, the MLflow run closed whatever
happened."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Asset, get_current_context, task

from kisa_common.assets import SFT_DATASET, TRAINED_MODEL, event_extra
from kisa_common.forms import form_params
from kisa_common.settings import task_settings
from kisa_common.stages import close_tracking_after
from kisa_tasks.pipeline import Stage
from kisa_tasks.run_config import RunConfig
from kisa_tasks.timetable import OnDemandMonthly

ASSETS: dict[str, Asset] = {a.name: a for a in (SFT_DATASET, TRAINED_MODEL)}


def pipeline_dag(dag_id: str, stages: tuple[Stage, ...], doc_md: str) -> DAG:
    with DAG(
        dag_id=dag_id,
        doc_md=doc_md,
        # Monthly windows that run only on demand: a trigger reads the whole
        # corpus, a backfill one run per month of publications.
        schedule=OnDemandMonthly(),
        start_date=datetime(1970, 1, 1),
        catchup=False,
        tags=["kisa"],
        max_active_runs=2,
        default_args={"retries": 2, "retry_delay": timedelta(seconds=30)},
        params=form_params(RunConfig),
    ) as dag:
        config = resolve_config()
        tracking = open_tracking(config, check_platform(config))
        upstream: Any = tracking
        for stage in stages:
            upstream = stage_tasks(stage, config, tracking, upstream)
            if stage.suites:
                upstream = gate_task(stage)(config, tracking, upstream)
        close_tracking_after(upstream, tracking)
    return dag


@task
def resolve_config() -> dict[str, Any]:
    from kisa_tasks.schedule import publication_window

    ctx = get_current_context()
    config = RunConfig.from_params(ctx["params"]).model_dump()
    run = ctx["dag_run"]
    window = publication_window(run.run_type, run.data_interval_start, run.data_interval_end)
    return config | {"publication_window": window}


@task
def check_platform(config: dict[str, Any]) -> list[dict[str, Any]]:
    from kisa_tasks.platform_check import as_dicts, check_platform

    return as_dicts(check_platform(task_settings(), llm=config["backend"] == "llm"))


@task
def open_tracking(config: dict[str, Any], checks: list[dict[str, Any]]) -> dict[str, str]:
    from kisa_tasks.run_manifest import open_run

    ctx = get_current_context()
    return open_run(dag_id=ctx["dag"].dag_id, run_id=ctx["run_id"], config=config, checks=checks,
                    settings=task_settings())  # fmt: skip


def _run_id() -> str:
    return str(get_current_context()["run_id"])


# Stage tasks take the upstream result only to order themselves after it.
def stage_tasks(stage: Stage, config: Any, tracking: Any, upstream: Any) -> Any:
    """The stage's task(s); returns what the next one waits for."""
    if stage.shards is None:

        @task(task_id=stage.name)
        def whole(config: dict[str, Any], tracking: dict[str, str], upstream: Any) -> Any:
            from kisa_tasks.stage_task import run_pipeline_stage

            return run_pipeline_stage(stage, task_settings(), config, run_id=_run_id(),
                                      mlflow_run_id=tracking["mlflow_run_id"])  # fmt: skip

        return whole(config, tracking, upstream)

    @task(task_id=f"plan_{stage.name}")
    def plan(config: dict[str, Any], upstream: Any) -> list[dict[str, int]]:
        from kisa_tasks.stage_task import plan_shards

        return plan_shards(stage, task_settings(), config, run_id=_run_id())

    @task(task_id=f"{stage.name}_shard", max_active_tis_per_dag=stage.shards.max_active)
    def shard(spec: dict[str, int], config: dict[str, Any]) -> dict[str, Any]:
        from kisa_tasks.stage_task import run_shard

        return run_shard(stage, spec, task_settings(), config, run_id=_run_id())

    @task(task_id=stage.name)
    def merge(config: dict[str, Any], tracking: dict[str, str], shards: Any) -> Any:
        from kisa_tasks.stage_task import run_pipeline_stage

        # One slice is one request; iterating asks shard by shard until the
        # one past the end, which Airflow logs as an error ("XCom not found").
        counts = [s["counts"] for s in sorted(shards[:], key=lambda s: s["shard"])]
        return run_pipeline_stage(
            stage, task_settings(), config, run_id=_run_id(),
            mlflow_run_id=tracking["mlflow_run_id"], shard_counts=counts,
        )  # fmt: skip

    shards = shard.partial(config=config).expand(spec=plan(config, upstream))
    return merge(config, tracking, shards)


def gate_task(stage: Stage) -> Any:
    """The stage's quality gate (fails on a critical expectation; retried
    like every task, since S3 can blip). A passed gate updates the stage's
    Asset, naming the specialty and run, for the DAG scheduled on it."""
    asset = ASSETS[stage.asset] if stage.asset else None

    @task(task_id=f"gate_{stage.name}", outlets=[asset] if asset else [])
    def gate(config: dict[str, Any], tracking: dict[str, str], upstream: Any) -> dict[str, Any]:
        from kisa_common.stages import run_gate_task

        result = run_gate_task(stage, config, tracking)
        if asset is not None:
            ctx = get_current_context()
            ctx["outlet_events"][asset].extra = event_extra(config["specialty"], ctx["run_id"])
        return result

    return gate
