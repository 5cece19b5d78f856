"""Submitting work to the Ray cluster named in the settings: the client,
waiting for a job, and a stage run as a job whose entrypoint prints its
result as JSON on its last line."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from kisa_tasks.settings import KisaSettings

if TYPE_CHECKING:
    from ray.job_submission import JobSubmissionClient

log = logging.getLogger(__name__)

TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED"}
STAGE_JOB_TIMEOUT_S = 3600.0
LAST_LINES = 40


class RayJobFailed(RuntimeError):
    """A Ray job ended other than SUCCEEDED, ran out of time, or printed no
    result; the message ends with the last lines of its log."""


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


def tail(logs: str, lines: int = LAST_LINES) -> str:
    return "\n".join(logs.strip().splitlines()[-lines:])


def job_result(logs: str) -> dict[str, Any]:
    """The JSON object the entrypoint prints on its last line.

    >>> job_result('step 1\\n{"steps": 4}\\n')
    {'steps': 4}
    """
    for line in reversed(logs.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return dict(json.loads(line))
    raise RayJobFailed(f"the job printed no result line; its log ends:\n{tail(logs)}")


def run_stage_job(
    settings: KisaSettings,
    what: str,
    entrypoint: str,
    env: Mapping[str, str],
    timeout_s: float = STAGE_JOB_TIMEOUT_S,
) -> dict[str, Any]:
    """Submit a pipeline stage (``what``: "extract cardiology") as a job on
    the configured cluster, wait for it, and return the result it printed."""
    client = job_client(settings)
    job_id = client.submit_job(entrypoint=entrypoint, runtime_env={"env_vars": dict(env)})
    log.info("%s: submitted Ray job %s to %s", what, job_id, settings.ray.address)
    outcome = wait_for_job(client, job_id, timeout_s=timeout_s)
    if outcome["status"] != "SUCCEEDED":
        raise RayJobFailed(
            f"Ray job {job_id} for {what} ended {outcome['status']}; "
            f"its log ends:\n{tail(outcome['logs'])}"
        )
    return job_result(outcome["logs"])


def function_entrypoint(target: str, kwargs: Mapping[str, Any]) -> str:
    """The shell command of a Ray job that runs ``target`` ("module:function",
    a stage function taking settings and keyword arguments) on the cluster."""
    import shlex

    args = ("python", "-m", "kisa_tasks.ray_jobs", target, json.dumps(dict(kwargs)))
    return " ".join(shlex.quote(a) for a in args)


def run_stage_function(
    settings: KisaSettings,
    what: str,
    function: Callable[..., dict[str, Any]],
    kwargs: Mapping[str, Any],
    groups: tuple[str, ...] = ("s3",),
) -> dict[str, Any]:
    """Run a stage function as a job on the configured cluster: its driver
    calls it there, where ``kisa_tasks.fanout`` makes its items Ray tasks."""
    target = f"{function.__module__}:{function.__qualname__}"
    return run_stage_job(
        settings, what, function_entrypoint(target, kwargs), settings.as_env(*groups)
    )


def main(argv: list[str] | None = None) -> None:
    """Ray job driver: ``python -m kisa_tasks.ray_jobs module:function JSON``;
    prints the function's result as JSON on the last line."""
    import argparse
    import importlib

    import ray

    from kisa_tasks.settings import load_settings

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("target")
    parser.add_argument("kwargs")
    args = parser.parse_args(argv)
    module, _, name = args.target.partition(":")
    if not module.startswith("kisa_tasks."):
        raise SystemExit(f"{args.target!r} is not a kisa_tasks stage function")
    function = getattr(importlib.import_module(module), name)
    kwargs = json.loads(args.kwargs)
    if isinstance(kwargs.get("window"), list):
        kwargs["window"] = tuple(kwargs["window"])
    # Progress lines (files staged N/M ...) go to the job's log.
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    ray.init()  # the cluster this job runs on
    # Here the stage runs; a driver that submitted another job would recurse.
    settings = load_settings(ray={"address": None})
    print(json.dumps(function(settings, **kwargs), default=str))


if __name__ == "__main__":
    main()
