"""The graphs stage on real S3 and FalkorDB: a graph and a sub-graph per seed
with evidence, seeds without evidence skipped with the reason, reruns equal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
from fakes.openai_server import FakeOpenAI
from trajectory_world import extracted_run

from kisa_tasks.artefacts import ArtefactStore, Partition
from kisa_tasks.graph import open_graph_store
from kisa_tasks.settings import KisaSettings
from kisa_tasks.stats.stages import SEEDS_SCHEMA, run_stats
from kisa_tasks.subgraphs.stage import merge_graphs, run_graph_shard, run_graphs
from kisa_tasks.subgraphs.store_io import graph_id, load_seed_graph

TEXTS = [
    (
        "Digoxin toxicity",
        "Arrhythmia caused by digoxin was seen. Digoxin-induced nausea was common.",
    ),
    ("Heart failure care", "Patients with heart failure were treated with digoxin."),
    (
        "Arrhythmia and warfarin",
        "Stroke was prevented by warfarin. Arrhythmia was treated with amiodarone.",
    ),
    ("Amiodarone", "Amiodarone-induced hypothyroidism was reported."),
    ("Psoriasis", "Psoriasis was described in two patients."),
]


def _seed_rows(stats: pa.Table, names: set[str]) -> pa.Table:
    rows = [r for r in stats.to_pylist() if r["name"].lower() in names]
    return pa.Table.from_pylist(rows, schema=SEEDS_SCHEMA)


def _prepare(settings: KisaSettings, run: str) -> ArtefactStore:
    """Abstracts, mentions, entities, stats and two seeds (digoxin, psoriasis)."""
    store = extracted_run(settings, run, TEXTS, 100)
    run_stats(settings, specialty="cardiology", run_id=run)
    stats = store.read(Partition("entity_stats", "cardiology", run))
    seeds = _seed_rows(stats, {"digoxin", "psoriasis"})
    assert seeds.num_rows == 2
    store.write(Partition("seeds", "cardiology", run), [seeds])
    return store


def test_graphs_stage_builds_graphs_and_skips_seeds_without_evidence(
    settings: KisaSettings,
) -> None:
    run = "graphs_t1"
    store = _prepare(settings, run)

    result = run_graphs(settings, specialty="cardiology", run_id=run)
    subgraphs = store.read(Partition("subgraphs", "cardiology", run)).to_pylist()
    skipped = store.read_rejected(Partition("subgraphs", "cardiology", run)).to_pylist()
    [sub] = subgraphs
    assert sub["seed_name"].lower() == "digoxin" and sub["strategy"] == "max_chain"
    assert sub["hops"] >= 2 and sub["path"][0] == sub["seed"]
    assert sub["longest_path_method"] == "cypher" and sub["longest_path_hops"] == sub["hops"]
    [skip] = skipped
    assert skip["reason"].startswith("no_evidence: no typed relation")
    assert result["counts"]["skipped_no_evidence"] == 1 and result["counts"]["subgraphs"] == 1

    triples = store.read(Partition("triples", "cardiology", run)).to_pylist()
    typed = {(t["head_name"].lower(), t["relation_type"], t["tail_name"].lower()) for t in triples}
    assert typed == {
        ("digoxin", "causes", "arrhythmias, cardiac"),
        ("digoxin", "causes", "nausea"),
        ("digoxin", "treats", "heart failure"),
        ("amiodarone", "treats", "arrhythmias, cardiac"),  # the second hop
        ("amiodarone", "causes", "hypothyroidism"),  # the third
    }
    assert sub["path_names"][-1].lower() == "hypothyroidism" and sub["hops"] == 3
    assert all(t["sentence"] in " ".join(TEXTS[int(t["pmid"]) - 100]) for t in triples)
    assert all(0 < t["confidence"] < 1 and t["extractor"] == "rules" for t in triples)

    with open_graph_store(settings) as graph_store:
        stored = load_seed_graph(graph_store, graph_id(sub["seed"]))
        before = graph_store.run("graph_counts")
    assert {(e["head"], e["tail"]) for e in sub["edges"]} <= {
        (e.head, e.tail) for e in stored.edges
    }
    # A rerun commits the same artefacts and adds nothing to the graph.
    run_graphs(settings, specialty="cardiology", run_id=run)
    assert store.read(Partition("subgraphs", "cardiology", run)).to_pylist() == subgraphs
    assert store.read(Partition("triples", "cardiology", run)).to_pylist() == triples
    with open_graph_store(settings) as graph_store:
        assert graph_store.run("graph_counts") == before
    # Sharded (as the DAG's mapped tasks do it): the merged result is the same.
    shards = [
        run_graph_shard(settings, specialty="cardiology", run_id=run, shard=k, shards=2)
        for k in (1, 0)
    ]
    assert [s["counts"]["seeds"] for s in shards] == [1, 1]
    merged = merge_graphs(
        settings,
        specialty="cardiology",
        run_id=run,
        shard_counts=[s["counts"] for s in sorted(shards, key=lambda s: s["shard"])],
    )
    assert store.read(Partition("subgraphs", "cardiology", run)).to_pylist() == subgraphs
    assert store.read(Partition("triples", "cardiology", run)).to_pylist() == triples
    assert merged["counts"]["subgraphs"] == 1 and merged["counts"]["skipped_no_evidence"] == 1


def test_llm_triples_feed_the_graph_and_failed_abstracts_are_kept(
    settings: KisaSettings, tmp_path: Path
) -> None:
    run = "graphs_llm_t1"
    store = _prepare(settings, run)

    def answer(body: dict[str, Any]) -> tuple[str, Any]:
        prompt = body["messages"][-1]["content"]
        if "Amiodarone" in prompt:
            return ("status", 500)
        triples = []
        if "Heart Failure" in prompt and "Digoxin" in prompt:
            triples.append(
                {"evidence": "heart failure were treated with digoxin", "head": "Digoxin",
                 "relation": "treated with", "relation_type": "treats", "tail": "Heart Failure"}
            )  # fmt: skip
        return ("answer", json.dumps({"triples": triples}))

    with FakeOpenAI() as server:
        server.responder = answer
        llm = settings.llm.model_copy(
            update={"base_url": server.base_url, "model": "fake", "max_attempts": 1}
        )
        llm_settings = settings.model_copy(update={"llm": llm, "home": tmp_path})
        result = run_graphs(llm_settings, specialty="cardiology", run_id=run, backend="llm")
    triples = store.read(Partition("triples", "cardiology", run)).to_pylist()
    assert {(t["head_name"], t["relation_type"], t["tail_name"]) for t in triples} == {
        ("Digoxin", "treats", "Heart Failure")
    }
    assert {t["extractor"] for t in triples} == {"llm"}
    assert {json.loads(t["provenance"])["prompt"] for t in triples} == {"triples-v2"}
    failed = store.read_rejected(Partition("triples", "cardiology", run)).to_pylist()
    assert failed and all(f["reason"].startswith("llm_failed: ") for f in failed)
    assert result["counts"]["failed_abstracts"] == len(failed)
    assert result["counts"]["llm_calls"] >= 1
    [sub] = store.read(Partition("subgraphs", "cardiology", run)).to_pylist()
    assert sub["path_names"] == ["Digoxin", "Heart Failure"]
