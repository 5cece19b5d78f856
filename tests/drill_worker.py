"""One pipeline stage task in its own process, as an Airflow worker runs it:
what the reliability drills (test_drills.py) kill part-way.

    python tests/drill_worker.py STAGE RUN_ID '{"specialty": ..., <the run configuration>}'

Settings come from KISA_HOME like a task's; the stage logs its progress to
stderr, which the drill reads to choose its moment.
"""

from __future__ import annotations

import json
import logging
import sys

from kisa_tasks.pipeline import stage_named
from kisa_tasks.settings import load_settings
from kisa_tasks.stage_task import run_pipeline_stage


def main(stage: str, run_id: str, config: str) -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s: %(message)s")
    run_pipeline_stage(stage_named(stage), load_settings(), json.loads(config), run_id=run_id,
                       mlflow_run_id=None)  # fmt: skip


if __name__ == "__main__":
    main(*sys.argv[1:])
