"""Trajectory rollouts with the ``rules`` backend: trajectories/s.

Rolls the scripted researcher out on every QA item of the latest committed
cardiology run (``kisa demo --specialty cardiology --no-train`` first),
guided and explore each, ``--repeat`` times, with real tool calls on the
corpus search engine. Loading the corpus, index and documents is timed apart.

    .venv/bin/python benchmarks/trajectories.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

from kisa_tasks.agent.loop import Limits, run_agent
from kisa_tasks.agent.mtg import SYSTEM_PROMPT, masked_hints
from kisa_tasks.agent.post import judge, reject_reason
from kisa_tasks.agent.scripted import ScriptPolicy, parse_hints
from kisa_tasks.agent.stage import corpus_researcher, corpus_toolbox, trajectory_filters
from kisa_tasks.agent.tools import Toolbox
from kisa_tasks.artefacts import ArtefactStore, Partition
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
    run = store.latest_run("qa", "cardiology")  # other benchmarks commit runs without QA
    if run is None:
        raise SystemExit(
            "no committed cardiology QA: run `kisa demo --specialty cardiology --no-train` first"
        )
    start = time.perf_counter()
    items = [QAItem.from_row(r) for r in store.read(Partition("qa", "cardiology", run)).to_pylist()]
    corpus, _ = load_corpus(store, "cardiology", run)
    abstracts = Partition("abstracts", WHOLE_CORPUS, run)
    index = ensure_index(store, abstracts, settings.home / "index-cache").index
    rows = store.read(abstracts).select(["pmid", "title", "abstract"]).to_pylist()
    documents = {r["pmid"]: (r["title"] or "", r["abstract"] or "") for r in rows}
    loaded = time.perf_counter() - start

    researcher = corpus_researcher(corpus)
    toolbox = corpus_toolbox(index, documents)
    filters = trajectory_filters(settings)
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
                reason = reject_reason(rollout, judge(rollout, item), filters)
                outcomes[(reason or "kept").split(":", 1)[0]] += 1
    took = time.perf_counter() - start
    toolbox.close()
    n = sum(outcomes.values())
    print(f"run {run}: {len(items)} QA items, loading {loaded:.1f} s")
    print(f"  {n} rollouts in {took:.2f} s: {n / took:.1f} trajectories/s, "
          f"{calls / n:.1f} tool calls each; outcomes {dict(outcomes)}")  # fmt: skip


def llm_throughput(rollouts: int = 160, concurrency: int = 16, latency_s: float = 0.2) -> None:
    """``llm`` mode against a local server answering after ``latency_s``: each
    rollout is 3 model turns (two tool calls, then the answer), so the ideal
    is ``concurrency / (3 * latency_s)`` rollouts/s."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))
    from fakes.openai_server import FakeOpenAI

    from kisa_tasks.agent.policies import LLMPolicy
    from kisa_tasks.agent.react import ToolCall, render_turn
    from kisa_tasks.agent.stage import Job, roll_out
    from kisa_tasks.agent.tools import Tool
    from kisa_tasks.llm.client import LLMClient
    from kisa_tasks.llm.sync import LLMGateway

    def reply(body: dict) -> tuple[str, str]:
        turns = sum(1 for m in body["messages"] if m["role"] == "assistant")
        if turns < 2:
            return ("answer", render_turn("look", [ToolCall("lookup", {"x": turns})]))
        return ("answer", render_turn("done", answer="X"))

    params = {"type": "object", "properties": {"x": {"type": "integer"}}}
    toolbox = Toolbox({"lookup": Tool("lookup", "look up", params, lambda a: f"r{a['x']}")})
    with FakeOpenAI() as server:
        server.responder = reply
        server.latency_s = latency_s

        def make() -> LLMClient:
            return LLMClient(base_url=server.base_url, model="bench", max_attempts=1,
                             max_concurrency=concurrency)  # fmt: skip

        item = None
        with LLMGateway(make) as gateway:
            from kisa_tasks.qa.records import QAItem

            item = QAItem(seed="s", seed_name="s", specialty="cardiology", strategy="max_chain",
                          subgraph_id="", question="q", answer="X", answer_id="", answer_aliases=(),
                          reasoning_path="", entity_mapping=(), path=(), paradigm="", generator="",
                          prompt_version="")  # fmt: skip
            jobs = [Job(item, "explore", f"q{i}", LLMPolicy(gateway)) for i in range(rollouts)]
            start = time.perf_counter()
            done = roll_out(jobs, toolbox, Limits(max_turns=5), concurrency)
            took = time.perf_counter() - start
    toolbox.close()
    answered = sum(r.termination == "answered" for r in done)
    ideal = concurrency / (3 * latency_s)
    print(f"llm: {rollouts} rollouts ({answered} answered), {concurrency} at once, "
          f"{latency_s * 1000:.0f} ms per model turn: {rollouts / took:.1f} rollouts/s, "
          f"ideal {ideal:.1f}: {rollouts / took / ideal:.0%}")  # fmt: skip


if __name__ == "__main__":
    main()
    llm_throughput()
