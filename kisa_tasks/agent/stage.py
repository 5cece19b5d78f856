"""The ``trajectories`` stage: committed QA items -> agent rollouts with
Masked Trajectory Guidance, judged and filtered, on S3.

Each item gets one rollout, guided or explore by a seeded 7:3 draw
(``agent.mtg``). ``rules``: the scripted researcher (``agent.scripted``)
with real tool calls on the corpus search engine; ``llm``: the configured
model writing ReAct turns. Kept trajectories go to ``trajectories/``; every
other rollout to ``rejected/trajectories/`` with its reason and the whole
conversation, so a reviewer sees why.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

import kisa_tasks.qa.records  # noqa: F401 - registers the qa schema
from kisa_tasks.agent.loop import Limits, Message, Policy, Rollout, run_agent
from kisa_tasks.agent.mtg import GUIDED_SHARE, SYSTEM_PROMPT, guidance, question_text
from kisa_tasks.agent.post import Filters, judge, reject_reason
from kisa_tasks.agent.scripted import Researcher, ScriptPolicy, parse_hints
from kisa_tasks.agent.tools import Toolbox, search_tool, visit_tool
from kisa_tasks.artefacts import ArtefactStore, Partition, Rejection, register_stage
from kisa_tasks.qa.records import QAItem
from kisa_tasks.qa.stage import load_corpus
from kisa_tasks.retrieval.store import ensure_index
from kisa_tasks.settings import KisaSettings
from kisa_tasks.specialties import WHOLE_CORPUS

if TYPE_CHECKING:
    from kisa_tasks.llm.client import LLMClient

AGENT_BACKENDS = ("rules", "llm")
log = logging.getLogger(__name__)

_MESSAGE = pa.struct(
    [
        pa.field("role", pa.string(), nullable=False),
        pa.field("content", pa.string(), nullable=False),
    ]
)
TRAJECTORIES_SCHEMA = register_stage(
    "trajectories",
    pa.schema(
        [
            pa.field("trajectory_id", pa.string(), nullable=False),
            pa.field("qa_id", pa.string(), nullable=False),
            pa.field("seed", pa.string(), nullable=False),
            pa.field("specialty", pa.string(), nullable=False),
            pa.field("mode", pa.string(), nullable=False),
            pa.field("policy", pa.string(), nullable=False),
            pa.field("messages", pa.list_(_MESSAGE), nullable=False),
            pa.field("answer", pa.string(), nullable=False),
            pa.field("termination", pa.string(), nullable=False),
            pa.field("tool_calls", pa.int32(), nullable=False),
            pa.field("turns", pa.int32(), nullable=False),
        ]
    ),
)


def trajectory_id(qa_id: str, mode: str, policy: str, seed: int) -> str:
    return hashlib.sha256(f"{qa_id}|{mode}|{policy}|{seed}".encode()).hexdigest()[:16]


class LLMPolicy:
    """The configured model writes each ReAct turn (text protocol)."""

    def __init__(self, make_client: Callable[[], LLMClient]) -> None:
        self.make_client = make_client

    def __call__(self, messages: Sequence[Message]) -> str:
        from kisa_tasks.llm.client import Sampling

        async def one() -> str:
            client = self.make_client()
            try:
                result = await client.complete(
                    list(messages), sampling=Sampling(temperature=0.0, max_tokens=1024)
                )
                return result.text
            finally:
                await client.aclose()

        return asyncio.run(one())


def rollout_row(
    item: QAItem, mode: str, policy: str, seed: int, rollout: Rollout
) -> dict[str, Any]:
    return {
        "trajectory_id": trajectory_id(item.qa_id, mode, policy, seed),
        "qa_id": item.qa_id,
        "seed": item.seed,
        "specialty": item.specialty,
        "mode": mode,
        "policy": policy,
        "messages": rollout.messages,
        "answer": rollout.answer or "",
        "termination": rollout.termination,
        "tool_calls": rollout.tool_calls,
        "turns": rollout.turns,
    }


def run_trajectories(
    settings: KisaSettings,
    *,
    specialty: str,
    run_id: str,
    backend: str = "rules",
    rng_seed: int = 0,
    guided_share: float = GUIDED_SHARE,
    limits: Limits | None = None,
) -> dict[str, Any]:
    """One rollout per committed QA item of this run and specialty."""
    if backend not in AGENT_BACKENDS:
        raise ValueError(f"unknown agent backend {backend!r}; accepted: {AGENT_BACKENDS}")
    limits = limits or Limits(max_turns=30, max_tool_calls=80)
    store = ArtefactStore.from_settings(settings)
    items = [QAItem.from_row(r) for r in store.read(Partition("qa", specialty, run_id)).to_pylist()]
    corpus, _ = load_corpus(store, specialty, run_id)
    abstracts = Partition("abstracts", WHOLE_CORPUS, run_id)
    index = ensure_index(store, abstracts, settings.home / "index-cache").index
    texts = store.read(abstracts).select(["pmid", "title", "abstract"]).to_pylist()
    documents = {r["pmid"]: (r["title"] or "", r["abstract"] or "") for r in texts}
    toolbox = Toolbox(
        {
            "search": search_tool(index),
            "medical_search": search_tool(index, "medical_search", "Search the medical "
                                          "literature (PubMed-like) with optional year filters."),
            "visit": visit_tool(documents.get),
        }
    )  # fmt: skip

    def info(entity: str) -> tuple[str, str]:
        known = corpus.entities.get(entity)
        return (known.name, known.type) if known else (entity, "")

    researcher = Researcher(corpus.entities_in, info, corpus.aliases)
    llm_policy: Policy | None = None
    policy_name = "rules"
    if backend == "llm":
        from kisa_tasks.llm.client import client_from_settings

        llm_policy = LLMPolicy(functools.partial(client_from_settings, settings))
        policy_name = f"llm:{settings.llm.model}"
    kept: list[dict[str, Any]] = []
    rejected: list[Rejection] = []
    counts: Counter[str] = Counter()
    try:
        for i, item in enumerate(items, start=1):
            hints = guidance(item, rng_seed, guided_share)
            policy = llm_policy or _scripted(researcher, item, hints.text, hints.mode)
            rollout = run_agent(policy, toolbox, SYSTEM_PROMPT, question_text(item, hints), limits)
            row = rollout_row(item, hints.mode, policy_name, rng_seed, rollout)
            correct = judge(rollout, item)
            reason = reject_reason(rollout, correct, Filters())
            counts.update({f"mode_{hints.mode}": 1, f"termination_{rollout.termination}": 1,
                           "tool_calls": rollout.tool_calls, "correct": int(correct)})  # fmt: skip
            if reason is None:
                kept.append(row)
            else:
                counts[f"rejected_{reason.split(':', 1)[0]}"] += 1
                rejected.append(Rejection(row["trajectory_id"], reason, row))
            if i % 20 == 0 or i == len(items):
                log.info("trajectories %s: %d/%d rolled out, %d kept", specialty, i,
                         len(items), len(kept))  # fmt: skip
    finally:
        toolbox.close()
    partition = Partition("trajectories", specialty, run_id)
    store.write(partition, [pa.Table.from_pylist(kept, schema=TRAJECTORIES_SCHEMA)], rejected)
    result: dict[str, Any] = dict(sorted(counts.items()))
    result.update(rollouts=len(items), kept=len(kept))
    if items:
        result["accept_rate"] = round(len(kept) / len(items), 4)
        result["mean_tool_calls"] = round(counts["tool_calls"] / len(items), 3)
    log.info("trajectories %s: %s", specialty, result)
    return {"uri": store.uri(partition.prefix), "counts": result}


def _scripted(researcher: Researcher, item: QAItem, hints: str, mode: str) -> Policy:
    plan = parse_hints(hints) if mode == "guided" else None
    script = researcher.guided(plan) if plan else researcher.explore(item.question)
    return ScriptPolicy(script)
