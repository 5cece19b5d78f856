"""MLflow on the embedded stack: runs in SQLite, artifacts on our S3."""

from __future__ import annotations

import pyarrow.fs as pafs

from kisa_tasks.artefacts import ArtefactStore
from kisa_tasks.settings import KisaSettings
from kisa_tasks.tracking import ensure_dag_run, experiment_name


def test_mlflow_artifacts_land_in_the_s3_bucket(settings: KisaSettings) -> None:
    from mlflow.tracking import MlflowClient

    run_id = ensure_dag_run(
        settings, dag_id="artifact_probe", run_id="r1", tags={"specialty": "oncology"}, params={}
    ).run_id
    client = MlflowClient(settings.mlflow_uri())
    client.log_text(run_id, "gate passed", "reports/summary.txt")
    client.log_metric(run_id, "abstracts.read", 42)

    store = ArtefactStore.from_settings(settings)
    keys = [
        info.path
        for info in store.fs.get_file_info(
            pafs.FileSelector(f"{store.bucket}/mlflow-artifacts", recursive=True)
        )
        if info.type == pafs.FileType.File
    ]
    assert any(k.endswith(f"{run_id}/artifacts/reports/summary.txt") for k in keys), keys
    run = client.get_run(run_id)
    assert run.data.metrics["abstracts.read"] == 42
    assert client.get_experiment(run.info.experiment_id).name == experiment_name("artifact_probe")
