"""GRPO entrypoint (run by a Ray job or by hand):

    python -m training_jobs.grpo --specialty cardiology --run RUN \
        --config training_jobs/configs/grpo_tiny.yaml [--model DIR_OR_S3] [--mlflow-parent ID]

Starts from the run's SFT model (``s3://BUCKET/models/sft/...``) unless
``--model`` names another, rolls the agent out over the run's corpus tools,
writes the model to ``s3://BUCKET/models/grpo/specialty=S/run=R/``, and
prints the result as JSON on its last line.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
from pathlib import Path

from kisa_tasks.settings import load_settings
from kisa_tasks.training.grpo import GRPOJobConfig
from kisa_tasks.training.job import offline_job, run_grpo_job


def main() -> None:
    offline_job()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--specialty", required=True)
    parser.add_argument("--run", required=True, help="pipeline run id whose QA and corpus to use")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--model", default=None, help="a local directory or s3:// prefix")
    parser.add_argument("--mlflow-parent", default=None, help="MLflow run to log under")
    args = parser.parse_args()
    result = run_grpo_job(
        load_settings(),
        specialty=args.specialty,
        run_id=args.run,
        config=GRPOJobConfig.from_yaml(args.config),
        model=args.model,
        mlflow_parent=args.mlflow_parent,
    )
    print(json.dumps(result))


if __name__ == "__main__":
    # A native crash (torch, tantivy) then leaves its Python stack in the job log.
    faulthandler.enable()
    main()
