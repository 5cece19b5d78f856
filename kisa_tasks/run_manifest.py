"""The record of one pipeline run: its config, platform checks and MLflow run."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kisa_tasks.artefacts import ArtefactStore
from kisa_tasks.artefacts.keys import check_component
from kisa_tasks.pipeline import stage_backends
from kisa_tasks.run_config import RunConfig
from kisa_tasks.settings import KisaSettings, load_settings
from kisa_tasks.tracking import ensure_dag_run, git_sha


def manifest_key(dag_id: str, run_id: str) -> str:
    check_component("dag_id", dag_id)
    check_component("run", run_id)
    return f"runs/{dag_id}/run={run_id}/manifest.json"


def open_run(
    *,
    dag_id: str,
    run_id: str,
    config: Mapping[str, Any],
    checks: Sequence[Mapping[str, Any]],
    settings: KisaSettings | None = None,
) -> dict[str, str]:
    """Create or find the MLflow run and write the manifest; returns both refs."""
    settings = settings or load_settings()
    cfg = RunConfig.from_params(config)
    # What the run's logical date selected (kisa_tasks.schedule): None = everything.
    window = config.get("publication_window")
    mlflow_run = ensure_dag_run(
        settings,
        dag_id=dag_id,
        run_id=run_id,
        tags={
            "specialty": cfg.specialty,
            "backend": cfg.backend,
            # What each LLM-capable stage ran with, to compare runs by it.
            **{f"backend.{stage}": name for stage, name in stage_backends(cfg.backend).items()},
        },
        params=cfg.model_dump() | {"publication_window": "/".join(window) if window else "all"},
    )
    store = ArtefactStore.from_settings(settings)
    uri = store.put_json(
        manifest_key(dag_id, run_id),
        {
            "dag_id": dag_id,
            "run_id": run_id,
            "config": cfg.model_dump() | {"publication_window": window},
            "platform_checks": list(checks),
            "mlflow_experiment_id": mlflow_run.experiment_id,
            "mlflow_run_id": mlflow_run.run_id,
            "mlflow_run_url": mlflow_run.url(settings.mlflow_uri()),
            "git_sha": git_sha(),
        },
    )
    return {"mlflow_run_id": mlflow_run.run_id, "manifest_uri": uri}
