"""Training on a CUDA GPU (gpu marker): skipped, saying why, where torch
sees none. benchmarks/training_steps.py measures the same paths at size."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        not torch.cuda.is_available(), reason="no CUDA GPU visible to torch on this machine"
    ),
]

REFERENCE = Path(__file__).parents[1] / "fixtures" / "reference" / "react_trajectory_sample.jsonl"
CONFIGS = Path(__file__).parents[2] / "training_jobs" / "configs"


def test_sft_runs_on_the_gpu_in_bf16(tmp_path: Path) -> None:
    from kisa_tasks.training.sft import SFTJobConfig, sft_args, train_sft
    from kisa_tasks.training.sft_data import prepare
    from kisa_tasks.training.tiny import TinyShape, build_tiny_model

    rows = [json.loads(line) for line in REFERENCE.read_text().splitlines() if line.strip()]
    examples = prepare(
        [{"trajectory_id": str(i), "messages": r["messages"]} for i, r in enumerate(rows)]
    ).examples
    texts = [m["content"] for e in examples for m in e["messages"]]
    model = build_tiny_model(texts, tmp_path / "base", TinyShape())
    config = SFTJobConfig.from_yaml(CONFIGS / "sft_tiny.yaml").model_copy(update={"epochs": 1})
    args = sft_args(config, tmp_path / "args")
    assert args.bf16 and not args.use_cpu
    result = train_sft(model, examples, config, tmp_path / "sft")
    assert result.steps > 0 and result.checked_examples == len(examples)
