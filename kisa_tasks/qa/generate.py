"""QA synthesis over sub-graphs in rounds: generate, validate, calibrate,
regenerate what failed.

A seed asks for ``qa_per_seed`` questions (its slots). Slot 0 starts from the
seed's committed sub-graph, slot j from the sub-graph at sampling offset j.
A candidate that fails a validator or is too easy for the solvers goes to the
next round with the sub-graph at a fresh offset (the next sampling strategy
and another sampling seed), up to ``max_regenerations`` times. Each round is
one batch for the generator and one for each solver, so an LLM backend sees
many requests at once.
Every failed candidate is kept with its reason; a seed that never yields a
question is reported with the reasons of all its attempts.
"""

from __future__ import annotations

import functools
import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from kisa_tasks.judge import Judge
from kisa_tasks.qa.calibrate import RetrievalSolver, Solver, accuracy, is_correct
from kisa_tasks.qa.hints import masked_hints
from kisa_tasks.qa.kinds import question_type
from kisa_tasks.qa.plan import PlanError, QuestionPlan, plan_question
from kisa_tasks.qa.records import QAItem
from kisa_tasks.qa.templates import PARADIGM, PROMPT_VERSION, noun, phrase, render
from kisa_tasks.qa.validate import (
    Bounds,
    StepFn,
    check_answer_clue,
    check_bare_hops,
    check_clue_names,
    check_hops,
    check_leak,
    check_length,
    check_real_answer,
    check_unique,
)
from kisa_tasks.subgraphs.graph import EntityInfo, KnowledgeGraph, Subgraph
from kisa_tasks.subgraphs.sampling import SamplingError, sample_subgraph, subgraph_id
from kisa_tasks.vocabulary import STRATEGIES

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QAConfig:
    min_hops: int = 2
    max_hops: int = 6
    max_regenerations: int = 3
    max_solver_accuracy: float = 0.5  # above this a question is too easy
    bounds: Bounds = field(default_factory=Bounds)


@dataclass(frozen=True)
class GenTask:
    """One question to write: a seed's sub-graph at one attempt."""

    seed: str
    specialty: str
    subgraph: Subgraph
    subgraph_id: str
    rng_seed: int
    attempt: int = 0
    slot: int = 0

    @property
    def key(self) -> str:
        return f"{self.seed}#{self.slot}.{self.attempt}"


@dataclass(frozen=True)
class Candidate:
    item: QAItem
    plan: QuestionPlan


class Generator(Protocol):
    name: str
    prompt_version: str

    def generate(self, tasks: Sequence[GenTask]) -> list[Candidate | str]:
        """One candidate per task, or the reason none was written."""
        ...


class Entities(Protocol):
    """Names, types and aliases of the corpus's entities (``EvidenceCorpus``)."""

    @property
    def entities(self) -> Mapping[str, EntityInfo]: ...

    def name(self, entity_id: str) -> str: ...

    def aliases(self, entity_id: str) -> list[str]: ...


def item_from_plan(
    task: GenTask,
    plan: QuestionPlan,
    corpus: Entities,
    *,
    question: str,
    reasoning_path: str,
    entity_mapping: Sequence[tuple[str, str]],
    paradigm: str,
    generator: str,
    prompt_version: str,
    provenance: str | None = None,
) -> QAItem:
    return QAItem(
        seed=task.seed,
        seed_name=corpus.name(task.seed),
        specialty=task.specialty,
        strategy=task.subgraph.strategy,
        subgraph_id=task.subgraph_id,
        question=question,
        answer=plan.name(plan.answer),
        answer_id=plan.answer,
        answer_aliases=tuple(corpus.aliases(plan.answer)),
        reasoning_path=reasoning_path,
        entity_mapping=tuple(entity_mapping),
        path=plan.path,
        paradigm=paradigm,
        generator=generator,
        prompt_version=prompt_version,
        provenance=provenance,
        rng_seed=task.rng_seed,
        attempt=task.attempt,
        clue_names=tuple(
            dict.fromkeys(corpus.name(s.target) for steps in plan.clues.values() for s in steps)
        ),
        question_type=question_type(
            [step.relation for step in plan.hops],
            plan.type_of(plan.answer),
            plan.type_of(task.seed) if task.seed in plan.path else None,
        ),
    )


# (anchor clues, clues per intermediate entity, clues on the answer), fewest
# first: a question says no more than it needs to be unique.
# (anchor, per intermediate entity, on the answer). The answer always gets a
# clue: a seed graph holds a handful of a disease's effects, the literature
# hundreds, so "B causes which disease?" is unique only in the sample.
CLUE_LEVELS = ((2, 1, 1), (3, 2, 1), (4, 3, 2))


@dataclass
class RulesGenerator:
    """Templates over the path (``qa.templates``); offline and deterministic.

    With ``steps`` (the uniqueness check's graph access) a plan whose answer
    is not unique is retried with more clues (``CLUE_LEVELS``) before it is
    handed to the validators.
    """

    corpus: Entities
    config: QAConfig = field(default_factory=QAConfig)
    steps: Callable[[str], StepFn] | None = None
    name: str = "rules"
    prompt_version: str = PROMPT_VERSION

    def plan(self, task: GenTask) -> QuestionPlan:
        """The longest chain of the path whose middle is clued enough
        (``check_bare_hops``), with the fewest clues that make its answer
        unique; the full path's last plan when no chain qualifies (the
        validators then say why)."""
        fallback = None
        longest = max(min(len(task.subgraph.path) - 1, self.config.max_hops), self.config.min_hops)
        for hops in range(longest, self.config.min_hops - 1, -1):
            for anchor, per_node, on_answer in CLUE_LEVELS:
                try:
                    plan = plan_question(
                        task.subgraph,
                        task.subgraph_id,
                        self.corpus.entities,
                        min_hops=self.config.min_hops,
                        max_hops=hops,
                        anchor_clues=anchor,
                        clues_per_node=per_node,
                        answer_clues=on_answer,
                    )
                except PlanError:
                    if hops == longest:
                        raise  # the full path has no plan: say why
                    break  # a shorter chain (a rare seed's other end) may not either
                if hops == longest:
                    fallback = plan
                if check_bare_hops(plan) is not None:
                    break  # more clues cannot clue an entity with no neighbour off the path
                if self.steps is None or check_unique(plan, self.steps(task.seed)) is None:
                    return plan
        assert fallback is not None
        return fallback

    def generate(self, tasks: Sequence[GenTask]) -> list[Candidate | str]:
        out: list[Candidate | str] = []
        for task in tasks:
            try:
                plan = self.plan(task)
            except PlanError as exc:
                out.append(f"no_plan: {exc}")
                continue
            text = render(plan)
            item = item_from_plan(
                task,
                plan,
                self.corpus,
                question=text.question,
                reasoning_path=text.reasoning_path,
                entity_mapping=list(text.entity_mapping.items()),
                paradigm=PARADIGM,
                generator=self.name,
                prompt_version=self.prompt_version,
            )
            out.append(Candidate(item, plan))
        return out


def validate(candidate: Candidate, corpus: Entities, step: StepFn, bounds: Bounds) -> str | None:
    """The first validator that fails, or None."""
    item, plan = candidate.item, candidate.plan
    names = {e: [corpus.name(e), *corpus.aliases(e)] for e in plan.masked}
    return (
        check_hops(plan, bounds)
        or check_length(item.question, item.answer, bounds)
        or check_real_answer(item.answer, item.answer_id, plan.path)
        or check_leak(item.question, plan.masked, names)
        or check_clue_names(plan, corpus.name)
        # What a guided rollout reads is held to the question's standard.
        or check_leak(masked_hints(item), plan.masked, names, where="hint")
        or check_answer_clue(plan)
        or check_bare_hops(plan)
        or check_unique(plan, step)
    )


def sample_at(
    graph: KnowledgeGraph, seed: str, strategy: str, rng_seed: int, offset: int, max_depth: int
) -> tuple[Subgraph, int]:
    """The sub-graph at sampling ``offset`` from the run's (strategy, seed):
    the strategy ``offset`` places further in the fixed order, the seed plus
    ``offset``; offset 0 is the run's own choice."""
    base = strategy if strategy in STRATEGIES else STRATEGIES[0]
    chosen = STRATEGIES[(STRATEGIES.index(base) + offset) % len(STRATEGIES)]
    return sample_subgraph(graph, seed, chosen, rng_seed + offset, max_depth), rng_seed + offset


def slot_tasks(
    committed: GenTask,
    slots: int,
    graph: Callable[[], KnowledgeGraph],
    config: QAConfig,
) -> tuple[list[GenTask], list[str]]:
    """The first task of every slot of one seed (slot 0 is ``committed``) and
    the reasons of slots no sub-graph exists for."""
    tasks, reasons = [committed], []
    for slot in range(1, slots):
        try:
            sub, rng_seed = sample_at(
                graph(),
                committed.seed,
                committed.subgraph.strategy,
                committed.rng_seed,
                slot,
                config.max_hops,
            )
        except SamplingError as exc:
            reasons.append(f"slot {slot}: no_subgraph: {exc}")
            continue
        tasks.append(
            replace(
                committed,
                subgraph=sub,
                rng_seed=rng_seed,
                slot=slot,
                subgraph_id=subgraph_id(committed.seed, sub.strategy, rng_seed),
            )
        )
    return tasks, reasons


@dataclass
class Outcome:
    items: list[QAItem] = field(default_factory=list)
    rejected: list[tuple[str, str, QAItem | None]] = field(
        default_factory=list
    )  # key, reason, item
    skipped: dict[str, list[str]] = field(default_factory=dict)  # seed -> reasons of its attempts
    counts: Counter[str] = field(default_factory=Counter)


def synthesise(
    first: Sequence[GenTask],
    generator: Generator,
    corpus: Entities,
    *,
    steps: Callable[[str], StepFn],
    graphs: Callable[[str], KnowledgeGraph],
    solvers: Sequence[Solver],
    config: QAConfig,
    slots: int = 1,
    judge: Judge | None = None,
) -> Outcome:
    """Run the rounds over the committed sub-graphs ``first`` (one task per
    seed). ``steps(seed)`` checks uniqueness in the seed's graph; ``graphs(seed)``
    loads it for other samples (only when needed). ``judge`` judges the
    solvers' answers (the rules alone when None)."""
    out = Outcome()
    reasons: dict[str, list[str]] = {}
    pending: list[GenTask] = []
    for task in first:
        tasks, unsampled = slot_tasks(task, slots, functools.partial(graphs, task.seed), config)
        pending.extend(tasks)
        reasons.setdefault(task.seed, []).extend(unsampled)
    first_of = {t.seed: t for t in first}
    for attempt in range(config.max_regenerations + 1):
        if not pending:
            break
        candidates = generator.generate(pending)
        out.counts["generated"] += len(pending)
        out.counts.update(f"generated_strategy_{t.subgraph.strategy}" for t in pending)
        valid: list[tuple[GenTask, Candidate]] = []
        failed: list[GenTask] = []
        for task, candidate in zip(pending, candidates, strict=True):
            reason = candidate if isinstance(candidate, str) else None
            if reason is None and not isinstance(candidate, str):
                reason = validate(candidate, corpus, steps(task.seed), config.bounds)
                if reason is None:
                    valid.append((task, candidate))
                    continue
            assert reason is not None
            _reject(
                out, reasons, task, reason, None if isinstance(candidate, str) else candidate.item
            )
            failed.append(task)
        calibrated = _calibrate(
            [c.item for _, c in valid], [c.plan for _, c in valid], solvers, judge
        )
        found = shortcuts([c for _, c in valid], corpus, solvers)
        for (task, _), item in zip(valid, calibrated, strict=True):
            too_easy = (
                item.solver_accuracy is not None
                and item.solver_accuracy > config.max_solver_accuracy
            )
            if item.qa_id in found:
                _reject(out, reasons, task, found[item.qa_id], item)
                failed.append(task)
            elif solvers and item.solver_accuracy is None:
                # Every solver call failed: not calibrated, so not done; a
                # rerun asks again (answers that came back are cached).
                _reject(out, reasons, task, "uncalibrated: no solver answered", item)
                failed.append(task)
            elif too_easy:
                _reject(
                    out,
                    reasons,
                    task,
                    f"too_easy: solver accuracy {item.solver_accuracy:.2f}",
                    item,
                )
                failed.append(task)
            else:
                out.items.append(item)
                if attempt:
                    out.counts["regenerated_ok"] += 1
        log.info(
            "qa round %d: %d asked, %d accepted, %d to regenerate",
            attempt,
            len(pending),
            len(pending) - len(failed),
            len(failed),
        )
        pending = []
        if attempt == config.max_regenerations:
            break
        for task in failed:
            origin = first_of[task.seed]
            offset = task.slot + (attempt + 1) * slots  # distinct across slots and attempts
            try:
                sub, rng_seed = sample_at(
                    graphs(task.seed),
                    task.seed,
                    origin.subgraph.strategy,
                    origin.rng_seed,
                    offset,
                    config.max_hops,
                )
            except SamplingError as exc:
                reasons.setdefault(task.seed, []).append(
                    f"slot {task.slot} attempt {attempt + 1}: no_subgraph: {exc}"
                )
                continue
            pending.append(
                replace(
                    task,
                    subgraph=sub,
                    rng_seed=rng_seed,
                    attempt=attempt + 1,
                    subgraph_id=subgraph_id(task.seed, sub.strategy, rng_seed),
                )
            )
    accepted = {i.seed for i in out.items}
    out.skipped = {seed: r for seed, r in sorted(reasons.items()) if seed not in accepted}
    out.counts["accepted"] = len(out.items)
    out.counts["seeds_without_question"] = len(out.skipped)
    return out


def _reject(
    out: Outcome, reasons: dict[str, list[str]], task: GenTask, reason: str, item: QAItem | None
) -> None:
    kind = reason.split(":", 1)[0]
    out.counts[f"rejected_{kind}"] += 1
    out.rejected.append((task.key, reason, item))
    reasons.setdefault(task.seed, []).append(f"slot {task.slot} attempt {task.attempt}: {reason}")


def clue_probe(plan: QuestionPlan, corpus: Entities) -> str | None:
    """The answer's own clues as a question of their own ("Which disease is
    caused by Levodopa?"), or None when the answer has no clue."""
    clues = plan.clues.get(plan.answer, ())
    if not clues:
        return None
    said = " and ".join(f"{phrase(step)} {corpus.name(step.target)}" for step in clues)
    return f"Which {noun(plan.type_of(plan.answer))} {said}?"


def shortcuts(
    candidates: Sequence[Candidate], corpus: Entities, solvers: Sequence[Solver]
) -> dict[str, str]:
    """qa_id -> why the item is a shortcut: the offline searcher (the
    ``retrieval`` solver) finds its answer from the answer's clues alone, so
    the path in front of them is decoration. Asked of the corpus, not the
    seed graph: in a seed graph an answer's other neighbours are mostly
    leaves, so the graph would call almost every answer clue a shortcut."""
    searchers = [s for s in solvers if isinstance(s, RetrievalSolver)]
    probes = {}
    for candidate in candidates:
        probe = clue_probe(candidate.plan, corpus)
        if probe is not None:
            probes[candidate.item.qa_id] = (replace(candidate.item, question=probe), candidate)
    found: dict[str, str] = {}
    items = [item for item, _ in probes.values()]
    types = {q: c.plan.type_of(c.plan.answer) for q, (_, c) in probes.items()}
    for searcher in searchers:
        for qa_id, given in searcher.answer_all(items, types).items():
            item = probes[qa_id][0]
            if any(is_correct(a, item) for a in given):
                found[qa_id] = (
                    f"shortcut: a search for the answer's clue alone ({item.question!r}) finds it"
                )
    return found


def _calibrate(
    items: Sequence[QAItem],
    plans: Sequence[QuestionPlan],
    solvers: Sequence[Solver],
    judge: Judge | None,
) -> list[QAItem]:
    """Items with their solver accuracy: the highest of any solver's."""
    if not items or not solvers:
        return list(items)
    types = {item.qa_id: plan.type_of(plan.answer) for item, plan in zip(items, plans, strict=True)}
    answers = [solver.answer_all(items, types) for solver in solvers]
    out = []
    for item in items:
        # The strongest solver decides: too easy for any one is too easy.
        scores = [accuracy(item, given.get(item.qa_id, []), judge) for given in answers]
        known = [s for s in scores if s is not None]
        out.append(
            replace(
                item,
                solver_accuracy=max(known) if known else None,
                solver_answers=sum(len(given.get(item.qa_id, [])) for given in answers),
            )
        )
    return out
