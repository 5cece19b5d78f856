"""Training jobs on Ray through the Jobs API: the project as the job's
``working_dir``, the KISA settings in its runtime environment, its log lines
streamed to the caller (the Airflow task log) as they come.

A job that asks for GPUs the cluster does not have would wait forever for a
node that never comes; ``require_gpus`` refuses it before submission. A job
that fails raises ``TrainingJobFailed`` with the last lines of its log.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import shutil
import tempfile
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kisa_tasks.ray_jobs import TERMINAL, RayJobFailed, job_client, job_result, tail
from kisa_tasks.settings import PROJECT_ROOT, KisaSettings

# What a job needs of the project (code, the SQL it loads by name, job
# configs); copied to a staging directory so nothing else in a checkout (state,
# caches, large local files) is ever uploaded to the cluster.
JOB_PACKAGE = ("kisa_tasks", "training_jobs", "sql", "pyproject.toml")
SETTINGS_GROUPS = ("s3", "mlflow", "llm", "agent")


class TrainingJobFailed(RayJobFailed):
    """The Ray job ended other than SUCCEEDED; the message ends with its log."""


class ClusterTooSmall(RuntimeError):
    """The job asks for resources no node of the cluster has."""


@dataclass(frozen=True)
class TrainingJob:
    name: str  # "sft", "grpo"
    module: str  # python -m MODULE
    arguments: tuple[str, ...]
    gpus: float = 0.0
    cpus: float = 1.0

    @property
    def entrypoint(self) -> str:
        return shlex.join(["python", "-m", self.module, *self.arguments])


def cluster_resources(settings: KisaSettings) -> dict[str, float]:
    """Total resources of the cluster's live nodes (the dashboard's state API)."""
    address = settings.require(
        settings.ray.address, "KISA_RAY__ADDRESS", "run `kisa services up ray`"
    )
    headers = {}
    if settings.ray.auth_token is not None:
        headers["Authorization"] = f"Bearer {settings.ray.auth_token.get_secret_value()}"
    if not address.startswith(("http://", "https://")):
        raise ValueError(f"KISA_RAY__ADDRESS must be the dashboard's http(s) URL, got {address!r}")
    request = urllib.request.Request(f"{address.rstrip('/')}/api/v0/nodes", headers=headers)  # noqa: S310 - checked above
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - checked above
        nodes = json.load(response)["data"]["result"]["result"]
    return total_resources(nodes)


def total_resources(nodes: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Sum of ``resources_total`` over ALIVE nodes.

    >>> total_resources([{"state": "ALIVE", "resources_total": {"CPU": 2.0}},
    ...                  {"state": "DEAD", "resources_total": {"CPU": 8.0, "GPU": 1.0}}])
    {'CPU': 2.0}
    """
    total: dict[str, float] = {}
    for node in nodes:
        if node.get("state") == "ALIVE":
            for name, amount in (node.get("resources_total") or {}).items():
                total[name] = total.get(name, 0.0) + float(amount)
    return total


def require_gpus(wanted: float, resources: Mapping[str, float]) -> None:
    """Refuse a GPU request the cluster cannot meet, naming both numbers.

    >>> require_gpus(0, {"CPU": 2.0})
    >>> require_gpus(1, {"CPU": 2.0})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    kisa_tasks.training.launch.ClusterTooSmall: the job asks for 1 GPU(s) but ... has 0 ...
    """
    have = float(resources.get("GPU", 0.0))
    if wanted > have:
        listed = ", ".join(
            f"{k}={v:g}"
            for k, v in sorted(resources.items())
            if "node:" not in k and k in ("CPU", "GPU")
        )
        raise ClusterTooSmall(
            f"the job asks for {wanted:g} GPU(s) but the Ray cluster has {have:g} "
            f"(resources: {listed}); set gpus=0 to train on CPU, or add a GPU worker to the cluster"
        )


def stage_package(into: Path) -> Path:
    """The job's working_dir: ``JOB_PACKAGE`` copied from the project."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in JOB_PACKAGE:
        source = PROJECT_ROOT / name
        if source.is_dir():
            shutil.copytree(source, into / name, ignore=ignore)
        else:
            shutil.copy2(source, into / name)
    return into


def submit_training_job(
    settings: KisaSettings,
    job: TrainingJob,
    on_line: Callable[[str], None],
    submission_id: str | None = None,
    timeout_s: float = 3600.0,
) -> dict[str, Any]:
    """Submit ``job``, stream its log to ``on_line``, wait for it; its result
    with ``ray_job_id``. Raises ``ClusterTooSmall`` before submitting and
    ``TrainingJobFailed`` when it fails or runs out of time."""
    require_gpus(job.gpus, cluster_resources(settings))
    client = job_client(settings)
    from kisa_tasks.tracking import git_sha

    env = settings.as_env(*SETTINGS_GROUPS) | {
        "KISA_HOME": str(settings.home),
        "KISA_GIT_SHA": git_sha(),  # the job's copy of the code has no .git
        "PYTHONUNBUFFERED": "1",
    }
    with tempfile.TemporaryDirectory(prefix="kisa-job-") as staging:
        # Ray uploads it on submission (once per content: it caches by hash).
        job_id = client.submit_job(
            entrypoint=job.entrypoint,
            submission_id=submission_id,
            runtime_env={"working_dir": str(stage_package(Path(staging))), "env_vars": env},
            entrypoint_num_gpus=job.gpus or None,
            entrypoint_num_cpus=job.cpus,
            metadata={"kisa_job": job.name},
        )
    on_line(f"submitted Ray job {job_id}: {job.entrypoint}")
    started = time.monotonic()
    try:
        asyncio.run(asyncio.wait_for(_stream(client, job_id, on_line), timeout_s))
    except TimeoutError:
        client.stop_job(job_id)
        raise TrainingJobFailed(
            f"Ray job {job_id} ({job.name}) still running after {timeout_s:.0f}s: stopped"
        ) from None
    status = _final_status(client, job_id)
    logs = client.get_job_logs(job_id)
    if status != "SUCCEEDED":
        raise TrainingJobFailed(
            f"Ray job {job_id} ({job.name}) ended {status}; its log ends:\n{tail(logs)}"
        )
    return job_result(logs) | {
        "ray_job_id": job_id,
        "job_seconds": round(time.monotonic() - started, 1),
    }


async def _stream(client: Any, job_id: str, on_line: Callable[[str], None]) -> None:
    async for chunk in client.tail_job_logs(job_id):
        for line in chunk.splitlines():
            on_line(line)


def _final_status(client: Any, job_id: str, wait_s: float = 30.0) -> str:
    # The log stream closes as the job ends; its status may lag a moment.
    deadline = time.monotonic() + wait_s
    while True:
        status = str(client.get_job_status(job_id).value)
        if status in TERMINAL or time.monotonic() > deadline:
            return status
        time.sleep(0.5)
