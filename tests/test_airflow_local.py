"""`make up`: a real Airflow 3 on loopback, behind its own authentication,
whose scheduler runs the pipeline when it is triggered through the API."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from kisa_tasks.services import ServiceManager
from kisa_tasks.services.process import ProcessRecord, port_is_free
from kisa_tasks.settings import load_settings


def _call(url: str, token: str | None = None, body: dict[str, Any] | None = None) -> Any:
    request = urllib.request.Request(url, method="POST" if body is not None else "GET")
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    data = json.dumps(body).encode() if body is not None else None
    with urllib.request.urlopen(request, data=data, timeout=30) as resp:
        return json.load(resp)


def test_local_airflow_requires_login_and_runs_the_pipeline(
    services: ServiceManager, kisa_home: Path
) -> None:
    manager = ServiceManager(load_settings(home=kisa_home))
    try:
        manager.up(["airflow"])
        record = ProcessRecord.load(kisa_home / "run" / "airflow.json")
        assert record is not None
        base = f"http://127.0.0.1:{record.ports['api']}"

        with pytest.raises(urllib.error.HTTPError) as denied:
            _call(f"{base}/api/v2/dags")
        assert denied.value.code == 401

        settings = load_settings(home=kisa_home)
        token = _call(
            f"{base}/auth/token",
            body={
                "username": settings.airflow.admin_user,
                "password": settings.airflow.admin_password.get_secret_value(),
            },
        )["access_token"]
        deadline = time.monotonic() + 120
        while "kisa_pipeline" not in {
            d["dag_id"] for d in _call(f"{base}/api/v2/dags", token)["dags"]
        }:
            assert time.monotonic() < deadline, "dag-processor never parsed kisa_pipeline"
            time.sleep(2)

        run = _call(
            f"{base}/api/v2/dags/kisa_pipeline/dagRuns",
            token,
            {"logical_date": None, "conf": {"specialty": "dermatology"}},
        )
        deadline = time.monotonic() + 240
        state = run["state"]
        while state not in ("success", "failed"):
            assert time.monotonic() < deadline, f"run stuck in {state}"
            time.sleep(3)
            state = _call(f"{base}/api/v2/dags/kisa_pipeline/dagRuns/{run['dag_run_id']}", token)[
                "state"
            ]
        assert state == "success"
    finally:
        record = ProcessRecord.load(kisa_home / "run" / "airflow.json")
        manager.down(["airflow"])
    assert record is not None
    assert record.group_members() == []
    assert all(port_is_free(p) for p in record.ports.values())
    # The session's other services were not touched by `down airflow`.
    assert {s.name: s.state for s in services.status()}["mlflow"] == "running"
