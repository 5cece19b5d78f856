"""One pipeline stage task in its own process, as an Airflow worker runs it:
what the reliability drills (test_drills.py) kill part-way.

    python tests/drill_worker.py STAGE SPECIALTY RUN_ID '{"kwarg": ...}'

Settings come from KISA_HOME like a task's; the stage logs its progress to
stderr, which the drill reads to choose its moment.
"""

from __future__ import annotations

import importlib
import json
import logging
import sys

from kisa_tasks.settings import load_settings
from kisa_tasks.stage_task import run_stage_task

RUNNERS = {
    "qa": "kisa_tasks.qa.stage:run_qa",
    "trajectories": "kisa_tasks.agent.stage:run_trajectories",
}


def main(stage: str, specialty: str, run_id: str, kwargs: str) -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s: %(message)s")
    module, name = RUNNERS[stage].split(":")
    runner = getattr(importlib.import_module(module), name)
    run_stage_task(stage, runner, load_settings(), specialty=specialty, run_id=run_id,
                   mlflow_run_id=None, **json.loads(kwargs))  # fmt: skip


if __name__ == "__main__":
    main(*sys.argv[1:])
