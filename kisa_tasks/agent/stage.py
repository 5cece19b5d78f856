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

import concurrent.futures
import functools
import hashlib
import json
import logging
import re
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from kisa_tasks.agent.efficiency import efficiency_counts
from kisa_tasks.agent.external import judge_external
from kisa_tasks.agent.loop import Limits, Message, Policy, Rollout, run_agent
from kisa_tasks.agent.mtg import (
    AGENT_PROMPT_VERSION,
    SYSTEM_PROMPT,
    guided_question,
    masked_guidance,
)
from kisa_tasks.agent.policies import LLMPolicy, ToolCallPolicy
from kisa_tasks.agent.post import Filters, decoy, judge, reject_reason
from kisa_tasks.agent.react import tools_prompt
from kisa_tasks.agent.rewrite import PROMPT_VERSION as REWRITE_PROMPT_VERSION
from kisa_tasks.agent.rewrite import rewrite_thoughts
from kisa_tasks.agent.scripted import Researcher, ScriptPolicy, parse_hints
from kisa_tasks.agent.select import Candidate, difficulty, rollout_modes, select
from kisa_tasks.agent.solver import ExploreSolver
from kisa_tasks.agent.tools import FlakyToolbox, Searcher, Toolbox, search_tool, visit_tool
from kisa_tasks.artefacts import ArtefactStore, Partition, Rejection, register_stage
from kisa_tasks.judge import Judge
from kisa_tasks.llm.sync import LLMGateway
from kisa_tasks.qa.calibrate import Solver
from kisa_tasks.qa.decisions import rejected_by_review
from kisa_tasks.qa.records import QAItem
from kisa_tasks.qa.stage import load_corpus
from kisa_tasks.retrieval.adapters import medical_search_source
from kisa_tasks.retrieval.store import ensure_index
from kisa_tasks.settings import KisaSettings
from kisa_tasks.specialties import WHOLE_CORPUS
from kisa_tasks.triples.evidence import EvidenceCorpus

AGENT_BACKENDS = ("rules", "llm")
PROTOCOLS = ("react", "tool_calls")  # how an llm policy talks to the model
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
            # The conversation as rolled out, when ``messages`` has rewritten thoughts.
            pa.field("raw_messages", pa.list_(_MESSAGE), nullable=True),
            # The rollout's number among its item's, and the MTG hints it was
            # given (empty in explore mode): for audit only; ``messages`` opens
            # with the question alone, as the model sees it in training.
            pa.field("rollout", pa.int32(), nullable=False),
            pa.field("guidance", pa.string(), nullable=False),
            # Tool calls (numbered from 0) whose service failed during the
            # rollout, and how many of them the agent made again.
            pa.field("failed_calls", pa.list_(pa.int32()), nullable=False),
            pa.field("recovered", pa.int32(), nullable=False),
            # The item's agent difficulty: passing rollouts of all its rollouts.
            pa.field("item_rollouts", pa.int32(), nullable=False),
            pa.field("item_pass_rate", pa.float64(), nullable=False),
            pa.field("explore_pass_rate", pa.float64(), nullable=True),
            pa.field("question_type", pa.string(), nullable=False),
            # Where an LLM-made row came from (``llm.client.provenance``: prompt
            # and version, model, endpoint, weights); null for rows no model wrote.
            pa.field("provenance", pa.string(), nullable=True),
        ]
    ),
)


def trajectory_id(qa_id: str, mode: str, policy: str, seed: int, rollout: int = 0) -> str:
    # Rollout 0 keeps the id a single rollout per item always had.
    suffix = f"|{rollout}" if rollout else ""
    return hashlib.sha256(f"{qa_id}|{mode}|{policy}|{seed}{suffix}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Job:
    item: QAItem
    mode: str
    question: str  # what the policy is asked: the question, with the hints when guided
    policy: Policy
    rollout: int = 0
    guidance: str = ""
    key: str = ""  # seeds this rollout's tool failures (its trajectory id)


def roll_out(
    jobs: Sequence[Job],
    toolbox: Toolbox,
    limits: Limits,
    concurrency: int = 1,
    count_tokens: Callable[[str], int] | None = None,
    failure_rate: float = 0.0,
    seed: int = 0,
) -> list[Rollout]:
    """Rollouts in job order; ``concurrency`` at once (threads: the model
    and the tools wait on I/O; the scripted researcher runs one at a time).
    With ``failure_rate`` each tool call fails with that probability, seeded
    by ``seed`` and the job's key (``FlakyToolbox``)."""

    done = 0
    lock = threading.Lock()
    every = max(1, len(jobs) // 10)  # about ten progress lines in the task log

    def one(job: Job) -> Rollout:
        nonlocal done
        tools = FlakyToolbox.over(toolbox, failure_rate, job.key, seed) if failure_rate else toolbox
        rollout = run_agent(
            job.policy, tools, SYSTEM_PROMPT, job.question, limits, count_tokens=count_tokens
        )
        with lock:
            done += 1
            if done % every == 0 or done == len(jobs):
                log.info("trajectories: %d/%d rolled out", done, len(jobs))
        return rollout

    if concurrency <= 1:
        return [one(job) for job in jobs]
    with concurrent.futures.ThreadPoolExecutor(max_workers=concurrency) as pool:
        return list(pool.map(one, jobs))


def rollout_row(
    rollout: Rollout,
    *,
    trajectory: str,
    qa_id: str,
    seed: str,
    specialty: str,
    mode: str,
    policy: str,
    number: int = 0,
    guidance: str = "",
    question_type: str = "",
    provenance: str | None = None,
) -> dict[str, Any]:
    """A ``TRAJECTORIES_SCHEMA`` row (ours or an imported one); the item's
    difficulty is filled in once all its rollouts are judged."""
    return {
        "trajectory_id": trajectory,
        "qa_id": qa_id,
        "seed": seed,
        "specialty": specialty,
        "mode": mode,
        "policy": policy,
        "messages": rollout.messages,
        "answer": rollout.answer or "",
        "termination": rollout.termination,
        "tool_calls": rollout.tool_calls,
        "turns": rollout.turns,
        "raw_messages": None,
        "rollout": number,
        "guidance": guidance,
        "failed_calls": rollout.failed_calls,
        "recovered": rollout.recovered,
        "item_rollouts": 1,
        "item_pass_rate": 0.0,
        "explore_pass_rate": None,
        "question_type": question_type,
        "provenance": provenance,
    }


def as_asked(messages: Sequence[Message], toolbox: Toolbox, question: str) -> list[Message]:
    """The conversation with its opening user turn holding the question
    alone: MTG guides the rollout, the training pair is (question, trajectory)."""
    return [
        dict(messages[0]),
        {"role": "user", "content": tools_prompt(toolbox.schemas(), question)},
        *(dict(m) for m in messages[2:]),
    ]


# How a guided model might echo its hints; none of it may reach training.
_GUIDANCE_ECHO = re.compile(r"\bEntity [A-Z]\b|\bTarget_Entity\b|\bClue_\d+\b|\bhints?\b", re.I)


def guidance_echo(messages: Sequence[Message]) -> str | None:
    """The first trace of the MTG hints in an assistant turn, or None."""
    for message in messages:
        if message["role"] == "assistant" and (found := _GUIDANCE_ECHO.search(message["content"])):
            return found.group(0)
    return None


def explore_solver(settings: KisaSettings, corpus: EvidenceCorpus, run_id: str) -> Solver:
    """The offline researcher exploring each question on the run's tools: a
    QA calibration solver (``kisa_tasks.pipeline.EXPLORER``)."""
    store = ArtefactStore.from_settings(settings)
    return ExploreSolver(
        corpus_researcher(corpus),
        run_toolbox(settings, store, run_id),
        attempts=settings.qa.solver_attempts,
        failure_rate=settings.agent.tool_failure_rate,
    )


def corpus_researcher(corpus: EvidenceCorpus) -> Researcher:
    """The scripted researcher reading the corpus: entity mentions, names, and
    typed relations by the rules reader, only of documents it visits."""
    by_name: dict[str, str] = {}
    for entity, known in sorted(corpus.entities.items()):
        by_name.setdefault(known.name.casefold(), entity)

    def info(entity: str) -> tuple[str, str]:
        known = corpus.entities.get(entity)
        return (known.name, known.type) if known else (entity, "")

    return Researcher(
        corpus.entities_in,
        info,
        corpus.aliases,
        relations_in=lambda pmid: [(t.head, t.relation_type, t.tail) for t in corpus.triples(pmid)],
        resolve=lambda name: by_name.get(name.casefold()),
    )


def corpus_toolbox(
    index: Searcher, documents: Mapping[str, tuple[str, str]], medical: Searcher | None = None
) -> Toolbox:
    """The embedded default's tools: both searches over the corpus index
    (``medical_search`` over ``medical`` when given: PubMed), ``visit`` over
    its abstracts (pmid -> (title, text))."""
    return Toolbox(
        {
            "search": search_tool(index),
            "medical_search": search_tool(medical or index, "medical_search", "Search the "
                                          "medical literature (PubMed-like) with optional year "
                                          "filters."),
            "visit": visit_tool(documents.get),
        }
    )  # fmt: skip


def run_toolbox(settings: KisaSettings, store: ArtefactStore, run_id: str) -> Toolbox:
    """``corpus_toolbox`` over a run's whole corpus: its search index (built
    or fetched once per corpus) and its abstracts."""
    abstracts = Partition("abstracts", WHOLE_CORPUS, run_id)
    index = ensure_index(store, abstracts, settings.home / "index-cache").index
    texts = store.read(abstracts).select(["pmid", "title", "abstract"]).to_pylist()
    documents = {r["pmid"]: (r["title"] or "", r["abstract"] or "") for r in texts}
    return corpus_toolbox(index, documents, medical_search_source(settings, index))


def llm_policy(gateway: LLMGateway, protocol: str, toolbox: Toolbox) -> Policy:
    """The model as a policy, in ``protocol`` (one of ``PROTOCOLS``)."""
    if protocol == "tool_calls":
        return ToolCallPolicy(gateway, toolbox.schemas())
    return LLMPolicy(gateway)


@dataclass(frozen=True)
class RolloutConfig:
    specialty: str
    run_id: str
    backend: str = "rules"
    rng_seed: int = 0
    guided_share: float = 0.7
    limits: Limits = field(default_factory=lambda: Limits(max_turns=30, max_tool_calls=80))
    concurrency: int = 16
    protocol: str = "react"
    rollouts_per_item: int = 4
    failure_rate: float = 0.05
    keep_per_item: int = 1


def rollout_shard(
    settings: KisaSettings, config: RolloutConfig, shard: int = 0, shards: int = 1
) -> dict[str, Any]:
    """``k`` rollouts of every ``shards``-th train QA item from ``shard``,
    judged, filtered and selected: ``kept`` and ``rejected`` as (item
    position, rollout number, row[, reason]). Test items are never rolled
    out: nothing of them may reach training."""
    store = ArtefactStore.from_settings(settings)
    qa = store.read(Partition("qa", config.specialty, config.run_id)).to_pylist()
    kept: list[tuple[int, int, dict[str, Any]]] = []
    rejected: list[tuple[int, int, dict[str, Any], str]] = []
    counts: Counter[str] = Counter()
    # A reviewer's rejection (QA review page) keeps an item out of the rollouts.
    vetoed = rejected_by_review(store, config.specialty)
    positions = []
    for i in list(range(len(qa)))[shard::shards]:
        if qa[i].get("split") == "test":
            counts["test_items"] += 1
        elif qa[i]["qa_id"] in vetoed:
            row = {"qa_id": qa[i]["qa_id"], "seed": qa[i]["seed"]}
            rejected.append((i, 0, row, f"review_rejected: {vetoed[qa[i]['qa_id']] or 'no note'}"))
            counts["rejected_review"] += 1
        else:
            positions.append(i)
    items = [QAItem.from_row(qa[i]) for i in positions]
    if not items:
        return {"kept": kept, "rejected": rejected, "counts": dict(counts)}
    corpus, _ = load_corpus(store, config.specialty, config.run_id)
    toolbox = run_toolbox(settings, store, config.run_id)
    researcher = corpus_researcher(corpus)
    gateway = None
    policy_name = "rules"
    made_by: str | None = None
    filters = trajectory_filters(settings)
    count_tokens = None
    if config.backend == "llm":
        from kisa_tasks.llm.client import client_from_settings

        gateway = LLMGateway(functools.partial(client_from_settings, settings))
        policy_name = f"llm:{settings.llm.model}"
        made_by = gateway.client.provenance(AGENT_PROMPT_VERSION)
        count_tokens = filters.count_tokens

    jobs = []
    for item in items:
        hints = masked_guidance(item)
        modes = rollout_modes(item.qa_id, config.rng_seed, config.rollouts_per_item,
                              config.guided_share)  # fmt: skip
        for number, mode in enumerate(modes):
            mode = mode if hints else "explore"  # no reasoning path: nothing to guide by
            policy: Policy
            if gateway is None:
                policy = _scripted(researcher, item, hints, mode)
            else:
                policy = llm_policy(gateway, config.protocol, toolbox)
            key = trajectory_id(item.qa_id, mode, policy_name, config.rng_seed, number)
            asked = guided_question(item, hints) if mode == "guided" else item.question
            jobs.append(Job(item, mode, asked, policy, number, hints if mode == "guided" else "",
                            key))  # fmt: skip
    at_once = config.concurrency if gateway else 1
    try:
        rollouts = roll_out(jobs, toolbox, config.limits, at_once, count_tokens,
                            config.failure_rate, config.rng_seed)  # fmt: skip
        outcomes = [
            _outcome(job, rollout, toolbox, filters, gateway, policy_name, made_by)
            for job, rollout in zip(jobs, rollouts, strict=True)
        ]
        by_item: dict[str, list[tuple[Job, dict[str, Any], str | None]]] = {}
        for job, (row, reason, correct) in zip(jobs, outcomes, strict=True):
            by_item.setdefault(job.item.qa_id, []).append((job, row, reason))
            counts.update({f"mode_{job.mode}": 1, f"termination_{row['termination']}": 1,
                           "tool_calls": row["tool_calls"], "correct": int(correct),
                           "tool_calls_failed": len(row["failed_calls"])})  # fmt: skip
        groups = [by_item[item.qa_id] for item in items]
        candidates = [[_candidate(job, row, reason) for job, row, reason in g] for g in groups]
        chosen = select(candidates, config.guided_share, config.keep_per_item)
        for position, group, scored, picks in zip(positions, groups, candidates, chosen,
                                                  strict=True):  # fmt: skip
            hardness = difficulty(scored)
            counts["items"] += 1
            counts["items_solved"] += hardness.passed > 0
            counts[f"items_pass_rate_{hardness.pass_rate:.2f}"] += 1
            counts["passed"] += hardness.passed
            for job, row, reason in group:
                row.update(item_rollouts=hardness.rollouts, item_pass_rate=hardness.pass_rate,
                           explore_pass_rate=hardness.explore_pass_rate)  # fmt: skip
                if reason is None and job.rollout not in picks:
                    best = picks[0] if picks else None
                    reason = f"not_selected: rollout {best} of this item was kept"
                if reason is not None:
                    counts[f"rejected_{reason.split(':', 1)[0]}"] += 1
                    rejected.append((position, job.rollout, row, reason))
                    continue
                if gateway is not None and settings.agent.rewrite_thoughts:
                    # Tool calls and answers stay as they were, so the verdict holds.
                    edited = rewrite_thoughts(gateway, row["messages"])
                    row.update(messages=edited.messages, raw_messages=row["messages"])
                    if edited.rewritten:  # the thoughts are the rewriter's words now
                        prompts = f"{AGENT_PROMPT_VERSION}+{REWRITE_PROMPT_VERSION}"
                        row["provenance"] = gateway.client.provenance(prompts)
                    counts["thoughts_rewritten"] += edited.rewritten
                    counts["thoughts_rewrite_failed"] += edited.failed
                    counts["thoughts_rewrite_refused"] += edited.refused
                counts["kept_with_recovery"] += row["recovered"] > 0
                counts[f"kept_{job.mode}"] += 1
                kept.append((position, job.rollout, row))
    finally:
        toolbox.close()
        if gateway is not None:
            gateway.close()
    return {"kept": kept, "rejected": rejected, "counts": dict(counts)}


def _outcome(
    job: Job,
    rollout: Rollout,
    toolbox: Toolbox,
    filters: Filters,
    gateway: LLMGateway | None,
    policy_name: str,
    made_by: str | None = None,
) -> tuple[dict[str, Any], str | None, bool]:
    """The rollout's row (opening with the question alone), why it cannot be
    kept (None: it passes) and whether its answer was judged correct."""
    item = job.item
    # The filters (its length in tokens among them) see what training will.
    rollout.messages = as_asked(rollout.messages, toolbox, item.question)
    # Judged only when the filters let it through: a judge call costs.
    structural = reject_reason(rollout, True, filters)
    correct, failure = (judge(rollout, item), None) if structural else judged(gateway, job, rollout)
    row = rollout_row(
        rollout,
        trajectory=job.key,
        qa_id=item.qa_id,
        seed=item.seed,
        specialty=item.specialty,
        mode=job.mode,
        policy=policy_name,
        number=job.rollout,
        guidance=job.guidance,
        question_type=item.question_type,
        provenance=made_by,
    )
    reason = structural or failure or reject_reason(rollout, correct, filters)
    if reason is None and (echo := guidance_echo(row["messages"])):
        reason = f"guidance_echo: an assistant turn says {echo!r}"
    return row, reason, correct


def _candidate(job: Job, row: dict[str, Any], reason: str | None) -> Candidate:
    redundant = efficiency_counts(row["messages"], job.item.question).redundant
    return Candidate(job.rollout, job.mode, reason is None, redundant, row["tool_calls"],
                     row["recovered"])  # fmt: skip


def trajectory_filters(settings: KisaSettings) -> Filters:
    """The filters with lengths in the training tokenizer's tokens."""
    from kisa_tasks.llm.tokenizer import token_counter

    return Filters(
        max_tokens=settings.agent.max_trajectory_tokens,
        count_tokens=token_counter(settings.home / "tokenizers"),
    )


def run_trajectories(
    settings: KisaSettings,
    *,
    specialty: str,
    run_id: str,
    backend: str = "rules",
    rng_seed: int = 0,
    guided_share: float | None = None,
    limits: Limits | None = None,
    concurrency: int | None = None,
    protocol: str | None = None,
    ray_workers: int | None = None,
    rollouts_per_item: int | None = None,
    failure_rate: float | None = None,
) -> dict[str, Any]:
    """``k`` rollouts per committed train QA item of this run and specialty,
    the best passing one kept (mix, k, tool failure rate, concurrency and
    protocol from ``KISA_AGENT__*`` unless given). With a
    Ray cluster configured the stage runs there as a job, its items split
    over ``ray_workers`` tasks; the result is the same as in one process."""
    if backend not in AGENT_BACKENDS:
        raise ValueError(f"unknown agent backend {backend!r}; accepted: {AGENT_BACKENDS}")
    protocol = protocol or settings.agent.protocol
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; accepted: {PROTOCOLS}")
    if ray_workers is None and settings.ray.address:
        from kisa_tasks.agent.ray_rollouts import run_as_ray_job

        return run_as_ray_job(settings, specialty=specialty, run_id=run_id, backend=backend,
                              rng_seed=rng_seed)  # fmt: skip
    config = RolloutConfig(
        specialty=specialty,
        run_id=run_id,
        backend=backend,
        rng_seed=rng_seed,
        guided_share=settings.agent.guided_share if guided_share is None else guided_share,
        limits=limits or Limits(max_turns=30, max_tool_calls=80),
        concurrency=concurrency or settings.agent.concurrency,
        protocol=protocol,
        rollouts_per_item=rollouts_per_item or settings.agent.rollouts_per_item,
        failure_rate=(settings.agent.tool_failure_rate if failure_rate is None else failure_rate),
    )
    if ray_workers:
        from kisa_tasks.agent.ray_rollouts import ray_shards

        shards = ray_shards(settings, config, ray_workers)
    else:
        shards = [rollout_shard(settings, config)]
    kept = [entry[-1] for entry in sorted((k for s in shards for k in s["kept"]), key=_order)]
    rejected = [
        Rejection(row.get("trajectory_id") or row["qa_id"], reason, row)
        for *_, row, reason in sorted((r for s in shards for r in s["rejected"]), key=_order)
    ]
    counts: Counter[str] = Counter()
    for shard in shards:
        counts.update(shard["counts"])
    store = ArtefactStore.from_settings(settings)
    partition = Partition("trajectories", specialty, run_id)
    store.write(partition, [pa.Table.from_pylist(kept, schema=TRAJECTORIES_SCHEMA)], rejected)
    result = rollout_counts(counts, kept_rows=len(kept), rejected_rows=len(rejected))
    if ray_workers:
        result["ray_workers"] = ray_workers
    log.info("trajectories %s: %s", specialty, result)
    return {"uri": store.uri(partition.prefix), "counts": result}


def rollout_counts(counts: Counter[str], *, kept_rows: int, rejected_rows: int) -> dict[str, Any]:
    """The stage's MLflow metrics: rollouts, modes, terminations, rejections
    by reason, tool failures and recoveries, and the items' agent difficulty."""
    result: dict[str, Any] = dict(sorted(counts.items()))
    rollouts = counts["mode_guided"] + counts["mode_explore"]
    result.update(rollouts=rollouts, kept=kept_rows, rejected_rows=rejected_rows)
    if rollouts:
        result["accept_rate"] = round(kept_rows / rollouts, 4)
        result["mean_tool_calls"] = round(counts["tool_calls"] / rollouts, 3)
    if counts["tool_calls"]:
        result["tool_failure_share"] = round(counts["tool_calls_failed"] / counts["tool_calls"], 4)
    if counts["items"]:
        result["mean_item_pass_rate"] = round(counts["passed"] / rollouts, 4)
    if kept_rows:
        result["kept_guided_share"] = round(counts["kept_guided"] / kept_rows, 4)
    return result


def _order(entry: tuple[Any, ...]) -> tuple[int, int]:
    return int(entry[0]), int(entry[1])


def judged(gateway: LLMGateway | None, job: Job, rollout: Rollout) -> tuple[bool, str | None]:
    """(correct, why it could not be judged): the rules judge, then the LLM
    judge for what the rules reject (lists and hedges excepted) when a model
    is configured (``kisa_tasks.judge.Judge``)."""
    item = job.item
    if rollout.answer is None:
        return False, None
    probe = decoy(item.question, item.accepted, item.named)
    verdict = Judge(gateway).verdict(item.question, item.accepted, rollout.answer, probe)
    return verdict.correct, verdict.failure


def import_trajectories(
    store: ArtefactStore,
    path: Path,
    *,
    specialty: str,
    run_id: str,
    filters: Filters | None = None,
    judge: Judge | None = None,
) -> dict[str, Any]:
    """Commit outside ReAct trajectories as the ``trajectories`` partition of
    (specialty, run): replayed and judged like ours (``judge``; default the
    rules), kept ones in the table (so ``sft_export`` can take them), the
    others rejected with the reason."""
    kept: list[dict[str, Any]] = []
    rejected: list[Rejection] = []
    for verdict in judge_external(path, filters, judge):
        rollout = verdict.rollout
        key = hashlib.sha256(json.dumps(rollout.messages, sort_keys=True).encode()).hexdigest()
        trajectory = key[:16]
        row = rollout_row(
            rollout,
            trajectory=trajectory,
            qa_id=f"import:{path.name}:{verdict.line}",
            seed="",
            specialty=specialty,
            mode="import",
            policy="import",
        )
        if verdict.reason is None:
            kept.append(row)
        else:
            rejected.append(Rejection(trajectory, verdict.reason, row))
    partition = Partition("trajectories", specialty, run_id)
    store.write(partition, [pa.Table.from_pylist(kept, schema=TRAJECTORIES_SCHEMA)], rejected)
    return {"uri": store.uri(partition.prefix), "kept": len(kept), "rejected": len(rejected)}


def _scripted(researcher: Researcher, item: QAItem, hints: str, mode: str) -> Policy:
    plan = parse_hints(hints) if mode == "guided" else None
    script = researcher.guided(plan) if plan else researcher.explore(item.question)
    return ScriptPolicy(script)
