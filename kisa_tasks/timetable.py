"""``kisa_pipeline``'s schedule: calendar months that run only on demand.

Backfills need a periodic schedule (one run per month of a date range), but
a local platform that starts a full pipeline run whenever Airflow comes up
surprises everyone. So the scheduler gets no automatic run (it asks with the
DAG's ``catchup=False``); a backfill (which asks with ``catchup=True``) gets
one run per calendar month. What each run reads: ``kisa_tasks.schedule``.
Imports Airflow: only the DAG file and the plugin (which registers it) use it.
"""

from __future__ import annotations

from typing import Any

from airflow.timetables.interval import CronDataIntervalTimetable


class OnDemandMonthly(CronDataIntervalTimetable):
    """Calendar months, run only on demand: manual triggers and backfills."""

    description = "Monthly publication windows, on demand (trigger or backfill)"

    def __init__(self, cron: str = "@monthly", timezone: Any = "UTC") -> None:
        super().__init__(cron, timezone)

    @property
    def summary(self) -> str:
        return "on demand: monthly backfills"

    def next_dagrun_info(self, *, last_automated_data_interval: Any, restriction: Any) -> Any:
        if not restriction.catchup:  # the scheduler's own question: never
            return None
        return super().next_dagrun_info(
            last_automated_data_interval=last_automated_data_interval, restriction=restriction
        )
