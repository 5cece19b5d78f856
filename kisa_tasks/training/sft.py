"""Supervised fine-tuning with TRL's ``SFTTrainer`` on KISA trajectories.

Loss on assistant turns only (``assistant_only_loss``: prompts and tool
outputs are masked), the optimiser of the paper's recipe from a YAML config
(``training_jobs/configs/``), and before training a check of the labels
TRL built: for every example that fits ``max_length``, the trained tokens
must decode to exactly the assistant turns with their end tokens
(``sft.export.mask_mismatch``, the check the SFT export runs too).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field

from kisa_tasks.sft.export import Masked, mask_mismatch


class OptimiserConfig(BaseModel):
    """What every training job's YAML holds: AdamW with a cosine decay to a
    floor and gradient clipping (the paper's recipe for both stages)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    learning_rate: float = Field(gt=0)
    min_lr: float = Field(ge=0)
    adam_beta1: float = Field(ge=0, lt=1)
    adam_beta2: float = Field(ge=0, lt=1)
    max_grad_norm: float = Field(gt=0)
    seed: int = 0

    @classmethod
    def from_yaml(cls, path: Path) -> Self:
        return cls(**yaml.safe_load(path.read_text()))


class SFTJobConfig(OptimiserConfig):
    warmup: float = Field(ge=0, lt=1, description="share of the steps")
    epochs: float = Field(gt=0)
    per_device_batch_size: int = Field(ge=1)
    gradient_accumulation_steps: int = Field(ge=1)
    max_length: int = Field(ge=64)


class LabelError(RuntimeError):
    """TRL's labels train something other than the assistant turns."""


@dataclass(frozen=True)
class SFTResult:
    model_dir: str
    examples: int
    steps: int
    tokens: int
    trained_tokens: int
    checked_examples: int  # fitted in max_length and had their labels verified
    train_seconds: float
    tokens_per_s: float
    first_loss: float | None
    last_loss: float | None


def sft_args(config: SFTJobConfig, output_dir: Path, report_to: str = "none") -> Any:
    from trl.trainer.sft_config import SFTConfig

    return SFTConfig(
        assistant_only_loss=True,
        max_length=config.max_length,
        num_train_epochs=config.epochs,
        per_device_train_batch_size=config.per_device_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        warmup_steps=config.warmup,  # transformers 5: a float under 1 is a share
        run_name="sft",
        **trainer_args(config, output_dir, report_to),
    )


def trainer_args(config: OptimiserConfig, output_dir: Path, report_to: str) -> dict[str, Any]:
    """What SFT and GRPO set alike: the optimiser, the device, logging."""
    return {
        "output_dir": str(output_dir),
        "learning_rate": config.learning_rate,
        "adam_beta1": config.adam_beta1,
        "adam_beta2": config.adam_beta2,
        "weight_decay": 0.0,
        "lr_scheduler_type": "cosine_with_min_lr",  # cosine down to a floor, not to 0
        "lr_scheduler_kwargs": {"min_lr": config.min_lr},
        "max_grad_norm": config.max_grad_norm,
        "use_cpu": not cuda_available(),
        "bf16": cuda_available(),
        "gradient_checkpointing": False,
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": report_to,
        "seed": config.seed,
    }


def cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def check_labels(
    tokenizer: Any, dataset: Any, examples: list[dict[str, Any]], max_length: int
) -> int:
    """Verify TRL's labels example by example; the number checked (those
    that fit ``max_length`` whole). Raises LabelError on the first mismatch."""
    checked = 0
    for row, example in zip(dataset, examples, strict=False):
        ids = list(row["input_ids"])
        if len(ids) >= max_length:
            continue  # truncated: its tail turns are cut, nothing to compare whole
        masked = Masked(ids, [int(label != -100) for label in row["labels"]])
        if problem := mask_mismatch(tokenizer, example["messages"], masked):
            raise LabelError(f"example {checked}: {problem}")
        checked += 1
    return checked


def train_sft(
    model_dir: Path,
    examples: list[dict[str, Any]],
    config: SFTJobConfig,
    output_dir: Path,
    report_to: str = "none",
) -> SFTResult:
    """Fine-tune the model in ``model_dir`` (a local path: never a hub id)
    on ``examples`` ({"messages": [...]}); the model is saved in ``output_dir``."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl.trainer.sft_trainer import SFTTrainer

    if not model_dir.is_dir():
        raise FileNotFoundError(f"no model at {model_dir}: give a local directory")
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), local_files_only=True)
    trainer = SFTTrainer(
        model=model,
        args=sft_args(config, output_dir, report_to),
        train_dataset=Dataset.from_list(examples),
        processing_class=tokenizer,
    )
    dataset: Any = trainer.train_dataset  # tokenized by TRL, labels -100 outside assistant turns
    checked = check_labels(tokenizer, dataset, examples, config.max_length)
    tokens = sum(len(r["input_ids"]) for r in dataset)
    trained = sum(sum(1 for x in r["labels"] if x != -100) for r in dataset)
    started = time.perf_counter()
    output = trainer.train()
    took = time.perf_counter() - started
    losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    trainer.save_model(str(output_dir))
    tokenizer.save_pretrained(str(output_dir))
    epochs = config.epochs
    return SFTResult(
        model_dir=str(output_dir),
        examples=len(dataset),
        steps=int(output.global_step),
        tokens=tokens,
        trained_tokens=trained,
        checked_examples=checked,
        train_seconds=round(took, 2),
        tokens_per_s=round(tokens * epochs / took, 1) if took else 0.0,
        first_loss=losses[0] if losses else None,
        last_loss=losses[-1] if losses else None,
    )
