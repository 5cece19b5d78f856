"""Evaluation: the agent, driven by the model under test through an
OpenAI-compatible endpoint, answers each benchmark question k times with the
real tools; every attempt is judged and kept (``evaluations/`` partition),
and the summary (Pass@1, Pass@k, tool calls, terminations) goes to MLflow.
Attempts are judged by ``kisa_tasks.judge.Judge``: the rules by default, the
LLM judge too when one is given (its name is each row's ``judge``).

Attempts are sampled (temperature 0.7) with a seed per (question, attempt),
so a rerun asks the same things and, through the response cache, gets the
same answers.
"""

from __future__ import annotations

import concurrent.futures
import functools
import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from kisa_tasks.agent.loop import Limits, run_agent
from kisa_tasks.agent.mtg import SYSTEM_PROMPT
from kisa_tasks.agent.policies import LLMPolicy
from kisa_tasks.agent.tools import Toolbox
from kisa_tasks.artefacts import register_stage
from kisa_tasks.evaluation.benchmarks import BenchmarkItem
from kisa_tasks.evaluation.metrics import Attempt
from kisa_tasks.judge import Judge
from kisa_tasks.llm.client import Sampling
from kisa_tasks.llm.sync import LLMGateway

log = logging.getLogger(__name__)

EVALUATIONS_SCHEMA = register_stage(
    "evaluations",
    pa.schema(
        [
            pa.field("attempt_id", pa.string(), nullable=False),
            pa.field("item_id", pa.string(), nullable=False),
            pa.field("attempt", pa.int32(), nullable=False),
            pa.field("source", pa.string(), nullable=False),
            pa.field("question", pa.string(), nullable=False),
            pa.field("reference", pa.string(), nullable=False),
            pa.field("answer", pa.string()),
            pa.field("correct", pa.bool_(), nullable=False),
            pa.field("termination", pa.string(), nullable=False),
            pa.field("tool_calls", pa.int32(), nullable=False),
            pa.field("turns", pa.int32(), nullable=False),
            pa.field("seconds", pa.float64(), nullable=False),
            pa.field("model", pa.string(), nullable=False),
            pa.field("judge", pa.string(), nullable=False),  # "rules" or "llm"
            pa.field("messages_json", pa.string(), nullable=False),
        ]
    ),
)


@dataclass(frozen=True)
class EvalSpec:
    k: int
    limits: Limits
    temperature: float = 0.7
    max_new_tokens: int = 256
    concurrency: int = 2


def attempt_seed(item_id: str, attempt: int) -> int:
    """A stable seed per (question, attempt).

    >>> attempt_seed("q1", 0) == attempt_seed("q1", 0) != attempt_seed("q1", 1)
    True
    """
    return int.from_bytes(hashlib.sha256(f"{item_id}:{attempt}".encode()).digest()[:4], "big")


def attempt_row(
    item: BenchmarkItem,
    attempt: int,
    model: str,
    rollout: Any,
    seconds: float,
    judge: Judge | None = None,
) -> dict[str, Any]:
    """One judged attempt; a judge that fails leaves it incorrect."""
    judge = judge or Judge()
    correct = rollout.answer is not None and (
        judge.verdict(item.question, [item.answer, *item.aliases], rollout.answer).correct
    )
    return {
        "attempt_id": f"{item.item_id}#{attempt}",
        "item_id": item.item_id,
        "attempt": attempt,
        "source": item.source,
        "question": item.question,
        "reference": item.answer,
        "answer": rollout.answer,
        "correct": bool(correct),
        "termination": rollout.termination,
        "tool_calls": rollout.tool_calls,
        "turns": rollout.turns,
        "seconds": round(seconds, 3),
        "model": model,
        "judge": judge.name,
        "messages_json": json.dumps(rollout.messages),
    }


def as_attempt(row: dict[str, Any]) -> Attempt:
    return Attempt(
        row["item_id"], row["correct"], row["tool_calls"], row["termination"], row["seconds"]
    )


def evaluate(
    items: Sequence[BenchmarkItem],
    toolbox: Toolbox,
    gateway: LLMGateway,
    model: str,
    spec: EvalSpec,
    on_done: Callable[[int, int], None] = lambda done, total: None,
    judge: Judge | None = None,
) -> list[dict[str, Any]]:
    """k judged attempts per item, in (item, attempt) order; ``judge``
    defaults to the rules."""
    judge = judge or Judge()
    jobs = [(item, a) for item in items for a in range(spec.k)]

    def one(job: tuple[BenchmarkItem, int]) -> dict[str, Any]:
        item, a = job
        sampling = Sampling(
            temperature=spec.temperature,
            max_tokens=spec.max_new_tokens,
            seed=attempt_seed(item.item_id, a),
        )
        started = time.perf_counter()
        rollout = run_agent(
            LLMPolicy(gateway, sampling=sampling),
            toolbox,
            SYSTEM_PROMPT,
            item.question,
            spec.limits,
        )
        return attempt_row(item, a, model, rollout, time.perf_counter() - started, judge)

    rows: list[dict[str, Any] | None] = [None] * len(jobs)
    with concurrent.futures.ThreadPoolExecutor(spec.concurrency) as pool:
        futures = {pool.submit(one, job): i for i, job in enumerate(jobs)}
        for done, future in enumerate(concurrent.futures.as_completed(futures), start=1):
            rows[futures[future]] = future.result()
            on_done(done, len(jobs))
    return [r for r in rows if r is not None]


def endpoint_gateway(settings: Any, base_url: str, model: str, cache: bool) -> LLMGateway:
    """A gateway to the model under test with the configured limits. Cache
    only where ``model`` names the weights themselves (a served model's
    digest alias): an endpoint's fixed name may serve retrained weights."""
    from kisa_tasks.llm.client import client_from_settings

    options: dict[str, Any] = {"base_url": base_url, "model": model}
    if not cache:
        options["cache"] = None
    return LLMGateway(functools.partial(client_from_settings, settings, **options))
