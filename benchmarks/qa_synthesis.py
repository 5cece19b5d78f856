"""QA synthesis throughput, the two targets of the QA issue.

1. ``rules``: validated QA items per second through the whole round loop
   (plan, templates, every validator including the Cypher uniqueness check,
   calibration by the retrieval solver), over the sub-graphs of the latest
   committed cardiology run, each seed asked for ``--per-seed`` questions.
   Loading the corpus and the index is timed apart. Needs ``kisa demo --specialty
   cardiology --no-train`` first
   (a committed run and its graphs in the graph store).
2. ``llm``: the llm generator against a local OpenAI-compatible server that
   answers after 200 ms, with the client limited to 20 requests/s: achieved
   requests/s against that limit.

    .venv/bin/python benchmarks/qa_synthesis.py [--per-seed 20] [--requests 300]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))

from fakes.openai_server import FakeOpenAI

from kisa_tasks.artefacts import ArtefactStore, Partition
from kisa_tasks.graph import open_graph_store
from kisa_tasks.llm.client import LLMClient
from kisa_tasks.pipeline import EXPLORER
from kisa_tasks.qa.generate import GenTask, RulesGenerator, synthesise
from kisa_tasks.qa.llm_generate import LLMGenerator
from kisa_tasks.qa.one_seed import latest_run
from kisa_tasks.qa.stage import first_tasks, load_corpus, make_solvers, qa_config
from kisa_tasks.qa.validate import graph_steps
from kisa_tasks.retrieval.store import ensure_index
from kisa_tasks.settings import load_settings
from kisa_tasks.specialties import WHOLE_CORPUS
from kisa_tasks.subgraphs.store_io import graph_id, load_seed_graph


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--per-seed", type=int, default=20)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    settings = load_settings()
    store = ArtefactStore.from_settings(settings)
    run = latest_run(store, "cardiology")
    start = time.perf_counter()
    rows = store.read(Partition("subgraphs", "cardiology", run)).to_pylist()
    corpus, _ = load_corpus(store, "cardiology", run)
    abstracts = Partition("abstracts", WHOLE_CORPUS, run)
    index = ensure_index(store, abstracts, settings.home / "index-cache").index
    loaded = time.perf_counter() - start
    config = qa_config(settings)
    tasks = first_tasks(rows, "cardiology", 0)
    with open_graph_store(settings) as graph_store:
        start = time.perf_counter()
        steps = graph_steps(graph_store)
        outcome = synthesise(
            tasks,
            RulesGenerator(corpus, config, steps),
            corpus,
            steps=steps,
            graphs=lambda seed: load_seed_graph(graph_store, graph_id(seed)),
            solvers=make_solvers(settings, index, corpus, run, EXPLORER),
            config=config,
            slots=args.per_seed,
        )
        took = time.perf_counter() - start
    items = len(outcome.items)
    print(f"rules: run {run}, {len(rows)} sub-graphs x {args.per_seed} per seed")
    print(f"  loading corpus + index {loaded:.1f} s (once per stage)")
    print(f"  {outcome.counts['generated']} candidates, {items} validated and calibrated "
          f"items in {took:.2f} s: {items / took:.1f} items/s "
          f"({outcome.counts['generated'] / took:.1f} candidates/s)")  # fmt: skip

    # The llm generator: 200 ms per answer, 20 requests/s allowed.
    with FakeOpenAI() as server:
        server.default_answer = json.dumps({"question": "x"})
        server.responder = lambda body: ("slow", 0.2)
        generator = LLMGenerator(
            lambda: LLMClient(
                base_url=server.base_url,
                model="bench",
                qps=20.0,
                max_concurrency=16,
                max_attempts=1,
            ),
            corpus,
            config,
        )
        usable = [t for t in tasks if t.subgraph.hops >= config.min_hops]
        many = [
            GenTask(t.seed, t.specialty, t.subgraph, f"{t.subgraph_id}-{i}", i, slot=i)
            for i in range(args.requests // max(1, len(usable)) + 1)
            for t in usable
        ][: args.requests]
        start = time.perf_counter()
        generator.generate(many)
        took = time.perf_counter() - start
    sent = len(server.requests)
    print(f"llm: {sent} requests at 200 ms latency, limit 20/s: {sent / took:.1f} requests/s "
          f"({sent / took / 20:.0%} of the limit)")  # fmt: skip


if __name__ == "__main__":
    main()
