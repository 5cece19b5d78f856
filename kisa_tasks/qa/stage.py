"""The ``qa`` stage: committed sub-graphs -> validated, calibrated,
deduplicated QA items on S3, plus their export in the reference JSONL format.

Reads the run's ``subgraphs`` partition, the corpus abstracts and mentions
(names, aliases, and what the retrieval solver reads), and the seed graphs in
the graph store (uniqueness checks and regeneration). Writes ``qa/`` with
every refused candidate in ``rejected/qa/`` (its reason and, when one was
written, the item), and ``exports/qa/.../qa.jsonl``.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from kisa_tasks.artefacts import ArtefactStore, Partition, Rejection
from kisa_tasks.graph import GraphStore, open_graph_store
from kisa_tasks.judge import Judge
from kisa_tasks.llm.client import client_from_settings
from kisa_tasks.llm.sync import LLMGateway
from kisa_tasks.pipeline import resolve
from kisa_tasks.qa.calibrate import LLMSolver, RetrievalSolver, Solver
from kisa_tasks.qa.dedup import deduplicate
from kisa_tasks.qa.formats import read_jsonl, to_reference
from kisa_tasks.qa.generate import Generator, GenTask, QAConfig, RulesGenerator, synthesise
from kisa_tasks.qa.kinds import split_keys
from kisa_tasks.qa.records import QAItem, to_table
from kisa_tasks.qa.validate import Bounds, StepFn, graph_steps
from kisa_tasks.retrieval.index import CorpusIndex
from kisa_tasks.retrieval.store import ensure_index
from kisa_tasks.settings import KisaSettings
from kisa_tasks.specialties import WHOLE_CORPUS
from kisa_tasks.subgraphs.graph import Edge, KnowledgeGraph, Subgraph
from kisa_tasks.subgraphs.store_io import graph_id, load_seed_graph
from kisa_tasks.triples.evidence import EvidenceCorpus, run_evidence

QA_BACKENDS = ("rules", "llm")
EXPORT_PREFIX = "exports/qa"

log = logging.getLogger(__name__)


def subgraph_from_row(row: dict[str, Any]) -> Subgraph:
    edges = tuple(Edge(e["head"], e["relation_type"], e["tail"], e["weight"]) for e in row["edges"])
    return Subgraph(row["seed"], row["strategy"], tuple(row["path"]), tuple(row["nodes"]), edges)


def load_corpus(
    store: ArtefactStore, specialty: str, run_id: str
) -> tuple[EvidenceCorpus, list[dict[str, Any]]]:
    """The run's corpus (names, aliases, mentions per abstract) and its
    specialty's entities."""
    entities = store.read(Partition("entities", specialty, run_id)).to_pylist()
    idmap = {i: e["canonical_id"] for e in entities for i in e["identifiers"]}
    return run_evidence(store, run_id, idmap), entities


def first_tasks(rows: Sequence[dict[str, Any]], specialty: str, rng_seed: int) -> list[GenTask]:
    return [
        GenTask(
            seed=row["seed"],
            specialty=specialty,
            subgraph=subgraph_from_row(row),
            subgraph_id=row["subgraph_id"],
            rng_seed=rng_seed,
        )
        for row in sorted(rows, key=lambda r: r["seed"])
    ]


def qa_config(settings: KisaSettings) -> QAConfig:
    qa = settings.qa
    return QAConfig(
        min_hops=qa.min_hops,
        max_hops=qa.max_hops,
        max_regenerations=qa.max_regenerations,
        max_solver_accuracy=qa.max_solver_accuracy,
        bounds=Bounds(min_hops=qa.min_hops),
    )


def make_solvers(
    settings: KisaSettings,
    index: CorpusIndex,
    corpus: EvidenceCorpus,
    run_id: str,
    explorer: str | None = None,
) -> list[Solver]:
    """The calibration solvers the settings name. The agent exploring the
    question is built by ``explorer`` (``"module:function"``, given the
    settings, corpus and run): the agent package rolls out over QA items, so
    the pipeline list (``kisa_tasks.pipeline.EXPLORER``) hands it in rather
    than this package importing it."""
    solvers: list[Solver] = []
    for name in settings.qa.solvers:
        if name == "retrieval":

            def info(entity: str) -> tuple[str, str]:
                known = corpus.entities.get(entity)
                return (known.name, known.type) if known else (entity, "")

            solvers.append(RetrievalSolver(index, corpus.entities_in, info))
        elif name == "agent":
            if explorer is None:
                raise ValueError(
                    "calibration solver 'agent' needs an explorer: pass "
                    "kisa_tasks.pipeline.EXPLORER, or drop 'agent' from KISA_QA__SOLVERS"
                )
            solvers.append(resolve(explorer)(settings, corpus, run_id))
        else:
            solvers.append(
                LLMSolver(
                    functools.partial(client_from_settings, settings),
                    attempts=settings.qa.solver_attempts,
                    name=f"llm:{settings.llm.model}",
                    max_tokens=settings.qa.solver_max_tokens,
                )
            )
    for endpoint in settings.qa.llm_solvers:
        solvers.append(
            LLMSolver(
                functools.partial(
                    client_from_settings,
                    settings,
                    base_url=endpoint.base_url,
                    model=endpoint.model,
                    api_key=(
                        endpoint.api_key.get_secret_value() if endpoint.api_key else "not-needed"
                    ),
                ),
                attempts=settings.qa.solver_attempts,
                name=f"llm:{endpoint.model}",
                max_tokens=settings.qa.solver_max_tokens,
            )
        )
    return solvers


@contextlib.contextmanager
def calibration_judge(settings: KisaSettings, solvers: Sequence[Solver]) -> Iterator[Judge]:
    """The judge of the solvers' answers: with an LLM solver, the rules and
    then the configured model's LLM judge (a right answer in other words is
    right, or easy questions pass as hard); otherwise the rules alone."""
    if not any(isinstance(s, LLMSolver) for s in solvers) or not settings.llm.base_url:
        yield Judge()
        return
    gateway = LLMGateway(functools.partial(client_from_settings, settings))
    try:
        yield Judge(gateway)
    finally:
        gateway.close()


def make_generator(
    backend: str,
    settings: KisaSettings,
    corpus: EvidenceCorpus,
    config: QAConfig,
    steps: Callable[[str], StepFn] | None = None,
) -> Generator:
    if backend == "rules":
        return RulesGenerator(corpus, config, steps)
    from kisa_tasks.qa.llm_generate import LLMGenerator

    return LLMGenerator(
        functools.partial(client_from_settings, settings), corpus, config, steps=steps
    )


def export_key(specialty: str, run_id: str) -> str:
    return f"{EXPORT_PREFIX}/specialty={specialty}/run={run_id}/qa.jsonl"


def run_timestamp(run_id: str) -> str:
    """The ISO time in an Airflow run id (``manual__2026-...``), else empty:
    the export's timestamp must not change when the same run is redone."""
    match = re.search(r"\d{4}-\d\d-\d\dT[\d:.]+(?:[+-]\d\d:\d\d|Z)?", run_id)
    return match.group(0) if match else ""


def export_jsonl(items: Sequence[QAItem], run_id: str) -> bytes:
    stamp = run_timestamp(run_id)
    lines = [json.dumps(to_reference(i, run_id, stamp), ensure_ascii=False) for i in items]
    return ("\n".join(lines) + "\n").encode() if lines else b""


def run_qa(
    settings: KisaSettings,
    *,
    specialty: str,
    run_id: str,
    backend: str = "rules",
    qa_per_seed: int = 1,
    rng_seed: int = 0,
    solvers: Sequence[Solver] | None = None,
    explorer: str | None = None,
) -> dict[str, Any]:
    """QA items for every committed sub-graph of this run and specialty."""
    if backend not in QA_BACKENDS:
        raise ValueError(f"unknown QA backend {backend!r}; accepted: {QA_BACKENDS}")
    store = ArtefactStore.from_settings(settings)
    config = qa_config(settings)
    rows = store.read(Partition("subgraphs", specialty, run_id)).to_pylist()
    corpus, _ = load_corpus(store, specialty, run_id)
    abstracts = Partition("abstracts", WHOLE_CORPUS, run_id)
    index = ensure_index(store, abstracts, settings.home / "index-cache").index
    if solvers is None:
        solvers = make_solvers(settings, index, corpus, run_id, explorer)
    with open_graph_store(settings) as graph_store, calibration_judge(settings, solvers) as judge:
        steps = graph_steps(graph_store)
        outcome = synthesise(
            first_tasks(rows, specialty, rng_seed),
            make_generator(backend, settings, corpus, config, steps),
            corpus,
            steps=steps,
            graphs=_graph_loader(graph_store),
            solvers=solvers,
            config=config,
            slots=qa_per_seed,
            judge=judge,
        )
    for solver in solvers:
        close = getattr(solver, "close", None)
        if callable(close):
            close()  # a solver holding threads (the explorer's toolbox) releases them
    kept, duplicates = deduplicate(outcome.items)
    kept = assign_splits(kept, settings.qa.test_share, settings.qa.split_seed)
    kept = with_hop_confidence(
        kept, store.read(Partition("triples", specialty, run_id)).to_pylist()
    )
    kept.sort(key=lambda i: (i.seed, i.qa_id))
    rejected = [
        Rejection(key, reason, item.row() if item else None)
        for key, reason, item in outcome.rejected
    ]
    rejected += [Rejection(i.qa_id, reason, i.row()) for i, reason in duplicates]
    rejected += [
        Rejection(seed, "no_question: " + "; ".join(reasons), {"seed": seed})
        for seed, reasons in outcome.skipped.items()
    ]
    partition = Partition("qa", specialty, run_id)
    store.write(partition, [to_table(kept)], rejected)
    export = store.put_bytes(export_key(specialty, run_id), export_jsonl(kept, run_id))
    counts = qa_counts(outcome.counts, kept, duplicates, len(rows))
    log.info("qa %s: %s", specialty, counts)
    return {"uri": store.uri(partition.prefix), "export": export, "counts": counts}


def import_qa(
    store: ArtefactStore,
    path: Path,
    *,
    specialty: str,
    run_id: str,
    test_share: float = 0.3,
    split_seed: int = 0,
) -> dict[str, Any]:
    """Commit a reference-format JSONL file as the ``qa`` partition of
    (specialty, run), so outside QA sets enter the later stages; malformed
    lines go to ``rejected/qa/`` with their line number and reason."""
    items, refused = read_jsonl(path, specialty)
    items = assign_splits(items, test_share, split_seed)
    rejected = [
        Rejection(f"line {r.line}", r.reason, {"line": r.line, "text": r.text}) for r in refused
    ]
    partition = Partition("qa", specialty, run_id)
    store.write(partition, [to_table(items)], rejected)
    return {"uri": store.uri(partition.prefix), "items": len(items), "rejected": len(rejected)}


def export_qa(store: ArtefactStore, path: Path, *, specialty: str, run_id: str) -> int:
    """Write a committed ``qa`` partition as reference-format JSONL."""
    table = store.read(Partition("qa", specialty, run_id))
    path.write_bytes(export_jsonl([QAItem.from_row(r) for r in table.to_pylist()], run_id))
    return int(table.num_rows)


def with_hop_confidence(
    items: Sequence[QAItem], triples: Sequence[Mapping[str, Any]]
) -> list[QAItem]:
    """Each item with the confidence of its weakest hop: per pair of path
    entities, the best relation between them in its seed's graph (the
    ``triples`` partition holds every relation's confidence)."""
    best: dict[tuple[str, frozenset[str]], float] = {}
    for t in triples:
        key = (t["seed"], frozenset((t["head"], t["tail"])))
        best[key] = max(best.get(key, 0.0), t["confidence"])
    out = []
    for item in items:
        hops = [best.get((item.seed, frozenset(p))) for p in itertools.pairwise(item.path)]
        known = [c for c in hops if c is not None]
        weakest = min(known) if known and len(known) == len(hops) else None
        out.append(replace(item, min_hop_confidence=weakest))
    return out


def assign_splits(items: Sequence[QAItem], test_share: float, split_seed: int) -> list[QAItem]:
    """Items with their split, by seed (by item for an outside item without
    one); an item that already has a split (our own export read back) keeps it."""
    keys = sorted({i.seed or i.qa_id for i in items if not i.split})
    sides = split_keys(keys, test_share, split_seed)
    return [item if item.split else replace(item, split=sides[item.seed or item.qa_id])
            for item in items]  # fmt: skip


def _graph_loader(store: GraphStore) -> Callable[[str], KnowledgeGraph]:
    cache: dict[str, KnowledgeGraph] = {}

    def load(seed: str) -> KnowledgeGraph:
        if seed not in cache:
            cache[seed] = load_seed_graph(store, graph_id(seed))
        return cache[seed]

    return load


def qa_counts(
    counts: Counter[str], kept: Sequence[QAItem], duplicates: Sequence[object], subgraphs: int
) -> dict[str, Any]:
    """The stage's MLflow metrics: generated, rejected by reason, calibration
    pass rate, hops histogram, per-strategy yield."""
    out: dict[str, Any] = dict(counts)
    out["subgraphs"] = subgraphs
    out["duplicates"] = len(duplicates)
    out["items"] = len(kept)
    calibrated = counts["accepted"] + counts["rejected_too_easy"]
    if calibrated:
        out["calibration_pass_rate"] = round(counts["accepted"] / calibrated, 4)
    for item in kept:
        out[f"hops_{item.hops}"] = out.get(f"hops_{item.hops}", 0) + 1
        out[f"strategy_{item.strategy}"] = out.get(f"strategy_{item.strategy}", 0) + 1
    for strategy in {i.strategy for i in kept}:
        out[f"yield_{strategy}"] = round(
            out[f"strategy_{strategy}"] / max(1, counts[f"generated_strategy_{strategy}"]), 4
        )
    accuracies = [i.solver_accuracy for i in kept if i.solver_accuracy is not None]
    if accuracies:
        out["mean_solver_accuracy"] = round(sum(accuracies) / len(accuracies), 4)
    return dict(sorted(out.items()))
