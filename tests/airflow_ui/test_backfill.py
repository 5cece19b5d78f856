"""`make up`: a real Airflow 3 on loopback, behind its own authentication,
whose scheduler runs a backfill of the pipeline created through the API
(``conftest.neurology_backfill``)."""

from __future__ import annotations

import time
import urllib.error
from pathlib import Path
from typing import Any

import pytest

from kisa_tasks.services.process import ProcessRecord, is_loopback, listening
from kisa_tasks.settings import load_settings

from .conftest import BACKFILL_MONTHS, Backfill, api_for, call

# Its fixtures start a real Airflow and wait for three runs of its scheduler.
pytestmark = pytest.mark.timeout(1200)


def test_the_airflow_listens_on_loopback_only(local_airflow: str, kisa_home: Path) -> None:
    record = ProcessRecord.load(kisa_home / "run" / "airflow.json")
    assert record is not None
    sockets = listening(record.group_members())
    assert any(port == record.ports["api"] for _, _, port in sockets)  # the api-server
    assert [s for s in sockets if not is_loopback(s[1])] == []


def test_the_api_refuses_a_request_without_a_login(local_airflow: str) -> None:
    with pytest.raises(urllib.error.HTTPError) as denied:
        call(f"{local_airflow}/api/v2/dags")
    assert denied.value.code == 401


def test_a_backfill_runs_a_specialty_month_by_month(
    local_airflow: str, neurology_backfill: Backfill, kisa_home: Path
) -> None:
    """Three months of neurology: the scheduler runs the three runs to the
    end, and each commits a partition of the abstracts published in its month."""
    runs = neurology_backfill.runs
    assert sorted(r["state"] for r in runs) == ["success"] * len(BACKFILL_MONTHS)
    # The scheduler closes the backfill itself (else no other one may start).
    api = api_for(local_airflow, kisa_home)
    deadline = time.monotonic() + 120
    while api.call(f"/api/v2/backfills/{neurology_backfill.id}")["completed_at"] is None:
        assert time.monotonic() < deadline, "the backfill was never marked complete"
        time.sleep(3)
    _check_monthly_partitions(load_settings(home=kisa_home), runs)


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
