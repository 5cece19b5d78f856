"""MLflow bookkeeping: one MLflow run per DAG run, found again on retries."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from kisa_tasks.settings import PROJECT_ROOT, KisaSettings

RUN_ID_TAG = "airflow.run_id"


@lru_cache(maxsize=1)
def git_sha() -> str:
    """This checkout's commit; a Ray job (a copy with no .git) gets it from
    ``KISA_GIT_SHA``, set by whoever submitted it."""
    if os.environ.get("KISA_GIT_SHA"):
        return os.environ["KISA_GIT_SHA"]
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def experiment_name(dag_id: str) -> str:
    return f"kisa/{dag_id}"


@dataclass(frozen=True)
class MlflowRunRef:
    experiment_id: str
    run_id: str

    def url(self, tracking_uri: str) -> str:
        return f"{tracking_uri.rstrip('/')}/#/experiments/{self.experiment_id}/runs/{self.run_id}"


def ensure_dag_run(
    settings: KisaSettings,
    *,
    dag_id: str,
    run_id: str,
    tags: Mapping[str, str],
    params: Mapping[str, Any],
) -> MlflowRunRef:
    """The MLflow run of this DAG run, created on first call.

    Keyed on the Airflow run id, so a retried task or a cleared DAG run logs
    into the same MLflow run instead of scattering duplicates.
    """
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=settings.mlflow_uri())
    name = experiment_name(dag_id)
    experiment = client.get_experiment_by_name(name)
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(name)
    found = client.search_runs(
        [experiment_id],
        filter_string=f"tags.`{RUN_ID_TAG}` = '{_quote(run_id)}'",
        max_results=1,
    )
    if found:
        run_id_found = str(found[0].info.run_id)
        if found[0].info.status != "RUNNING":  # a cleared DAG run runs again
            client.update_run(run_id_found, status="RUNNING")
        return MlflowRunRef(str(experiment_id), run_id_found)
    all_tags = {
        "dag_id": dag_id,
        RUN_ID_TAG: run_id,
        "git_sha": git_sha(),
        **tags,
    }
    run = client.create_run(experiment_id, tags=all_tags, run_name=run_id)
    for key, value in sorted(params.items()):
        client.log_param(run.info.run_id, key, value)
    return MlflowRunRef(str(experiment_id), str(run.info.run_id))


FAILED_STATES = frozenset({"failed", "upstream_failed"})


def failed_tasks(states: Mapping[str, Any]) -> list[str]:
    """The tasks of a DAG run that failed, from Airflow's task states.

    >>> failed_tasks({"abstracts": "success", "mentions": "failed", "qa": "upstream_failed"})
    ['mentions', 'qa']
    """
    return sorted(task for task, state in states.items() if str(state) in FAILED_STATES)


def close_dag_run(settings: KisaSettings, mlflow_run_id: str, failed: Sequence[str]) -> str:
    """End the DAG run's MLflow run when the DAG run ends: FINISHED, or
    FAILED with the failed tasks in a tag, so runs compare by outcome."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=settings.mlflow_uri())
    status = "FAILED" if failed else "FINISHED"
    client.set_tag(mlflow_run_id, "failed_tasks", ",".join(failed) or "none")
    client.set_terminated(mlflow_run_id, status)
    return status


def _quote(value: str) -> str:
    # MLflow's filter grammar has no bind parameters; escape its quote char.
    return value.replace("\\", "\\\\").replace("'", "\\'")


def log_stage_metrics(
    settings: KisaSettings, mlflow_run_id: str, stage: str, counts: Mapping[str, float]
) -> None:
    """Stage counts under stable names (``stage.key``), so runs compare side by side."""
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    now = int(time.time() * 1000)
    metrics = [Metric(f"{stage}.{k}", float(v), now, 0) for k, v in sorted(counts.items())]
    MlflowClient(tracking_uri=settings.mlflow_uri()).log_batch(mlflow_run_id, metrics=metrics)


def child_run(
    settings: KisaSettings, parent_run_id: str, name: str, tags: Mapping[str, str]
) -> str:
    """A fresh MLflow run under ``parent_run_id`` (same experiment): a
    training job logs into its own run, so SFT and GRPO histories (both log
    ``loss`` at their own steps) never interleave, and the trainer's
    end-of-training bookkeeping never closes the DAG's run."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=settings.mlflow_uri())
    parent = client.get_run(parent_run_id)
    run = client.create_run(
        parent.info.experiment_id,
        run_name=name,
        tags={"mlflow.parentRunId": parent_run_id, "git_sha": git_sha(), **tags},
    )
    return str(run.info.run_id)


def trainer_mlflow_env(settings: KisaSettings, run_id: str) -> dict[str, str]:
    """Environment for transformers' MLflow callback to log into ``run_id``.
    MLflow consumes ``MLFLOW_RUN_ID`` when it starts the run, so set this
    again before each trainer."""
    return {
        "MLFLOW_TRACKING_URI": settings.mlflow_uri(),
        "MLFLOW_RUN_ID": run_id,
        "MLFLOW_FLATTEN_PARAMS": "1",
    }
