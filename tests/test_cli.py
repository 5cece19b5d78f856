"""The ``kisa`` command as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kisa_tasks.services import ServiceManager
from kisa_tasks.settings import KisaSettings

KISA = str(Path(sys.executable).parent / "kisa")


def _kisa(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KISA_HOME": str(home)}
    return subprocess.run([KISA, *args], env=env, capture_output=True, text=True, timeout=300)


def test_status_prints_every_service_and_endpoint(
    services: ServiceManager, kisa_home: Path
) -> None:
    result = _kisa(kisa_home, "services", "status")
    assert result.returncode == 0, result.stderr
    for name in ("s3", "graph", "mlflow", "ray", "airflow"):
        assert name in result.stdout
    for status in services.status():
        for url in status.urls.values():
            if url.startswith("http"):
                assert url in result.stdout


def test_invalid_settings_fail_before_any_work(tmp_path: Path) -> None:
    env = {**os.environ, "KISA_HOME": str(tmp_path), "KISA_GRAPH__BACKEND": "sqlite"}
    result = subprocess.run(
        [KISA, "services", "up"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    assert "KISA_GRAPH__BACKEND" in result.stderr
    assert not (tmp_path / "run").exists()  # nothing was started


def test_unknown_service_is_a_clear_error(tmp_path: Path) -> None:
    result = _kisa(tmp_path, "services", "up", "elasticsearch")
    assert result.returncode == 1
    assert "unknown service" in result.stderr and "graph" in result.stderr


def test_demo_conf_picks_the_backend_and_a_sample_it_can_finish() -> None:
    import doctest

    from kisa_tasks import demo

    assert doctest.testmod(demo).failed == 0
    assert demo.demo_conf("oncology", 3, None, "")["backend"] == "offline"
    assert demo.demo_conf("oncology", 3, 50, "local") == {
        "specialty": "oncology",
        "random_seed": 3,
        "max_abstracts": 50,
        "backend": "llm",
        "max_seeds": 3,
        "qa_per_seed": 1,
    }
    with pytest.raises(ValueError, match="use '' \\(offline\\), 'local' or 'endpoint'"):
        demo.demo_conf("oncology", 3, None, "gpt")


def test_the_demo_prints_urls_where_make_up_will_serve_them(tmp_path: Path) -> None:
    from kisa_tasks import demo
    from kisa_tasks.settings import load_settings

    settings = load_settings(home=tmp_path).model_copy(
        update={"mlflow": load_settings(home=tmp_path).mlflow.model_copy(
            update={"tracking_uri": "http://127.0.0.1:5999"})}
    )  # fmt: skip
    run = "manual__2026-11-22T10:00:00+00:00"
    urls = dict(demo.urls_to_open(settings, "cardiology", run))
    port = demo.airflow_ports(settings)["api"]
    # The ports are kept: the Airflow `make up` starts reads them first.
    assert ServiceManager(settings).reserve_ports("airflow")["api"] == port
    quoted = "manual__2026-11-22T10:00:00%2B00:00"
    assert urls["Airflow run"] == f"http://127.0.0.1:{port}/dags/kisa_pipeline/runs/{quoted}"
    assert urls["knowledge graphs"].endswith(f"/kisa/graph/cardiology/{quoted}")
    assert urls["quality reports"].endswith(f"/kisa/quality/kisa_pipeline/{quoted}")
    assert urls["MLflow"] == "http://127.0.0.1:5999"


def test_the_demo_progress_follows_dag_test_task_ends() -> None:
    import logging

    from kisa_tasks import demo

    ended: list[str] = []
    logger = logging.getLogger(demo.DAG_TEST_LOGGER)
    with demo.task_progress(ended.append):
        # What dag.test() logs for each task (airflow.sdk.definitions.dag).
        logger.info("[DAG TEST] starting task_id=%s map_index=%s", "abstracts", -1)
        logger.info("[DAG TEST] end task task_id=%s map_index=%s", "abstracts", -1)
        logger.info("[DAG TEST] end task task_id=%s map_index=%s", "graphs_shard", 1)
    logger.info("[DAG TEST] end task task_id=%s map_index=%s", "after", -1)
    assert ended == ["abstracts", "graphs_shard"]


def test_model_pull_copies_the_latest_trained_model_from_the_store(
    settings: KisaSettings, kisa_home: Path, tmp_path: Path
) -> None:
    from kisa_tasks.artefacts import ArtefactStore
    from kisa_tasks.training.job import model_key

    store = ArtefactStore.from_settings(settings)
    for run in ("scheduled__2026-01-01T00:00:00+00:00", "manual__2026-02-01T00:00:00+00:00"):
        key = model_key("grpo", "hematology", run)
        store.put_bytes(f"{key}/config.json", f'{{"run": "{run}"}}'.encode())
        store.put_bytes(f"{key}/model.safetensors", b"weights")
    pulled = _kisa(kisa_home, "model-pull", str(tmp_path / "served"), "--specialty", "hematology")
    assert pulled.returncode == 0, pulled.stderr
    assert (tmp_path / "served" / "config.json").read_text() == (
        '{"run": "manual__2026-02-01T00:00:00+00:00"}'  # the latest by date, whatever its kind
    )
    assert (tmp_path / "served" / "model.safetensors").read_bytes() == b"weights"
    missing = _kisa(kisa_home, "model-pull", str(tmp_path / "x"), "--specialty", "dermatology")
    assert missing.returncode != 0 and "run kisa_train first" in missing.stderr
