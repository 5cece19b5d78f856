"""SFT with TRL on CPU: a tiny Qwen2 and tokenizer built here from the
trajectories' own text; assistant-only loss whose labels are checked token
by token; a bad dataset refused before anything trains."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kisa_tasks.settings import KisaSettings
from kisa_tasks.training.sft import SFTJobConfig, check_labels, sft_args, train_sft
from kisa_tasks.training.sft_data import DatasetRefused, prepare
from kisa_tasks.training.tiny import TinyShape, build_tiny_model

REFERENCE = Path(__file__).parents[1] / "fixtures" / "reference" / "react_trajectory_sample.jsonl"
CONFIGS = Path(__file__).parents[2] / "training_jobs" / "configs"


def _rows() -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in REFERENCE.read_text().splitlines() if line.strip()]
    return [{"trajectory_id": f"t{i}", "messages": r["messages"]} for i, r in enumerate(rows)]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    texts = [m["content"] for r in _rows() for m in r["messages"]]
    return build_tiny_model(texts, tmp_path_factory.mktemp("tiny"), TinyShape())


def test_a_bad_dataset_is_refused_with_its_reason() -> None:
    with pytest.raises(DatasetRefused, match="the dataset is empty"):
        prepare([])
    broken = [{"trajectory_id": "x", "messages": [{"role": "user", "content": "q"}]},
              {"trajectory_id": "y", "messages": [{"role": "robot", "content": "?"}]}]  # fmt: skip
    with pytest.raises(DatasetRefused, match=r"x: no assistant turn.*y: message 0 is not"):
        prepare(broken)
    mixed = prepare([*broken, *_rows()])
    assert len(mixed.examples) == len(_rows()) and [t for t, _ in mixed.refused] == ["x", "y"]


def test_the_paper_settings_load() -> None:
    paper = SFTJobConfig.from_yaml(CONFIGS / "sft_paper.yaml")
    assert (paper.adam_beta1, paper.adam_beta2, paper.min_lr) == (0.9, 0.98, 3e-7)
    assert (paper.max_grad_norm, paper.epochs) == (1.0, 3)
    assert paper.per_device_batch_size * paper.gradient_accumulation_steps == 32


def test_sft_trains_only_assistant_tokens(tiny: Path, tmp_path: Path) -> None:
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl.trainer.sft_trainer import SFTTrainer

    examples = prepare(_rows()).examples * 2
    # The tiny recipe, one epoch of small batches: a few steps are enough here.
    config = SFTJobConfig.from_yaml(CONFIGS / "sft_tiny.yaml").model_copy(
        update={"epochs": 2, "per_device_batch_size": 2, "gradient_accumulation_steps": 1}
    )
    tokenizer = AutoTokenizer.from_pretrained(str(tiny))
    trainer = SFTTrainer(
        model=AutoModelForCausalLM.from_pretrained(str(tiny)),
        args=sft_args(config, tmp_path / "check"),
        train_dataset=Dataset.from_list(examples),
        processing_class=tokenizer,
    )
    dataset = trainer.train_dataset
    assert check_labels(tokenizer, dataset, examples, config.max_length) == len(examples)
    # Token by token: a tool output is never trained, the assistant's end token is.
    row = dataset[0]
    pieces = [
        (tokenizer.decode([t]), label != -100)
        for t, label in zip(row["input_ids"], row["labels"], strict=True)
    ]
    text = "".join(p for p, _ in pieces)
    assert "<tool_response>" in text
    assert not any(trained for p, trained in pieces if "tool_response" in p)
    assert any(trained for p, trained in pieces if p == tokenizer.eos_token)
    result = train_sft(tiny, examples, config, tmp_path / "model")
    assert result.checked_examples == len(examples) and result.steps > 0
    assert result.last_loss is not None and result.first_loss is not None
    assert result.last_loss < result.first_loss  # it learns
    assert (tmp_path / "model" / "model.safetensors").is_file()


def test_the_job_trains_on_a_runs_sft_artefact_and_refuses_an_empty_one(
    settings: KisaSettings, tmp_path: Path
) -> None:
    from kisa_tasks.agent.stage import import_trajectories
    from kisa_tasks.artefacts import ArtefactStore, Partition
    from kisa_tasks.sft.stage import SFT_SCHEMA, run_sft_export
    from kisa_tasks.training.job import TINY, model_key, run_sft_job

    store = ArtefactStore.from_settings(settings)
    import_trajectories(store, REFERENCE, specialty="cardiology", run_id="train-1")
    run_sft_export(settings, specialty="cardiology", run_id="train-1")
    config = SFTJobConfig.from_yaml(CONFIGS / "sft_tiny.yaml").model_copy(
        update={"epochs": 1, "per_device_batch_size": 1, "gradient_accumulation_steps": 1}
    )
    result = run_sft_job(settings, specialty="cardiology", run_id="train-1", config=config,
                         model=TINY, work_dir=tmp_path)  # fmt: skip
    assert result["examples"] == store.read(Partition("sft", "cardiology", "train-1")).num_rows
    assert result["checked_examples"] == result["examples"] and result["steps"] > 0
    assert store.exists(f"{model_key('sft', 'cardiology', 'train-1')}/model.safetensors")
    store.write(Partition("sft", "cardiology", "train-empty"), [SFT_SCHEMA.empty_table()])
    with pytest.raises(DatasetRefused, match="the dataset is empty"):
        run_sft_job(settings, specialty="cardiology", run_id="train-empty", config=config,
                    model=TINY, work_dir=tmp_path / "empty")  # fmt: skip
    assert not (tmp_path / "empty" / "base").exists()  # refused before anything was built
