"""`make up`: a real Airflow 3 on loopback, behind its own authentication,
whose scheduler runs a backfill of the pipeline created through the API."""

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


def test_local_airflow_requires_login_and_backfills_a_specialty_month_by_month(
    services: ServiceManager, kisa_home: Path
) -> None:
    """The UI's Backfill path (the REST call its dialog makes) for three
    months of neurology: the scheduler runs the three runs to the end, and
    each commits a partition of the abstracts published in its month."""
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

        conf = {"specialty": "neurology", "max_abstracts": 60}
        backfill = {"dag_id": "kisa_pipeline", "from_date": "1979-01-01T00:00:00Z",
                    "to_date": "1979-03-01T00:00:00Z", "dag_run_conf": conf,
                    "max_active_runs": 2}  # fmt: skip
        created = _call(f"{base}/api/v2/backfills", token, backfill)
        runs_url = f"{base}/api/v2/dags/kisa_pipeline/dagRuns?run_type=backfill&limit=50"
        deadline = time.monotonic() + 3 * 300
        while True:
            runs = [r for r in _call(runs_url, token)["dag_runs"]
                    if r["logical_date"][:7] in ("1979-01", "1979-02", "1979-03")]  # fmt: skip
            states = sorted(r["state"] for r in runs)
            if len(runs) == 3 and set(states) <= {"success", "failed"}:
                break
            assert time.monotonic() < deadline, f"backfill stuck: {states}"
            time.sleep(5)
        assert states == ["success"] * 3, states
        # The scheduler closes the backfill itself (else no other one may start).
        while _call(f"{base}/api/v2/backfills/{created['id']}", token)["completed_at"] is None:
            assert time.monotonic() < deadline, "the backfill was never marked complete"
            time.sleep(3)
        _check_monthly_partitions(load_settings(home=kisa_home), runs)
    finally:
        record = ProcessRecord.load(kisa_home / "run" / "airflow.json")
        manager.down(["airflow"])
    assert record is not None
    assert record.group_members() == []
    assert all(port_is_free(p) for p in record.ports.values())
    # The session's other services were not touched by `down airflow`.
    assert {s.name: s.state for s in services.status()}["mlflow"] == "running"


def _check_monthly_partitions(settings: Any, runs: list[dict[str, Any]]) -> None:
    """One abstracts partition per month, each only that month's
    publications, and every stage down to the SFT export committed."""
    from kisa_tasks.artefacts import ArtefactStore, Partition
    from kisa_tasks.schedule import in_window

    store = ArtefactStore.from_settings(settings)
    months = {}
    for run in runs:
        start = run["data_interval_start"][:10]
        window = (start, run["data_interval_end"][:10])
        abstracts = store.read(Partition("abstracts", "neurology", run["dag_run_id"]))
        dates = abstracts.column("pub_date").to_pylist()
        assert 0 < len(dates) <= 60
        assert all(in_window(d, window) for d in dates), (window, dates)
        assert store.is_committed(Partition("sft", "neurology", run["dag_run_id"]))
        months[start] = set(abstracts.column("pmid").to_pylist())
    assert sorted(months) == ["1979-01-01", "1979-02-01", "1979-03-01"]
    january, february, march = months.values()
    assert not (january & february or february & march or january & march)
