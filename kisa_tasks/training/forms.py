"""What a ``kisa_train`` or ``kisa_evaluate`` run was asked to do: their
trigger forms, validated (the DAGs' ``Param`` schemas are built from these
models, as ``kisa_pipeline``'s are from ``RunConfig``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from kisa_tasks.run_config import SpecialtyId
from kisa_tasks.settings import PROJECT_ROOT

if TYPE_CHECKING:  # pyarrow stays out of DAG parsing
    from kisa_tasks.artefacts import ArtefactStore

CONFIGS = PROJECT_ROOT / "training_jobs" / "configs"
BENCHMARK_KINDS = ("test", "medbrowsecomp", "xbench", "jsonl")


class TrainConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    specialty: SpecialtyId = Field(default="cardiology", description="Specialty to train on.")
    pipeline_run: str = Field(
        default="",
        description="kisa_pipeline run whose sft/ and qa/ to train on. Empty: the run that "
        "updated the SFT dataset (asset-triggered runs), else the specialty's latest.",
    )
    base_model: str = Field(
        default="tiny",
        min_length=1,
        description="'tiny' (a small Qwen2 built from the data, for CPU), a local model "
        "directory or an s3:// prefix in the artefact store. Never a hub id.",
    )
    sft_config: str = Field(default="sft_tiny.yaml", description="YAML in training_jobs/configs/.")
    grpo_config: str = Field(
        default="grpo_tiny.yaml", description="YAML in training_jobs/configs/; empty: SFT only."
    )
    gpus: float = Field(
        default=0,
        ge=0,
        le=64,
        description="GPUs per job; refused up front if the cluster has fewer.",
    )


class EvalConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    specialty: SpecialtyId = Field(default="cardiology", description="Specialty of the model.")
    pipeline_run: str = Field(
        default="",
        description="kisa_pipeline run whose model, corpus and held-out QA to use. Empty: "
        "the run of the model that triggered this one, else the specialty's latest.",
    )
    model_stage: Literal["grpo", "sft"] = Field(
        default="grpo", description="Which of the run's models to evaluate."
    )
    endpoint: str = Field(
        default="",
        description="An OpenAI-compatible endpoint already serving the model (vLLM: "
        "http://host:8000/v1). Empty: serve it here for the run.",
    )
    benchmark: str = Field(
        default="test",
        description="'test' (the run's test split: seeds no training step read), or a benchmark "
        "file (MedBrowseComp CSV, xbench CSV, JSONL, as their projects publish them): a "
        "file name or relative path inside the benchmarks folder (setting "
        "KISA_EVALUATION__BENCHMARKS_DIR; absolute paths, '..' and symlinks leading out "
        "are refused), or an s3:// key in the artefact store.",
    )
    benchmark_kind: Literal["auto", "medbrowsecomp", "xbench", "jsonl"] = Field(
        default="auto", description="Format of the benchmark file; auto: from its content."
    )
    k: int = Field(default=4, ge=1, le=64, description="Rollouts per question (Pass@k).")
    max_items: int = Field(default=50, ge=1, le=100_000, description="Questions evaluated at most.")
    max_turns: int = Field(default=6, ge=1, le=100, description="Agent turns per rollout.")
    task_timeout_s: float = Field(
        default=120, gt=0, le=3600, description="Seconds one rollout may take."
    )
    max_new_tokens: int = Field(default=256, ge=8, le=32768, description="Tokens per turn.")


def job_config_path(name: str) -> Path:
    """A YAML under training_jobs/configs/, refusing anything outside it."""
    path = (CONFIGS / name).resolve()
    if path.parent != CONFIGS.resolve() or path.suffix not in (".yaml", ".yml"):
        raise ValueError(f"{name!r}: name a YAML file in training_jobs/configs/")
    if not path.is_file():
        known = ", ".join(sorted(p.name for p in CONFIGS.glob("*.yaml")))
        raise FileNotFoundError(f"no training config {name!r}; known: {known}")
    return path


def latest_run(store: ArtefactStore, stage: str, specialty: str) -> str:
    """The run whose ``stage`` partition of ``specialty`` was committed last."""
    run = store.latest_run(stage, specialty)
    if run is None:
        raise LookupError(
            f"no committed {stage}/ partition for {specialty}: run kisa_pipeline for it first"
        )
    return run
