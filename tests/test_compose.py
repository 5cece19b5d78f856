"""docker-compose.yaml cannot run here (no Docker engine); check that it agrees
with the settings object and the security rules."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from kisa_tasks.settings import PROJECT_ROOT, KisaSettings, load_settings

COMPOSE = yaml.safe_load((PROJECT_ROOT / "docker-compose.yaml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
_VAR = re.compile(r"\$\{(\w+)(?::?[-?][^}]*)?\}")


def _env(service: str) -> dict[str, str]:
    env = SERVICES[service].get("environment") or {}
    return {k: str(v) for k, v in env.items()}


def _substitute(value: str) -> str:
    return _VAR.sub(lambda m: f"dummy-{m.group(1).lower()}", value)


def test_the_production_stack_is_all_there() -> None:
    for name in (
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
        "postgres",
        "neo4j",
        "minio",
        "mlflow",
        "ray-head",
        "ray-gpu-worker",
        "vllm",
    ):
        assert name in SERVICES, f"{name} missing from docker-compose.yaml"
    assert str(SERVICES["neo4j"]["image"]).startswith("neo4j:5")
    for gpu_service in ("ray-gpu-worker", "vllm"):
        devices = SERVICES[gpu_service]["deploy"]["resources"]["reservations"]["devices"]
        assert devices[0]["capabilities"] == ["gpu"]


@pytest.mark.parametrize(
    "service",
    ["airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"],
)
def test_kisa_variables_name_real_settings_and_validate(service: str, tmp_path: Path) -> None:
    env = {k: _substitute(v) for k, v in _env(service).items() if k.startswith("KISA_")}
    assert env, f"{service} passes no KISA_ settings"
    for name in env:
        path = name.removeprefix("KISA_").lower().split("__")
        model: Any = KisaSettings
        for part in path:
            assert part in model.model_fields, f"{name}: no setting {part!r}"
            model = model.model_fields[part].annotation
    env["KISA_HOME"] = str(tmp_path)
    mp = pytest.MonkeyPatch()
    try:
        for k, v in env.items():
            mp.setenv(k, v)
        settings = load_settings()
    finally:
        mp.undo()
    assert settings.graph.backend == "neo4j"
    assert settings.s3.endpoint_url == "http://minio:9000"
    assert settings.mlflow_uri() == "http://mlflow:5000"
    assert settings.airflow.metadata_db == "postgres"


def test_published_ports_bind_loopback_only() -> None:
    for name, svc in SERVICES.items():
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on all interfaces"


def test_no_secret_is_written_into_the_file() -> None:
    secretish = re.compile(r"(PASSWORD|SECRET|TOKEN|API_KEY|FERNET)", re.I)
    for name, svc in SERVICES.items():
        for key, value in (svc.get("environment") or {}).items():
            if secretish.search(key) and not str(value).startswith("/run/secrets/"):
                assert "${" in str(value), f"{name}.{key} holds a literal secret"
        assert "NEO4J_AUTH" not in _env(name) or "${" in _env(name)["NEO4J_AUTH"]


DOCKERFILE = (PROJECT_ROOT / "Dockerfile").read_text()


def test_one_project_image_runs_airflow_mlflow_ray_and_the_model_sync() -> None:
    platform = {"airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
                "airflow-triggerer", "airflow-init", "mlflow", "ray-head",
                "model-sync"}  # fmt: skip
    for name in platform:
        assert SERVICES[name]["image"] == "kisa-platform:latest", name
    assert SERVICES["airflow-apiserver"]["build"]["target"] == "platform"
    gpu = SERVICES["ray-gpu-worker"]
    assert gpu["image"] == "kisa-platform-gpu:latest" and gpu["build"]["target"] == "gpu"
    # Both targets of the one Dockerfile install the one lock.
    stages = re.findall(r"^FROM (\S+) AS (\w+)$", DOCKERFILE, re.M)
    assert [name for _, name in stages] == ["platform", "gpu"]
    assert "nvidia/cuda" in stages[1][0]
    assert DOCKERFILE.count("--locked") == 2
    # The Airflow image's entrypoint would run `mlflow`/`ray`/`kisa` as airflow subcommands.
    for name in ("mlflow", "ray-head", "model-sync"):
        assert SERVICES[name]["entrypoint"] == ["/usr/bin/dumb-init", "--"], name
    # The Ray nodes start from the project image with token auth and the settings.
    for name in ("ray-head", "ray-gpu-worker"):
        env = _env(name)
        assert env["RAY_AUTH_MODE"] == "token" and "KISA_S3__BUCKET" in env, name
        assert str(SERVICES[name]["command"]).startswith("ray start"), name


def test_vllm_agent_serves_the_trained_model_the_sync_pulled_from_s3() -> None:
    from typer.main import get_command

    from kisa_tasks.cli import app

    sync = " ".join(SERVICES["model-sync"]["command"])
    assert "kisa model-pull /models/served" in sync
    assert "model-pull" in get_command(app).commands  # type: ignore[attr-defined]
    assert "served-model:/models" in SERVICES["model-sync"]["volumes"]
    agent = SERVICES["vllm-agent"]
    assert agent["depends_on"]["model-sync"]["condition"] == "service_completed_successfully"
    assert "served-model:/models:ro" in agent["volumes"]
    command = str(agent["command"])
    assert "--model /models/served" in command and "--served-model-name" in command
    for name in ("vllm", "vllm-agent"):  # the native tool-call protocol works on both
        assert "--enable-auto-tool-choice" in str(SERVICES[name]["command"])
        assert "--tool-call-parser" in str(SERVICES[name]["command"])


def test_every_kisa_variable_in_the_file_is_a_setting() -> None:
    text = (PROJECT_ROOT / "docker-compose.yaml").read_text()
    names = set(re.findall(r"\b(KISA_[A-Z0-9_]*[A-Z0-9])\b", text)) - {"KISA_HOME"}
    assert names
    for name in sorted(names):
        model: Any = KisaSettings
        for part in name.removeprefix("KISA_").lower().split("__"):
            assert part in model.model_fields, f"{name}: no setting {part!r}"
            model = model.model_fields[part].annotation
