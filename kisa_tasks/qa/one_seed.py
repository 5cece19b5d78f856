"""``kisa qa --seed ENTITY``: one seed through graph -> sample -> QA, for
trying things out before a batch.

Works on the artefacts of a committed pipeline run (its abstracts, mentions
and entities; the latest run of the specialty unless one is named). The
seed's graph is read from the graph store, or built like the graphs stage
builds it when that run did not include the seed. Nothing is written to S3.
"""

from __future__ import annotations

from dataclasses import dataclass

from kisa_tasks.artefacts import ArtefactStore, Partition
from kisa_tasks.graph import open_graph_store
from kisa_tasks.pipeline import EXPLORER
from kisa_tasks.qa.generate import GenTask, Outcome, synthesise
from kisa_tasks.qa.stage import (
    calibration_judge,
    load_corpus,
    make_generator,
    make_solvers,
    qa_config,
)
from kisa_tasks.qa.validate import graph_steps
from kisa_tasks.retrieval.store import ensure_index
from kisa_tasks.settings import KisaSettings
from kisa_tasks.specialties import WHOLE_CORPUS
from kisa_tasks.subgraphs.expand import ExpansionPolicy, expand_seed
from kisa_tasks.subgraphs.graph import KnowledgeGraph, Subgraph
from kisa_tasks.subgraphs.sampling import sample_subgraph, subgraph_id
from kisa_tasks.subgraphs.store_io import (
    graph_id,
    load_seed_graph,
    relation_rows,
    replace_seed_graph,
)


class SeedNotFoundError(LookupError):
    pass


@dataclass(frozen=True)
class OneSeed:
    run_id: str
    seed: str
    seed_name: str
    graph_edges: int
    built: bool  # the graph was built now (not found in the store)
    subgraph: Subgraph
    outcome: Outcome


def latest_run(store: ArtefactStore, specialty: str) -> str:
    run = store.latest_run("entities", specialty)
    if run is None:
        raise SeedNotFoundError(
            f"no committed pipeline run for {specialty}; run `make demo` or trigger "
            "kisa_pipeline first"
        )
    return run


def resolve_seed(entities: list[dict[str, object]], seed: str) -> tuple[str, str]:
    """(canonical id, name) of an entity given by id, name or alias."""
    wanted = seed.casefold()
    for entity in entities:
        aliases = [str(a).casefold() for a in entity.get("aliases") or []]  # type: ignore[attr-defined]
        if wanted in (
            str(entity["canonical_id"]).casefold(),
            str(entity["name"]).casefold(),
            *aliases,
        ):
            return str(entity["canonical_id"]), str(entity["name"])
    raise SeedNotFoundError(f"no entity {seed!r} in this run's entities (give an id or a name)")


def qa_for_seed(
    settings: KisaSettings,
    seed: str,
    *,
    specialty: str = "cardiology",
    run_id: str | None = None,
    strategy: str = "max_chain",
    rng_seed: int = 0,
    backend: str = "rules",
) -> OneSeed:
    store = ArtefactStore.from_settings(settings)
    run_id = run_id or latest_run(store, specialty)
    corpus, entities = load_corpus(store, specialty, run_id)
    seed_id, seed_name = resolve_seed(entities, seed)
    abstracts = Partition("abstracts", WHOLE_CORPUS, run_id)
    index = ensure_index(store, abstracts, settings.home / "index-cache").index
    config = qa_config(settings)
    with open_graph_store(settings) as graph_store:
        graph = load_seed_graph(graph_store, graph_id(seed_id))
        built = not graph.best
        if built:
            policy = ExpansionPolicy()
            grown = expand_seed(
                seed_id,
                corpus,
                lambda q: [h.doc_id for h in index.search(q, k=policy.hits_per_query)],
                policy,
            )
            info = {n: corpus.entities[n] for n in grown.nodes if n in corpus.entities}
            edges = grown.trusted_edges(settings.graph.min_confidence)
            rows = relation_rows(
                graph_id(seed_id), edges, info, grown.edge_pmids(), grown.confidences()
            )
            replace_seed_graph(graph_store, graph_id(seed_id), rows)
            graph = KnowledgeGraph.of(edges)
        sub = sample_subgraph(graph, seed_id, strategy, rng_seed, config.max_hops)
        task = GenTask(
            seed_id, specialty, sub, subgraph_id(seed_id, sub.strategy, rng_seed), rng_seed
        )
        steps = graph_steps(graph_store)
        solvers = make_solvers(settings, index, corpus, run_id, EXPLORER)
        with calibration_judge(settings, solvers) as judge:
            outcome = synthesise(
                [task],
                make_generator(backend, settings, corpus, config, steps),
                corpus,
                steps=steps,
                graphs=lambda s: graph,
                solvers=solvers,
                config=config,
                judge=judge,
            )
    return OneSeed(run_id, seed_id, seed_name, len(graph.best), built, sub, outcome)
