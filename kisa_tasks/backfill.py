"""Backfill ``kisa_pipeline`` for one specialty over a range of months.

A thin wrapper over ``airflow backfill create`` on the embedded Airflow: it
creates one queued run per month of the range (each reads the abstracts
published in its month, ``kisa_tasks.schedule``), all with the same
specialty; the running scheduler executes them, one at a time.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from datetime import date
from typing import Any

from kisa_tasks.run_config import RunConfig
from kisa_tasks.services.embedded import venv_bin

DAG_ID = "kisa_pipeline"


def backfill_command(
    specialty: str, start: date, end: date, conf: Mapping[str, Any] | None = None
) -> list[str]:
    """The ``airflow backfill create`` call; the conf is validated first.

    >>> backfill_command("neurology", date(1979, 1, 1), date(1979, 3, 1))[-4:]
    ['--dag-run-conf', '{"specialty": "neurology"}', '--max-active-runs', '1']
    """
    if end < start:
        raise ValueError(f"the range ends ({end}) before it starts ({start})")
    params = {"specialty": specialty, **(conf or {})}
    RunConfig.from_params(params)  # a typo fails here, not in a queued run
    return [
        venv_bin("airflow"), "backfill", "create", "--dag-id", DAG_ID,
        "--from-date", start.isoformat(), "--to-date", end.isoformat(),
        "--dag-run-conf", json.dumps(params), "--max-active-runs", "1",
    ]  # fmt: skip


def create_backfill(command: list[str], env: Mapping[str, str]) -> str:
    """Run it against the embedded Airflow's metadata DB; its output, or an error."""
    result = subprocess.run(
        command, env={**os.environ, **env}, capture_output=True, text=True, timeout=300
    )
    if result.returncode != 0:
        if "AlreadyRunningBackfill" in result.stderr:
            raise RuntimeError(
                f"a backfill of {DAG_ID} is still running, and Airflow runs one per DAG at "
                "a time: wait for it, or cancel it first (the Backfill banner on the DAG's page, "
                "or PUT /api/v2/backfills/ID/cancel)"
            )
        raise RuntimeError(f"airflow backfill create failed:\n{result.stderr[-3000:]}")
    return result.stdout
