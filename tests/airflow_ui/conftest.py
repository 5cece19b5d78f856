"""One real Airflow 3 (``make up``: api-server, scheduler, dag-processor)
for the tests of this package, and the neurology backfill its scheduler
runs: the backfill test checks it, the browser tests compare a run they
trigger from the form with one of its runs in MLflow.

The Airflow lives only as long as this package's tests: its scheduler shares
the metadata DB that ``dag.test()`` uses elsewhere. Stopping it must leave no
process or port behind, and the session's other services running."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kisa_tasks.services import ServiceManager
from kisa_tasks.services.airflow_local import ui_password
from kisa_tasks.services.process import ProcessRecord, port_is_free
from kisa_tasks.settings import load_settings

DAG = "kisa_pipeline"
RUN_TIMEOUT_S = 900
BACKFILL_CONF = {"specialty": "neurology", "max_abstracts": 60}
BACKFILL_MONTHS = ("1979-01", "1979-02", "1979-03")


def call(url: str, token: str | None = None, body: dict[str, Any] | None = None) -> Any:
    request = urllib.request.Request(url, method="POST" if body is not None else "GET")
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    data = json.dumps(body).encode() if body is not None else None
    with urllib.request.urlopen(request, data=data, timeout=30) as resp:
        return json.load(resp)


@dataclass
class Api:
    """Airflow's REST API with a token, for starting and waiting on runs."""

    base: str
    token: str

    def call(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return call(f"{self.base}{path}", self.token, body)

    def wait(self, run_id: str) -> str:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while time.monotonic() < deadline:
            run = self.call(f"/api/v2/dags/{DAG}/dagRuns/{urllib.parse.quote(run_id)}")
            if run["state"] in ("success", "failed"):
                return str(run["state"])
            time.sleep(5)
        raise AssertionError(f"{run_id} did not finish in {RUN_TIMEOUT_S} s")


@pytest.fixture(scope="package")
def local_airflow(services: ServiceManager, kisa_home: Path) -> Iterator[str]:
    """The Airflow's base URL, once its dag-processor has parsed the pipeline."""
    manager = ServiceManager(load_settings(home=kisa_home))
    try:
        manager.up(["airflow"])
        record = ProcessRecord.load(kisa_home / "run" / "airflow.json")
        assert record is not None
        base = f"http://127.0.0.1:{record.ports['api']}"
        api = api_for(base, kisa_home)
        deadline = time.monotonic() + 120
        while DAG not in {d["dag_id"] for d in api.call("/api/v2/dags")["dags"]}:
            assert time.monotonic() < deadline, "dag-processor never parsed kisa_pipeline"
            time.sleep(2)
        yield base
    finally:
        record = ProcessRecord.load(kisa_home / "run" / "airflow.json")
        manager.down(["airflow"])
    assert record is not None
    assert record.group_members() == []
    assert all(port_is_free(p) for p in record.ports.values())
    # The session's other services were not touched by `down airflow`.
    assert {s.name: s.state for s in services.status()}["mlflow"] == "running"


def api_for(base: str, home: Path) -> Api:
    settings = load_settings(home=home)
    credentials = {"username": settings.airflow.admin_user,
                   "password": ui_password(settings, settings.airflow.admin_user)}  # fmt: skip
    return Api(base, call(f"{base}/auth/token", body=credentials)["access_token"])


@dataclass(frozen=True)
class Backfill:
    id: int
    runs: list[dict[str, Any]]  # one per month, each finished


@pytest.fixture(scope="package")
def neurology_backfill(local_airflow: str, kisa_home: Path) -> Backfill:
    """Three months of neurology backfilled through the REST call the UI's
    Backfill dialog makes, run by the scheduler to the end."""
    api = api_for(local_airflow, kisa_home)
    backfill = {"dag_id": DAG, "from_date": "1979-01-01T00:00:00Z",
                "to_date": "1979-03-01T00:00:00Z", "dag_run_conf": BACKFILL_CONF,
                "max_active_runs": 2}  # fmt: skip
    created = api.call("/api/v2/backfills", backfill)
    deadline = time.monotonic() + len(BACKFILL_MONTHS) * 300
    while True:
        runs = [r for r in api.call(f"/api/v2/dags/{DAG}/dagRuns?run_type=backfill&limit=50")
                ["dag_runs"] if r["logical_date"][:7] in BACKFILL_MONTHS]  # fmt: skip
        if len(runs) == len(BACKFILL_MONTHS) and {r["state"] for r in runs} <= {
            "success",
            "failed",
        }:
            return Backfill(created["id"], runs)
        assert time.monotonic() < deadline, f"backfill stuck: {[r['state'] for r in runs]}"
        time.sleep(5)
