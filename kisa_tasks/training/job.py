"""The SFT job end to end: the ``sft`` artefact of a pipeline run in, a
fine-tuned model out (local directory and ``s3://BUCKET/models/sft/...``),
metrics in an MLflow run. ``training_jobs/sft.py`` runs it (on Ray or not)."""

from __future__ import annotations

import logging
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import kisa_tasks.sft.stage  # noqa: F401 - registers the sft schema
from kisa_tasks.artefacts import ArtefactStore, Partition
from kisa_tasks.settings import KisaSettings
from kisa_tasks.training.sft import SFTJobConfig, SFTResult, train_sft
from kisa_tasks.training.sft_data import prepare
from kisa_tasks.training.tiny import TinyShape, build_tiny_model

log = logging.getLogger(__name__)
TINY = "tiny"  # build the tiny Qwen2 from the dataset's own text instead of loading one


def model_key(specialty: str, run_id: str) -> str:
    return f"models/sft/specialty={specialty}/run={run_id}"


def run_sft_job(
    settings: KisaSettings,
    *,
    specialty: str,
    run_id: str,
    config: SFTJobConfig,
    model: str,
    work_dir: Path | None = None,
) -> dict[str, Any]:
    """Train on the committed ``sft`` partition of (specialty, run). ``model``
    is a local directory or ``tiny``. Refuses an empty or malformed dataset
    (``DatasetRefused``) before anything is built or trained."""
    store = ArtefactStore.from_settings(settings)
    rows = store.read(Partition("sft", specialty, run_id)).to_pylist()
    prepared = prepare(rows)
    for trajectory, reason in prepared.refused:
        log.warning("sft job: example %s refused: %s", trajectory, reason)
    with tempfile.TemporaryDirectory(prefix="kisa-sft-") as scratch:
        base = Path(work_dir or scratch)
        if model == TINY:
            texts = [m["content"] for e in prepared.examples for m in e["messages"]]
            model_dir = build_tiny_model(texts, base / "base", TinyShape(), seed=config.seed)
        else:
            model_dir = Path(model)
        result: SFTResult = train_sft(model_dir, prepared.examples, config, base / "sft")
        uri = store.upload_dir(base / "sft", model_key(specialty, run_id))
    log.info("sft job %s/%s: %s", specialty, run_id, result)
    return asdict(result) | {"model_uri": uri, "refused": len(prepared.refused)}
