"""Submitting work to the Ray cluster named in the settings."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from kisa_tasks.settings import KisaSettings

if TYPE_CHECKING:
    from ray.job_submission import JobSubmissionClient

TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED"}


def job_client(settings: KisaSettings) -> JobSubmissionClient:
    from ray.job_submission import JobSubmissionClient

    address = settings.require(
        settings.ray.address,
        "KISA_RAY__ADDRESS",
        "run `kisa services up ray` or point it at a Ray cluster (http://head:8265)",
    )
    headers = {}
    if settings.ray.auth_token is not None:
        headers["Authorization"] = f"Bearer {settings.ray.auth_token.get_secret_value()}"
    return JobSubmissionClient(address, headers=headers)


def wait_for_job(
    client: JobSubmissionClient, job_id: str, timeout_s: float = 600.0
) -> dict[str, Any]:
    """Poll until the job ends; returns its status and the tail of its logs."""
    deadline = time.monotonic() + timeout_s
    while True:
        status = str(client.get_job_status(job_id).value)
        if status in TERMINAL:
            return {"job_id": job_id, "status": status, "logs": client.get_job_logs(job_id)}
        if time.monotonic() > deadline:
            client.stop_job(job_id)
            raise TimeoutError(f"ray job {job_id} still {status} after {timeout_s:.0f}s")
        time.sleep(1.0)
