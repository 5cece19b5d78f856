"""GRPO with TRL's ``GRPOTrainer`` from the SFT checkpoint, over agent rollouts.

Each completion is a whole agent rollout, not one reply: ``AgentRollouts``
(TRL's ``rollout_func``) runs the project's agent loop with the policy model
itself writing the assistant turns and the real tools (search, visit over
the run's corpus) answering them. The tokens the model sampled are trained;
the tool outputs between them are masked (``env_mask``). The reward is the
paper's composite (``rewards.py``), logged term by term.

Settings follow the paper (group size 4, temperature 0.7, clip 0.2, no KL
term). Curriculum: prompts ordered by hop count, fewest first, and not
shuffled, so training meets the 2-hop questions before the 4-hop ones.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from kisa_tasks.agent.loop import Limits, Message, run_agent
from kisa_tasks.agent.mtg import SYSTEM_PROMPT
from kisa_tasks.agent.react import tools_prompt
from kisa_tasks.agent.tools import Toolbox
from kisa_tasks.training.rewards import REWARDS, weights
from kisa_tasks.training.sft import OptimiserConfig, trainer_args

log = logging.getLogger(__name__)


class GRPOJobConfig(OptimiserConfig):
    max_steps: int = Field(ge=1)
    group_size: int = Field(ge=2, description="completions per prompt (G)")
    prompts_per_step: int = Field(ge=1)
    temperature: float = Field(gt=0)
    clip: float = Field(gt=0, lt=1, description="PPO-style ratio clip epsilon")
    kl_beta: float = Field(ge=0, description="0: no KL term and no reference model")
    max_turns: int = Field(ge=1, description="assistant turns per rollout")
    max_new_tokens: int = Field(ge=1, description="tokens per assistant turn")
    reward_a: float = Field(ge=0, description="weight of r_task")
    reward_b: float = Field(ge=0, description="weight of r_expert")
    reward_g: float = Field(ge=0, description="weight of r_efficiency (subtracted)")
    expert: Literal["rules", "llm"] = "rules"


@dataclass(frozen=True)
class GRPOResult:
    model_dir: str
    prompts: int
    steps: int
    rollouts: int
    completion_tokens: int
    train_seconds: float
    tokens_per_s: float
    mean_reward: float | None
    rewards: dict[str, float]  # mean of each term over the run
    terminations: dict[str, int]
    expert_fallbacks: int = 0  # rollouts the rubric scored: the llm expert gave no score


def prompt_rows(qa_rows: Sequence[Mapping[str, Any]], toolbox: Toolbox) -> list[dict[str, Any]]:
    """GRPO prompts from QA rows, in curriculum order (hops, then qa_id):
    the agent's opening (system prompt, tools and question) plus what the
    rewards need."""
    schemas = toolbox.schemas()
    ordered = sorted(qa_rows, key=lambda r: (int(r["hops"]), str(r["qa_id"])))
    return [
        {
            "prompt": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": tools_prompt(schemas, r["question"])},
            ],
            "question": r["question"],
            "answer": r["answer"],
            "aliases": list(r.get("answer_aliases") or []),
            "hops": int(r["hops"]),
            "qa_id": r["qa_id"],
        }
        for r in ordered
    ]


class TokenTrace:
    """One rollout's tokens as TRL needs them: the prompt's ids, then every
    sampled token (trained, mask 1) and every token the environment added
    (the template's turn markers and the tool outputs: mask 0).

    The chat template must be prefix-preserving (TRL checks the same): the
    text of the conversation so far is then a prefix of its text after one
    more turn, and the tokens added are the difference."""

    def __init__(self, tokenizer: Any, prompt: Sequence[Message]) -> None:
        self.tokenizer = tokenizer
        self.prompt_ids: list[int] = self._ids(self._render(prompt, True))
        self.completion_ids: list[int] = []
        self.mask: list[int] = []
        self.consumed = len(prompt)

    def _render(self, messages: Sequence[Message], generation_prompt: bool) -> str:
        return str(
            self.tokenizer.apply_chat_template(
                list(messages), tokenize=False, add_generation_prompt=generation_prompt
            )
        )

    def _ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    @property
    def context(self) -> list[int]:
        return self.prompt_ids + self.completion_ids

    def sampled(self, ids: Sequence[int]) -> None:
        self.completion_ids += list(ids)
        self.mask += [1] * len(ids)

    def environment(self, messages: Sequence[Message]) -> None:
        """Add what follows the last sampled turn up to the next generation
        prompt: the end of that turn, the tool outputs, the next header."""
        if len(messages) <= self.consumed:
            return
        last = self.consumed  # index of the assistant turn just sampled
        before = self._render(messages[:last], True) + messages[last]["content"]
        after = self._render(messages, True)
        tail = after[len(before) :]
        eos = self.tokenizer.eos_token
        if self.completion_ids and self.completion_ids[-1] == self.tokenizer.eos_token_id:
            tail = tail.removeprefix(eos)  # the model closed its turn itself: already sampled
        added = self._ids(tail)
        self.completion_ids += added
        self.mask += [0] * len(added)
        self.consumed = len(messages)


class ModelPolicy:
    """The agent loop's policy: the training model samples each turn from the
    exact token context the trace holds (no re-tokenisation of its own text)."""

    def __init__(self, model: Any, tokenizer: Any, trace: TokenTrace, config: GRPOJobConfig):
        self.model, self.tokenizer, self.trace, self.config = model, tokenizer, trace, config

    def __call__(self, messages: Sequence[Message]) -> str:
        import torch

        if len(messages) > self.trace.consumed:
            self.trace.environment(messages)
        context = torch.tensor([self.trace.context], device=self.model.device)
        with torch.no_grad():
            out = self.model.generate(
                input_ids=context,
                attention_mask=torch.ones_like(context),
                do_sample=True,
                temperature=self.config.temperature,
                top_p=1.0,
                top_k=0,
                max_new_tokens=self.config.max_new_tokens,
                eos_token_id=self.tokenizer.eos_token_id,
                pad_token_id=self.tokenizer.pad_token_id,
            )
        ids = out[0, context.shape[1] :].tolist()
        self.trace.sampled(ids)
        return str(self.tokenizer.decode(ids, skip_special_tokens=True))


class AgentRollouts:
    """TRL ``rollout_func``: one agent rollout per prompt it is handed (TRL
    has already repeated each prompt ``group_size`` times)."""

    def __init__(
        self,
        toolbox: Toolbox,
        config: GRPOJobConfig,
        expert: Callable[[str, Sequence[Message]], float] | None = None,
    ) -> None:
        self.toolbox, self.config, self.expert = toolbox, config, expert
        self.expert_unscored = 0  # llm expert calls that failed: the rubric scored those
        self.terminations: dict[str, int] = {}
        self.rollouts = 0
        self.completion_tokens = 0

    def __call__(self, prompts: list[Any], trainer: Any) -> dict[str, Any]:
        model = trainer.accelerator.unwrap_model(trainer.model)
        tokenizer = trainer.processing_class
        limits = Limits(max_turns=self.config.max_turns, max_tool_calls=4 * self.config.max_turns)
        out: dict[str, list[Any]] = {k: [] for k in ("prompt_ids", "completion_ids", "env_mask")}
        out |= {"trajectory": [], "termination": [], "expert_score": []}
        for prompt in prompts:
            trace = TokenTrace(tokenizer, prompt)
            question = prompt[-1]["content"].rsplit("User: ", 1)[-1].strip()
            rollout = run_agent(
                ModelPolicy(model, tokenizer, trace, self.config),
                self.toolbox,
                prompt[0]["content"],
                question,
                limits,
            )
            if not trace.completion_ids:  # the model could not be asked at all
                raise RuntimeError(f"rollout produced no tokens: {rollout.detail}")
            out["prompt_ids"].append(trace.prompt_ids)
            out["completion_ids"].append(trace.completion_ids)
            out["env_mask"].append(trace.mask)
            out["trajectory"].append(json.dumps(rollout.messages[len(prompt) :]))
            out["termination"].append(rollout.termination)
            out["expert_score"].append(self._expert(question, rollout.messages[len(prompt) :]))
            self.terminations[rollout.termination] = (
                self.terminations.get(rollout.termination, 0) + 1
            )
            self.rollouts += 1
            self.completion_tokens += sum(trace.mask)
        return out | {"logprobs": None}

    def _expert(self, question: str, messages: Sequence[Message]) -> float | None:
        if self.expert is None:
            return None
        try:
            return self.expert(question, messages)
        except Exception as exc:  # noqa: BLE001 - one failed judge call costs one score
            log.warning("expert judge failed, rubric scores this rollout: %s", exc)
            self.expert_unscored += 1
            return None


def grpo_args(config: GRPOJobConfig, output_dir: Path, report_to: str = "none") -> Any:
    from trl.trainer.grpo_config import GRPOConfig

    batch = config.group_size * config.prompts_per_step
    return GRPOConfig(
        num_generations=config.group_size,
        per_device_train_batch_size=batch,  # one generation round = one optimiser step: on-policy
        gradient_accumulation_steps=1,
        max_completion_length=config.max_turns * config.max_new_tokens * 4,
        temperature=config.temperature,
        epsilon=config.clip,
        beta=config.kl_beta,
        loss_type="grpo",
        reward_weights=weights(config.reward_a, config.reward_b, config.reward_g),
        shuffle_dataset=False,  # the curriculum is the dataset's order
        max_steps=config.max_steps,
        run_name="grpo",
        **trainer_args(config, output_dir, report_to),
    )


def train_grpo(
    model_dir: Path,
    rows: list[dict[str, Any]],
    toolbox: Toolbox,
    config: GRPOJobConfig,
    output_dir: Path,
    report_to: str = "none",
    expert: Callable[[str, Sequence[Message]], float] | None = None,
) -> GRPOResult:
    """GRPO from the checkpoint in ``model_dir`` (a local directory) on the
    prompts ``rows`` (``prompt_rows``); the model is saved in ``output_dir``."""
    import os

    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl.trainer.grpo_trainer import GRPOTrainer

    if not model_dir.is_dir():
        raise FileNotFoundError(f"no model at {model_dir}: give a local directory")
    if not rows:
        raise ValueError("no GRPO prompts: the QA training split is empty")
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # rollout_func is marked experimental
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), local_files_only=True)
    rollouts = AgentRollouts(toolbox, config, expert)
    reward_funcs: list[Any] = list(REWARDS.values())  # named defs: see rewards.py
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=reward_funcs,
        args=grpo_args(config, output_dir, report_to),
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        rollout_func=rollouts,
    )
    started = time.perf_counter()
    output = trainer.train()
    took = time.perf_counter() - started
    history = trainer.state.log_history
    rewards = {
        name: _mean(
            [
                e[f"rewards/{fn.__name__}/mean"]
                for e in history
                if f"rewards/{fn.__name__}/mean" in e
            ]
        )
        for name, fn in REWARDS.items()
    }
    trainer.save_model(str(output_dir))
    tokenizer.save_pretrained(str(output_dir))
    return GRPOResult(
        model_dir=str(output_dir),
        prompts=len(rows),
        steps=int(output.global_step),
        rollouts=rollouts.rollouts,
        completion_tokens=rollouts.completion_tokens,
        train_seconds=round(took, 2),
        tokens_per_s=round(rollouts.completion_tokens / took, 1) if took else 0.0,
        mean_reward=_mean([e["reward"] for e in history if "reward" in e]),
        rewards={k: v for k, v in rewards.items() if v is not None},
        terminations=dict(sorted(rollouts.terminations.items())),
        expert_fallbacks=rollouts.expert_unscored,
    )


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None
