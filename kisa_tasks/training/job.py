"""The training jobs end to end, as ``training_jobs/`` runs them (on Ray or
by hand): a pipeline run's artefacts in, a model out (local directory and
``s3://BUCKET/models/<stage>/specialty=S/run=R/``), metrics in an MLflow
run under the DAG's run.

- SFT trains on the run's ``sft`` partition; the model is ``tiny`` (built
  from the dataset's own text), a local directory, or an ``s3://`` prefix.
- GRPO starts from the SFT model of the same run (or one given) and
  samples its prompts from the run's ``train`` QA items; the ``test`` ones
  are the evaluation's.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from kisa_tasks.artefacts import ArtefactStore, Partition
from kisa_tasks.settings import KisaSettings
from kisa_tasks.training.grpo import GRPOJobConfig, GRPOResult, prompt_rows, train_grpo
from kisa_tasks.training.sft import SFTJobConfig, SFTResult, train_sft
from kisa_tasks.training.sft_data import prepare
from kisa_tasks.training.tiny import TinyShape, build_tiny_model
from kisa_tasks.vocabulary import SPLITS

log = logging.getLogger(__name__)
TINY = "tiny"  # build the tiny Qwen2 from the dataset's own text instead of loading one


def offline_job() -> None:
    """Set up a job process: never reach a model hub (models are local
    directories or built here), log with timestamps."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")


def model_key(stage: str, specialty: str, run_id: str) -> str:
    return f"models/{stage}/specialty={specialty}/run={run_id}"


def trained_runs(store: ArtefactStore, stage: str, specialty: str) -> list[str]:
    """Pipeline runs with a ``stage`` model of ``specialty``, oldest first
    (by the date in the run id: ``manual__2026-...``, ``scheduled__...``)."""
    folder = model_key(stage, specialty, "").rsplit("/", 1)[0] + "/"
    runs = {
        key[len(folder) :].split("/", 1)[0].removeprefix("run=") for key in store.list_keys(folder)
    }
    return sorted((r for r in runs if r), key=lambda r: (r.split("__", 1)[-1], r))


def split_qa(
    rows: Sequence[Mapping[str, Any]],
) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """(train, test) QA rows, by the split each item got when it was made
    (per seed, ``qa.kinds.split_of``): training reads only the first,
    evaluation only the second."""
    unsplit = [str(r.get("qa_id")) for r in rows if r.get("split") not in SPLITS]
    if unsplit:
        raise ValueError(
            f"{len(unsplit)} QA item(s) have no train/test split (first: {unsplit[0]}); "
            "they were committed before splits existed: rerun the qa stage of this run"
        )
    return [r for r in rows if r["split"] == "train"], [r for r in rows if r["split"] == "test"]


def fetch_model(store: ArtefactStore, model: str, into: Path) -> Path:
    """A local directory for ``model``: itself, or the ``s3://`` prefix
    (of this store's bucket) downloaded into ``into``. Never a model hub."""
    if model.startswith("s3://"):
        bucket_prefix = store.uri("")
        if not model.startswith(bucket_prefix):
            raise ValueError(f"{model} is not in the artefact store ({bucket_prefix})")
        key = model[len(bucket_prefix) :].strip("/")
        if not store.list_keys(key + "/"):
            raise FileNotFoundError(f"no model under {model}: train it first (kisa_train)")
        store.download_dir(key, into)
        return into
    path = Path(model)
    if not path.is_dir():
        raise FileNotFoundError(f"no model at {model}: give a local directory or an s3:// prefix")
    return path


@contextmanager
def tracked(
    settings: KisaSettings, parent: str | None, name: str, tags: Mapping[str, str]
) -> Iterator[tuple[str, str | None]]:
    """(report_to, child run id) for a trainer: a fresh child run of the
    DAG's MLflow run when one is given, else no reporting."""
    if parent is None:
        yield "none", None
        return
    from kisa_tasks.tracking import child_run, trainer_mlflow_env

    run_id = child_run(settings, parent, name, tags)
    saved = {
        k: os.environ.get(k)
        for k in (
            "MLFLOW_TRACKING_URI",
            "MLFLOW_RUN_ID",
            "MLFLOW_FLATTEN_PARAMS",
            "MLFLOW_EXPERIMENT_NAME",
        )
    }
    os.environ.pop("MLFLOW_EXPERIMENT_NAME", None)  # would clash with the run's experiment
    os.environ.update(trainer_mlflow_env(settings, run_id))
    try:
        yield "mlflow", run_id
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


TRAINED_ITEMS = "trained_items.json"  # the QA items a job trained on, in its MLflow run


def _log_model(
    settings: KisaSettings,
    run_id: str | None,
    model_dir: Path,
    result: Mapping[str, Any],
    items: Sequence[str],
) -> None:
    """Metrics, the model and the QA items trained on (so anyone can check
    that an evaluation never scores what training read)."""
    if run_id is None:
        return
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=settings.mlflow_uri())
    numbers = {
        k: float(v)
        for k, v in result.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }
    client.log_batch(
        run_id, metrics=[Metric(f"job.{k}", v, 0, 0) for k, v in sorted(numbers.items())]
    )
    client.log_artifacts(run_id, str(model_dir), "model")
    client.log_dict(run_id, {"qa_ids": sorted(set(items))}, TRAINED_ITEMS)
    client.set_terminated(run_id, "FINISHED")


def run_sft_job(
    settings: KisaSettings,
    *,
    specialty: str,
    run_id: str,
    config: SFTJobConfig,
    model: str,
    mlflow_parent: str | None = None,
    work_dir: Path | None = None,
) -> dict[str, Any]:
    """Train on the committed ``sft`` partition of (specialty, run). Refuses
    an empty or malformed dataset (``DatasetRefused``) before anything is
    built or trained."""
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
            model_dir = fetch_model(store, model, base / "base")
        tags = {"stage": "sft", "specialty": specialty, "pipeline_run": run_id, "base_model": model}
        with tracked(settings, mlflow_parent, "sft", tags) as (report_to, mlflow_run):
            result: SFTResult = train_sft(
                model_dir, prepared.examples, config, base / "sft", report_to
            )
            out = asdict(result) | {"refused": len(prepared.refused)}
            _log_model(settings, mlflow_run, base / "sft", out, prepared.items)
        uri = store.replace_dir(base / "sft", model_key("sft", specialty, run_id))
    log.info("sft job %s/%s: %s", specialty, run_id, result)
    return out | {"model_uri": uri, "mlflow_run_id": mlflow_run}


def run_grpo_job(
    settings: KisaSettings,
    *,
    specialty: str,
    run_id: str,
    config: GRPOJobConfig,
    model: str | None = None,
    mlflow_parent: str | None = None,
    work_dir: Path | None = None,
) -> dict[str, Any]:
    """GRPO from ``model`` (default: this run's SFT model) on this run's
    training QA items, with rollouts over this run's corpus tools."""
    from kisa_tasks.agent.stage import run_toolbox

    store = ArtefactStore.from_settings(settings)
    qa = store.read(Partition("qa", specialty, run_id)).to_pylist()
    train, held = split_qa(qa)
    if not train:
        raise ValueError(f"no train QA item for GRPO ({len(held)} are the test split)")
    source = model or store.uri(model_key("sft", specialty, run_id))
    expert = None
    gateway = None
    if config.expert == "llm":
        import functools

        from kisa_tasks.llm.client import client_from_settings
        from kisa_tasks.llm.sync import LLMGateway
        from kisa_tasks.training.rewards import llm_expert_score

        gateway = LLMGateway(functools.partial(client_from_settings, settings))
        # The judge grades against the reference answer of each question.
        references = {str(item["question"]): str(item["answer"]) for item in train}
        expert = functools.partial(llm_expert_score, gateway, references)
    toolbox = run_toolbox(settings, store, run_id)
    try:
        with tempfile.TemporaryDirectory(prefix="kisa-grpo-") as scratch:
            base = Path(work_dir or scratch)
            model_dir = fetch_model(store, source, base / "base")
            rows = prompt_rows(train, toolbox)
            tags = {
                "stage": "grpo",
                "specialty": specialty,
                "pipeline_run": run_id,
                "base_model": source,
            }
            with tracked(settings, mlflow_parent, "grpo", tags) as (report_to, mlflow_run):
                result: GRPOResult = train_grpo(
                    model_dir, rows, toolbox, config, base / "grpo", report_to, expert
                )
                out = asdict(result) | {"test_items": len(held)}
                _log_model(settings, mlflow_run, base / "grpo", out, [r["qa_id"] for r in rows])
            uri = store.replace_dir(base / "grpo", model_key("grpo", specialty, run_id))
    finally:
        toolbox.close()
        if gateway is not None:
            gateway.close()
    log.info("grpo job %s/%s: %s", specialty, run_id, result)
    return out | {"model_uri": uri, "mlflow_run_id": mlflow_run}
