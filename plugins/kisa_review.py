"""Airflow 3 plugin: the KISA review app (``kisa_tasks.review``) mounted at
``/kisa`` on the api-server, with links in Airflow's navigation and a tab on
every DAG run. The app checks Airflow's session itself (plugin apps are not
authenticated by Airflow)."""

from __future__ import annotations

from typing import Any, ClassVar

from airflow.plugins_manager import AirflowPlugin

from kisa_tasks.review.app import create_app
from kisa_tasks.timetable import OnDemandMonthly


class KisaReviewPlugin(AirflowPlugin):
    name = "kisa_review"
    # Registered so the scheduler and the UI can rebuild kisa_pipeline's schedule.
    timetables: ClassVar[list[type]] = [OnDemandMonthly]
    fastapi_apps: ClassVar[list[dict[str, Any]]] = [
        {"name": "KISA review", "app": create_app(), "url_prefix": "/kisa"}
    ]
    external_views: ClassVar[list[dict[str, Any]]] = [
        {"name": "Data quality", "href": "/kisa/quality", "url_route": "kisa-quality",
         "category": "KISA"},
        {"name": "Knowledge graph", "href": "/kisa/graph", "url_route": "kisa-graph",
         "category": "KISA"},
        {"name": "QA review", "href": "/kisa/qa", "url_route": "kisa-qa", "category": "KISA"},
        {"name": "Trajectories", "href": "/kisa/trajectories", "url_route": "kisa-trajectories",
         "category": "KISA"},
        # A tab on every DAG run: its quality gates and the link to its MLflow run.
        {"name": "KISA quality", "href": "/kisa/runs/{DAG_ID}/{RUN_ID}", "url_route": "kisa-run",
         "destination": "dag_run"},
    ]  # fmt: skip
