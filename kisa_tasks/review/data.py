"""What the review pages show, read from the artefact store."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterable, Mapping
from typing import Any

from kisa_tasks.artefacts import ArtefactStore, NotCommittedError, Partition
from kisa_tasks.pipeline import PIPELINE
from kisa_tasks.qa.decisions import DECISIONS, NotFound, decisions, safe, save_decision
from kisa_tasks.quality.gate import quality_prefix
from kisa_tasks.run_manifest import manifest_key
from kisa_tasks.subgraphs.stage import is_shard_run

__all__ = ["DECISIONS", "NotFound", "decisions", "save_decision"]


# -- runs and their quality reports ------------------------------------------------------
def quality_runs(store: ArtefactStore, dag_id: str) -> dict[str, list[dict[str, Any]]]:
    """Gate summaries by DAG run, newest run first."""
    prefix = f"quality/dag={safe(dag_id, 'DAG')}/"
    found: dict[str, list[dict[str, Any]]] = {}
    for key in store.list_keys(prefix):
        if key.endswith("/summary.json") and key.count("/") == 4:
            run = key[len(prefix) :].split("/", 1)[0].removeprefix("run=")
            found.setdefault(run, []).append(store.get_json(key))
    return dict(sorted(found.items(), key=lambda item: _validated(item[1]), reverse=True))


def _validated(summaries: Iterable[Mapping[str, Any]]) -> str:
    return max((s.get("validated_at", "") for s in summaries), default="")


def run_quality(store: ArtefactStore, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    prefix = f"{quality_prefix(safe(dag_id, 'DAG'), safe(run_id, 'run'))}/"
    keys = [k for k in store.list_keys(prefix) if k.endswith("/summary.json")]
    summaries = [store.get_json(k) for k in keys]
    order = [stage.name for stage in PIPELINE]
    return sorted(summaries, key=lambda s: order.index(s["stage"]) if s["stage"] in order else 99)


def manifest(store: ArtefactStore, dag_id: str, run_id: str) -> dict[str, Any] | None:
    key = manifest_key(safe(dag_id, "DAG"), safe(run_id, "run"))
    return store.get_json(key) if store.exists(key) else None


def docs_file(store: ArtefactStore, dag_id: str, run_id: str, suite: str, path: str) -> bytes:
    """A file of a gate's Data Docs site, only if the gate wrote it: listed in
    its summary with the SHA-256 it has now (anything else put under the
    prefix, or a listed file changed since, is not served)."""
    parts = path.split("/")
    if not path or any(p in ("", ".", "..") for p in parts):
        raise NotFound(f"no such report page: {path!r}")
    prefix = f"{quality_prefix(safe(dag_id, 'DAG'), safe(run_id, 'run'))}/{safe(suite, 'suite')}"
    summary = (
        store.get_json(f"{prefix}/summary.json") if store.exists(f"{prefix}/summary.json") else {}
    )
    digest = summary.get("docs_files", {}).get(path)
    key = f"{prefix}/docs/{path}"
    if digest is None or not store.exists(key):
        raise NotFound(f"no such report page: {path!r}")
    body = store.get_bytes(key)
    if hashlib.sha256(body).hexdigest() != digest:
        raise NotFound(f"report page {path!r} changed since its gate wrote it")
    return body


# -- artefacts ------------------------------------------------------------------------------
def runs_of(store: ArtefactStore, stage: str, specialty: str | None = None) -> list[Partition]:
    """Committed partitions of a stage, newest run id last (not the graph
    stage's per-shard partials)."""
    return [p for p in store.committed(stage, specialty) if not is_shard_run(p.run)]


def read_rows(
    store: ArtefactStore, stage: str, specialty: str, run_id: str
) -> list[dict[str, Any]]:
    partition = Partition(stage, safe(specialty, "specialty"), safe(run_id, "run"))
    try:
        rows: list[dict[str, Any]] = store.read(partition).to_pylist()
    except (NotCommittedError, FileNotFoundError) as exc:
        raise NotFound(f"no committed {stage} for {specialty}, run {run_id}") from exc
    return rows


def subgraph(store: ArtefactStore, specialty: str, run_id: str, seed: str) -> dict[str, Any]:
    for row in read_rows(store, "subgraphs", specialty, run_id):
        if row["seed"] == seed:
            return row
    raise NotFound(f"no sub-graph for seed {seed!r} in {specialty}, run {run_id}")


def evidence(
    store: ArtefactStore, specialty: str, run_id: str, seed: str
) -> dict[tuple[str, str, str], list[dict[str, str]]]:
    """The seed's triples by (head, relation type, tail): PMID and sentence each."""
    found: dict[tuple[str, str, str], list[dict[str, str]]] = {}
    for t in read_rows(store, "triples", specialty, run_id):
        if t["seed"] == seed:
            key = (t["head"], t["relation_type"], t["tail"])
            found.setdefault(key, []).append({"pmid": t["pmid"], "sentence": t["sentence"]})
    return found


def hop_evidence(
    store: ArtefactStore, specialty: str, run_id: str, items: Iterable[Mapping[str, Any]]
) -> dict[str, list[dict[str, Any]]]:
    """Per QA item, each hop of its path: the relations between the two
    entities in its seed's graph, with confidence and evidence (PMID and
    sentence), so a reviewer can check the path against the abstracts."""
    by_pair: dict[tuple[str, frozenset[str]], dict[tuple[str, str, str], dict[str, Any]]] = {}
    for t in read_rows(store, "triples", specialty, run_id):
        pair = (t["seed"], frozenset((t["head"], t["tail"])))
        key = (t["head"], t["relation_type"], t["tail"])
        relation = by_pair.setdefault(pair, {}).setdefault(key, {
            "head": t["head_name"], "relation": t["relation_type"], "tail": t["tail_name"],
            "confidence": t["confidence"], "evidence": [],
        })  # fmt: skip
        relation["evidence"].append({"pmid": t["pmid"], "sentence": t["sentence"]})
    out: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        out[item["qa_id"]] = [
            {"relations": list(by_pair.get((item["seed"], frozenset(hop)), {}).values())}
            for hop in itertools.pairwise(item["path"])
        ]
    return out


def graph_view(
    row: Mapping[str, Any], evidence: Mapping[tuple[str, str, str], list[dict[str, str]]]
) -> dict[str, Any]:
    """The sub-graph as D3 wants it: nodes, links with their evidence, and
    which are on the path."""
    on_path = list(row["path"])
    steps = {frozenset(p) for p in itertools.pairwise(on_path)}
    nodes = [
        {"id": n, "name": name, "type": kind, "on_path": n in on_path, "seed": n == row["seed"]}
        for n, name, kind in zip(row["nodes"], row["node_names"], row["node_types"], strict=True)
    ]
    links = [
        {
            "source": e["head"], "target": e["tail"], "relation": e["relation_type"],
            "weight": e["weight"], "confidence": e["confidence"],
            "evidence": evidence.get((e["head"], e["relation_type"], e["tail"]), []),
            "on_path": frozenset((e["head"], e["tail"])) in steps,
        }
        for e in row["edges"]
    ]  # fmt: skip
    return {"seed": row["seed"], "seed_name": row["seed_name"], "path": on_path,
            "hops": row["hops"], "nodes": nodes, "links": links}  # fmt: skip


def trajectories_for(
    store: ArtefactStore, specialty: str, run_id: str, qa_id: str
) -> list[dict[str, Any]]:
    """Every rollout of a QA item, kept or rejected (with its reason)."""
    partition = Partition("trajectories", safe(specialty, "specialty"), safe(run_id, "run"))
    try:
        kept = [r | {"verdict": "kept", "reason": ""} for r in store.read(partition).to_pylist()]
        dropped = [
            json.loads(r["record_json"]) | {"verdict": "rejected", "reason": r["reason"]}
            for r in store.read_rejected(partition).to_pylist()
            if r["record_json"] and "messages" in r["record_json"]
        ]
    except (NotCommittedError, FileNotFoundError) as exc:
        raise NotFound(f"no committed trajectories for {specialty}, run {run_id}") from exc
    found = [r for r in kept + dropped if r.get("qa_id") == qa_id]
    if not found:
        raise NotFound(f"no trajectory for QA item {qa_id!r} in {specialty}, run {run_id}")
    return sorted(found, key=lambda r: (r.get("rollout") or 0, r.get("mode", "")))


def agent_difficulty(store: ArtefactStore, specialty: str, run_id: str) -> dict[str, float]:
    """qa_id -> its rollouts' pass rate (agent difficulty), for the items
    the trajectories stage rolled out; empty before that stage committed."""
    partition = Partition("trajectories", safe(specialty, "specialty"), safe(run_id, "run"))
    if not store.is_committed(partition):
        return {}
    rows = store.read(partition).select(["qa_id", "item_pass_rate"]).to_pylist()
    rows += [
        json.loads(r["record_json"])
        for r in store.read_rejected(partition).to_pylist()
        if r["record_json"] and "item_pass_rate" in r["record_json"]
    ]
    return {r["qa_id"]: r["item_pass_rate"] for r in rows if r.get("item_pass_rate") is not None}
