"""SFT entrypoint (run by a Ray job or by hand):

    python -m training_jobs.sft --specialty cardiology --run RUN \
        --config training_jobs/configs/sft_tiny.yaml --model tiny

Reads the run's ``sft`` artefact, trains with TRL (assistant-only loss),
writes the model to ``s3://BUCKET/models/sft/specialty=S/run=R/``, and
prints the result as JSON on its last line.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

from kisa_tasks.settings import load_settings
from kisa_tasks.training.job import TINY, run_sft_job
from kisa_tasks.training.sft import SFTJobConfig


def main() -> None:
    # Never reach a model hub: the model is a local directory or built here.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--specialty", required=True)
    parser.add_argument("--run", required=True, help="pipeline run id whose sft/ to train on")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--model", default=TINY, help=f"a local model directory, or {TINY!r}")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    result = run_sft_job(
        load_settings(),
        specialty=args.specialty,
        run_id=args.run,
        config=SFTJobConfig.from_yaml(args.config),
        model=args.model,
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
