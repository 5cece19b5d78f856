"""Trajectory rollouts with the ``rules`` backend: trajectories/s.

Rolls the scripted researcher out on every QA item of the latest committed
cardiology run (``make demo`` first), guided and explore each, ``--repeat``
times, with real tool calls on the corpus search engine. Loading the corpus,
index and documents is timed apart.

    .venv/bin/python benchmarks/trajectories.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

from kisa_tasks.agent.loop import Limits, run_agent
from kisa_tasks.agent.mtg import SYSTEM_PROMPT, masked_hints
from kisa_tasks.agent.post import Filters, judge, reject_reason
from kisa_tasks.agent.scripted import Researcher, ScriptPolicy, parse_hints
from kisa_tasks.agent.tools import Toolbox, search_tool, visit_tool
from kisa_tasks.artefacts import ArtefactStore, Partition
from kisa_tasks.qa.one_seed import latest_run
from kisa_tasks.qa.records import QAItem
from kisa_tasks.qa.stage import load_corpus
from kisa_tasks.retrieval.store import ensure_index
from kisa_tasks.settings import load_settings
from kisa_tasks.specialties import WHOLE_CORPUS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    settings = load_settings()
    store = ArtefactStore.from_settings(settings)
    run = latest_run(store, "cardiology")
    start = time.perf_counter()
    items = [QAItem.from_row(r) for r in store.read(Partition("qa", "cardiology", run)).to_pylist()]
    corpus, _ = load_corpus(store, "cardiology", run)
    abstracts = Partition("abstracts", WHOLE_CORPUS, run)
    index = ensure_index(store, abstracts, settings.home / "index-cache").index
    rows = store.read(abstracts).select(["pmid", "title", "abstract"]).to_pylist()
    documents = {r["pmid"]: (r["title"] or "", r["abstract"] or "") for r in rows}
    loaded = time.perf_counter() - start

    def info(entity: str) -> tuple[str, str]:
        known = corpus.entities.get(entity)
        return (known.name, known.type) if known else (entity, "")

    researcher = Researcher(corpus.entities_in, info, corpus.aliases)
    toolbox = Toolbox(
        {
            "search": search_tool(index),
            "medical_search": search_tool(index, "medical_search"),
            "visit": visit_tool(documents.get),
        }
    )
    outcomes: Counter[str] = Counter()
    calls = 0
    start = time.perf_counter()
    for _ in range(args.repeat):
        for item in items:
            plan = parse_hints(masked_hints(item))
            for script in (researcher.guided(plan) if plan else None,
                           researcher.explore(item.question)):  # fmt: skip
                if script is None:
                    continue
                limits = Limits(max_turns=30, max_tool_calls=80)
                policy = ScriptPolicy(script)
                rollout = run_agent(policy, toolbox, SYSTEM_PROMPT, item.question, limits)
                calls += rollout.tool_calls
                reason = reject_reason(rollout, judge(rollout, item), Filters())
                outcomes[(reason or "kept").split(":", 1)[0]] += 1
    took = time.perf_counter() - start
    toolbox.close()
    n = sum(outcomes.values())
    print(f"run {run}: {len(items)} QA items, loading {loaded:.1f} s")
    print(f"  {n} rollouts in {took:.2f} s: {n / took:.1f} trajectories/s, "
          f"{calls / n:.1f} tool calls each; outcomes {dict(outcomes)}")  # fmt: skip


if __name__ == "__main__":
    main()
