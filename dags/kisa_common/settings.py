"""KISA settings as a task sees them: Airflow connections first, then env."""

from __future__ import annotations

from typing import Any

from kisa_tasks.settings import (
    CONNECTION_IDS,
    KisaSettings,
    load_settings,
    overrides_from_connections,
)


def task_settings() -> KisaSettings:
    """Settings with any ``kisa_*`` Airflow connections applied on top."""
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    conns: dict[str, Any] = {}
    for conn_id in CONNECTION_IDS:
        try:
            conns[conn_id] = Connection.get(conn_id)
        except AirflowNotFoundException:
            continue
    return load_settings(**overrides_from_connections(conns))
