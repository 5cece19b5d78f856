"""What the ``kisa_train`` tasks do, between the trigger form and Ray:
pick the pipeline run, refuse a dataset that cannot train before any job is
submitted, and build and launch the SFT and GRPO jobs."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from kisa_tasks.artefacts import ArtefactStore, Partition
from kisa_tasks.settings import KisaSettings
from kisa_tasks.training.forms import TrainConfig, job_config_path, latest_run
from kisa_tasks.training.grpo import GRPOJobConfig
from kisa_tasks.training.job import split_qa
from kisa_tasks.training.launch import TrainingJob, submit_training_job
from kisa_tasks.training.sft import SFTJobConfig
from kisa_tasks.training.sft_data import DatasetRefused, prepare

log = logging.getLogger(__name__)


def pick_pipeline_run(
    store: ArtefactStore, stage: str, specialty: str, given: str, trigger: Mapping[str, str]
) -> str:
    """The form's run, else the triggering asset event's (same specialty),
    else the latest committed ``stage`` partition of the specialty."""
    if given:
        return given
    if trigger.get("pipeline_run") and trigger.get("specialty") == specialty:
        return trigger["pipeline_run"]
    return latest_run(store, stage, specialty)


def check_training_data(
    settings: KisaSettings, config: TrainConfig, pipeline_run: str
) -> dict[str, Any]:
    """Refuse (``DatasetRefused``) what cannot train, before a job starts:
    no committed SFT partition, no usable example, bad job configs, or (for
    GRPO) no QA item outside the held-out split."""
    store = ArtefactStore.from_settings(settings)
    sft = Partition("sft", config.specialty, pipeline_run)
    if not store.is_committed(sft):
        raise DatasetRefused(
            f"no committed SFT dataset at {store.uri(sft.prefix)}: run kisa_pipeline first"
        )
    prepared = prepare(store.read(sft).to_pylist())  # raises DatasetRefused with the reasons
    SFTJobConfig.from_yaml(job_config_path(config.sft_config))
    counts: dict[str, Any] = {
        "sft_examples": len(prepared.examples),
        "sft_refused": len(prepared.refused),
    }
    if config.grpo_config:
        GRPOJobConfig.from_yaml(job_config_path(config.grpo_config))
        qa = store.read(Partition("qa", config.specialty, pipeline_run)).to_pylist()
        train, held = split_qa(qa)
        if not train:
            raise DatasetRefused(
                f"no train QA item for GRPO: all {len(held)} are the test split (evaluation)"
            )
        counts |= {"grpo_prompts": len(train), "test_items": len(held)}
    return counts


def training_job(
    name: str, config: TrainConfig, pipeline_run: str, mlflow_parent: str
) -> TrainingJob:
    """The Ray job for ``name`` (sft or grpo); paths relative to the job's
    working_dir (the project)."""
    common: tuple[str, ...] = (
        "--specialty",
        config.specialty,
        "--run",
        pipeline_run,
        "--mlflow-parent",
        mlflow_parent,
    )
    if name == "sft":
        path = job_config_path(config.sft_config)
        args: tuple[str, ...] = (
            *common,
            "--config",
            f"training_jobs/configs/{path.name}",
            "--model",
            config.base_model,
        )
    elif name == "grpo":
        path = job_config_path(config.grpo_config)
        args = (*common, "--config", f"training_jobs/configs/{path.name}")
    else:
        raise ValueError(f"no training job {name!r}")
    return TrainingJob(name, f"training_jobs.{name}", args, gpus=config.gpus)


def launch(settings: KisaSettings, job: TrainingJob) -> dict[str, Any]:
    """Run ``job`` on the configured Ray cluster, its log in this task's log."""
    return submit_training_job(settings, job, lambda line: log.info("[%s] %s", job.name, line))
