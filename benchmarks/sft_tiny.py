"""Tiny-model SFT on CPU: 200 examples (the reference ReAct trajectories,
repeated), the tiny recipe (training_jobs/configs/sft_tiny.yaml), with the
sequence length capped by --max-length. Prints wall time and tokens/s.

    .venv/bin/python benchmarks/sft_tiny.py [--examples 200] [--max-length 1024] [--epochs 1]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from kisa_tasks.training.sft import SFTJobConfig, train_sft
from kisa_tasks.training.sft_data import prepare
from kisa_tasks.training.tiny import TinyShape, build_tiny_model

ROOT = Path(__file__).parents[1]
REFERENCE = ROOT / "tests" / "fixtures" / "reference" / "react_trajectory_sample.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--max-length", type=int, default=1024)
    parser.add_argument("--epochs", type=float, default=1)
    args = parser.parse_args()
    rows = [json.loads(line) for line in REFERENCE.read_text().splitlines() if line.strip()]
    named = [{"trajectory_id": str(i), "messages": r["messages"]} for i, r in enumerate(rows)]
    base = prepare(named)
    examples = (base.examples * (args.examples // len(base.examples) + 1))[: args.examples]
    config = SFTJobConfig.from_yaml(ROOT / "training_jobs" / "configs" / "sft_tiny.yaml")
    config = config.model_copy(update={"max_length": args.max_length, "epochs": args.epochs})
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        texts = [m["content"] for e in examples for m in e["messages"]]
        model = build_tiny_model(texts, Path(tmp) / "base", TinyShape())
        built = time.perf_counter() - started
        result = train_sft(model, examples, config, Path(tmp) / "sft")
        total = time.perf_counter() - started
    print(
        f"{result.examples} examples, {result.tokens} tokens ({result.trained_tokens} trained), "
        f"{result.steps} steps: train {result.train_seconds} s, {result.tokens_per_s} tokens/s; "
        f"tokenizer+model build {built:.1f} s; total {total:.1f} s; "
        f"loss {result.first_loss:.3f} -> {result.last_loss:.3f}"
    )


if __name__ == "__main__":
    main()
