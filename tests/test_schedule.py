"""What a logical date selects: kisa_pipeline's on-demand monthly schedule,
backfills created from the CLI for one specialty, and ingest of one month
of publications from the bundled corpus."""

from __future__ import annotations

import doctest
import os
import subprocess
from datetime import date

import pytest

import kisa_tasks.backfill
import kisa_tasks.schedule
from kisa_tasks.artefacts import ArtefactStore, Partition
from kisa_tasks.backfill import backfill_command, create_backfill
from kisa_tasks.ingest.stage import run_ingest
from kisa_tasks.run_config import RunConfigError, param_schemas
from kisa_tasks.schedule import in_window
from kisa_tasks.services.embedded import venv_bin
from kisa_tasks.settings import KisaSettings
from kisa_tasks.specialties import SPECIALTY_IDS


def test_the_documented_examples_hold() -> None:
    for module in (kisa_tasks.schedule, kisa_tasks.backfill):
        assert doctest.testmod(module).failed == 0


def test_the_schedule_runs_only_on_demand_one_month_at_a_time(airflow_db: dict[str, str]) -> None:
    # Airflow is imported after the session's Airflow settings are in place.
    import pendulum
    from airflow.timetables.base import TimeRestriction

    from kisa_tasks.timetable import OnDemandMonthly

    table = OnDemandMonthly()
    start, end = pendulum.datetime(1979, 1, 1), pendulum.datetime(1979, 3, 1)
    scheduler = TimeRestriction(earliest=pendulum.datetime(1970, 1, 1), latest=None, catchup=False)
    assert table.next_dagrun_info(last_automated_data_interval=None, restriction=scheduler) is None
    backfill = TimeRestriction(earliest=start, latest=end, catchup=True)
    months, last = [], None
    while info := table.next_dagrun_info(last_automated_data_interval=last, restriction=backfill):
        months.append((info.data_interval.start.date(), info.data_interval.end.date()))
        last = info.data_interval
    assert months == [(date(1979, 1, 1), date(1979, 2, 1)), (date(1979, 2, 1), date(1979, 3, 1)),
                      (date(1979, 3, 1), date(1979, 4, 1))]  # fmt: skip
    assert table.periodic  # what makes the DAG backfillable


def test_the_trigger_form_offers_the_twelve_specialties_by_name() -> None:
    specialty = param_schemas()["specialty"]
    assert specialty["enum"] == list(SPECIALTY_IDS) and specialty["description"]
    assert specialty["values_display"]["nephrology_urology"].startswith("Nephrology")
    with pytest.raises(RunConfigError, match="specialty"):
        backfill_command("astrology", date(1979, 1, 1), date(1979, 3, 1))


def test_a_cli_backfill_queues_one_run_per_month_for_the_specialty(
    airflow_db: dict[str, str],
) -> None:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    # The DAG must be in the metadata DB, as the dag-processor leaves it.
    subprocess.run([venv_bin("airflow"), "dags", "reserialize"], env={**os.environ, **airflow_db},
                   check=True, capture_output=True, timeout=300)  # fmt: skip
    # Other months than the backfill the local Airflow runs (tests/airflow_ui/test_backfill.py).
    command = backfill_command("neurology", date(1979, 7, 1), date(1979, 9, 1),
                               {"max_abstracts": 50})  # fmt: skip
    create_backfill(command, airflow_db)
    with create_session() as session:
        runs = session.query(DagRun).filter(DagRun.dag_id == "kisa_pipeline",
                                            DagRun.run_type == "backfill").all()  # fmt: skip
        found = sorted((r.logical_date.date(), r.conf["specialty"], r.state) for r in runs
                       if r.logical_date.month >= 7)  # fmt: skip
    assert found == [(date(1979, m, 1), "neurology", "queued") for m in (7, 8, 9)]
    # It is still running (no scheduler here): a second one is refused, clearly.
    with pytest.raises(RuntimeError, match="still running, and Airflow runs one per DAG"):
        create_backfill(backfill_command("oncology", date(1980, 1, 1), date(1980, 2, 1)),
                        airflow_db)  # fmt: skip


def test_a_month_of_publications_is_what_a_backfill_run_ingests(settings: KisaSettings) -> None:
    window = ("1979-02-01", "1979-03-01")
    result = run_ingest(settings, specialty="neurology", run_id="backfill-feb", max_abstracts=None,
                        window=window)  # fmt: skip
    store = ArtefactStore.from_settings(settings)
    dates = store.read(Partition("abstracts", "neurology", "backfill-feb")).column("pub_date")
    assert len(dates) == result["counts"]["kept"] > 50
    assert all(in_window(d, window) for d in dates.to_pylist())
    assert result["counts"]["outside_window"] > 0
