"""The trajectories stage on Ray: QA items split over Ray tasks (each loads
the corpus once and rolls out its share), merged back in item order, so the
artefacts equal a one-process run; and the stage as a Ray job when a cluster
is configured (``KISA_RAY__ADDRESS``)."""

from __future__ import annotations

import argparse
import json
import logging
from typing import Any

from kisa_tasks.agent.stage import RolloutConfig, rollout_shard
from kisa_tasks.settings import KisaSettings

log = logging.getLogger(__name__)


def ray_shards(settings: KisaSettings, config: RolloutConfig, workers: int) -> list[dict[str, Any]]:
    import ray

    @ray.remote
    def shard(index: int) -> dict[str, Any]:
        return rollout_shard(settings, config, index, workers)

    return list(ray.get([shard.remote(i) for i in range(workers)]))


def job_entrypoint(specialty: str, run_id: str, backend: str, rng_seed: int, workers: int) -> str:
    import shlex

    args = ("python", "-m", "kisa_tasks.agent.ray_rollouts", "--specialty", specialty,
            "--run-id", run_id, "--backend", backend, "--seed", str(rng_seed),
            "--workers", str(workers))  # fmt: skip
    return " ".join(shlex.quote(a) for a in args)


def run_as_ray_job(
    settings: KisaSettings,
    *,
    specialty: str,
    run_id: str,
    backend: str,
    rng_seed: int,
    workers: int = 2,
) -> dict[str, Any]:
    """Submit the stage to the configured Ray cluster and wait for it."""
    from kisa_tasks.ray_jobs import run_stage_job

    return run_stage_job(
        settings,
        f"trajectories {specialty}",
        job_entrypoint(specialty, run_id, backend, rng_seed, workers),
        settings.as_env("s3", "llm", "agent"),
    )


def main(argv: list[str] | None = None) -> None:
    """The stage as a Ray job driver; prints its result as JSON last."""
    import ray

    from kisa_tasks.agent.stage import run_trajectories
    from kisa_tasks.settings import load_settings

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--specialty", required=True)
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--backend", default="rules")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    ray.init()
    settings = load_settings(ray={"address": None})  # here, the stage runs; no new job
    result = run_trajectories(settings, specialty=args.specialty, run_id=args.run_id,
                              backend=args.backend, rng_seed=args.seed,
                              ray_workers=args.workers)  # fmt: skip
    print(json.dumps(result))


if __name__ == "__main__":
    main()
