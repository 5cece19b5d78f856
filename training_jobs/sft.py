"""SFT entrypoint (run by a Ray job or by hand):

    python -m training_jobs.sft --specialty cardiology --run RUN \
        --config training_jobs/configs/sft_tiny.yaml --model tiny [--mlflow-parent ID]

Reads the run's ``sft`` artefact, trains with TRL (assistant-only loss),
writes the model to ``s3://BUCKET/models/sft/specialty=S/run=R/``, and
prints the result as JSON on its last line.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
from pathlib import Path

from kisa_tasks.settings import load_settings
from kisa_tasks.training.job import TINY, offline_job, run_sft_job
from kisa_tasks.training.sft import SFTJobConfig


def main() -> None:
    offline_job()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--specialty", required=True)
    parser.add_argument("--run", required=True, help="pipeline run id whose sft/ to train on")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument(
        "--model", default=TINY, help=f"a local directory, an s3:// prefix, or {TINY!r}"
    )
    parser.add_argument("--mlflow-parent", default=None, help="MLflow run to log under")
    args = parser.parse_args()
    result = run_sft_job(
        load_settings(),
        specialty=args.specialty,
        run_id=args.run,
        config=SFTJobConfig.from_yaml(args.config),
        model=args.model,
        mlflow_parent=args.mlflow_parent,
    )
    print(json.dumps(result))


if __name__ == "__main__":
    # A native crash (torch, tantivy) then leaves its Python stack in the job log.
    faulthandler.enable()
    main()
