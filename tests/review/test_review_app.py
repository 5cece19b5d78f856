"""The review plugin inside a real Airflow 3 api-server app (its own auth
manager, the plugin loaded from plugins/) over the real S3 server: refused
without an Airflow session, every page with one, clear 404s, and QA review
decisions that persist and that the trajectories stage honours."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest

from kisa_tasks.agent.stage import TRAJECTORIES_SCHEMA, run_trajectories
from kisa_tasks.artefacts import ArtefactStore, Partition, Rejection
from kisa_tasks.qa.decisions import decisions
from kisa_tasks.qa.records import QAItem, to_table
from kisa_tasks.quality.gate import QualityGateError, run_gate
from kisa_tasks.run_manifest import manifest_key
from kisa_tasks.services.airflow_local import ui_password
from kisa_tasks.settings import KisaSettings
from kisa_tasks.subgraphs.stage import SUBGRAPHS_SCHEMA, TRIPLES_SCHEMA

RUN = "manual__2026-01-01T00:00:00+00:00"
DAG = "kisa_pipeline"
HTML = {"accept": "text/html"}


@pytest.fixture(scope="module")
def client(airflow_db: dict[str, str]) -> Iterator[Any]:
    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient

    with TestClient(create_app(), follow_redirects=False) as test_client:
        yield test_client


def token_of(client: Any, settings: KisaSettings, user: str) -> str:
    """A real Airflow user's token, with the password generated for them."""
    credentials = {"username": user, "password": ui_password(settings, user)}
    found = client.post("/auth/token", json=credentials)
    assert found.status_code == 201, found.text
    return str(found.json()["access_token"])


@pytest.fixture()
def token(client: Any, settings: KisaSettings) -> str:
    return token_of(client, settings, "admin")


def _world(settings: KisaSettings) -> None:
    """A run with one seed's sub-graph, its triples, a QA item, a rollout and gates."""
    store = ArtefactStore.from_settings(settings)
    edges = [("mesh:S", "causes", "mesh:X"), ("db:D2", "treats", "mesh:X"),
             ("db:D1", "treats", "mesh:S")]  # fmt: skip
    store.write(Partition("subgraphs", "cardiology", RUN), [pa.Table.from_pylist([{
        "subgraph_id": "sg1", "seed": "mesh:S", "seed_name": "Seedosis", "graph_id": "g1",
        "strategy": "max_chain", "hops": 2, "path": ["mesh:S", "mesh:X", "db:D2"],
        "path_names": ["Seedosis", "Xitis", "Betanib"],
        "nodes": ["mesh:S", "mesh:X", "db:D2", "db:D1"],
        "node_names": ["Seedosis", "Xitis", "Betanib", "Alphamab"],
        "node_types": ["disease", "disease", "drug", "drug"], "node_aliases": [[], [], [], []],
        "edges": [{"head": h, "relation_type": r, "tail": t, "weight": 1.0, "confidence": 0.85}
                  for h, r, t in edges],
        "graph_nodes": 4, "graph_edges": 3, "longest_path_hops": 2,
        "longest_path_method": "cypher",
    }], schema=SUBGRAPHS_SCHEMA)])  # fmt: skip
    store.write(Partition("triples", "cardiology", RUN), [pa.Table.from_pylist([{
        "seed": "mesh:S", "head": h, "head_name": h, "relation": r, "relation_type": r,
        "tail": t, "tail_name": t, "pmid": f"1{i}", "sentence": f"Sentence <{i}> of evidence.",
        "extractor": "rules", "confidence": 0.5, "support": "sentence",
        "head_kind": "disease", "tail_kind": "disease",
    } for i, (h, r, t) in enumerate(edges)], schema=TRIPLES_SCHEMA)])  # fmt: skip
    item = QAItem(
        seed="mesh:S", seed_name="Seedosis", specialty="cardiology", strategy="max_chain",
        subgraph_id="sg1", question="Seedosis causes a disease treated with which drug?",
        answer="Betanib", answer_id="db:D2", answer_aliases=(), reasoning_path="A -> B -> C",
        entity_mapping=(("Entity_A", "Seedosis"),), path=("mesh:S", "mesh:X", "db:D2"),
        paradigm="multi_hop_chain", generator="rules", prompt_version="rules-v1", qa_id="q1",
        solver_accuracy=0.0, question_type="treatment", split="train", min_hop_confidence=0.85,
    )  # fmt: skip
    store.write(Partition("qa", "cardiology", RUN), [to_table([item])])
    turns = [{"role": "system", "content": "sys"}, {"role": "user", "content": "question?"},
             {"role": "assistant", "content": "<think>I search.</think>"},
             {"role": "user", "content": "<tool_response>PMID 11</tool_response>"}]  # fmt: skip
    row = {"trajectory_id": "t1", "qa_id": "q-gone", "seed": "mesh:S",
           "specialty": "cardiology", "mode": "guided", "policy": "rules", "messages": turns,
           "answer": "Betanib", "termination": "answered", "tool_calls": 1, "turns": 2,
           "raw_messages": None, "rollout": 0, "guidance": "Hints: Entity A ...",
           "failed_calls": [0], "recovered": 0, "item_rollouts": 4, "item_pass_rate": 0.25,
           "explore_pass_rate": 0.0, "question_type": "treatment"}  # fmt: skip
    explore = row | {"trajectory_id": "t2", "qa_id": "q1", "mode": "explore", "answer": "Xitis"}
    store.write(
        Partition("trajectories", "cardiology", RUN),
        [pa.Table.from_pylist([row], schema=TRAJECTORIES_SCHEMA)],
        [Rejection("t2", "incorrect: answered 'Xitis'", explore)],
    )
    store.put_json(manifest_key(DAG, RUN), {"mlflow_run_url": "http://127.0.0.1:5000/#/runs/r1"})
    run_gate(settings, stage="qa", specialty="cardiology", run_id=RUN, dag_id=DAG)
    with pytest.raises(QualityGateError):  # t1 answers no committed QA item
        run_gate(settings, stage="trajectories", specialty="cardiology", run_id=RUN, dag_id=DAG)


PAGES = (
    "/kisa/quality",
    f"/kisa/quality/{DAG}/{RUN}",
    "/kisa/graph",
    f"/kisa/graph/cardiology/{RUN}/mesh:S",
    f"/kisa/qa/cardiology/{RUN}",
    f"/kisa/trajectories/cardiology/{RUN}/q1",
)


def test_without_an_airflow_session_nothing_is_served(client: Any, settings: KisaSettings) -> None:
    for page in PAGES:
        refused = client.get(page, headers=HTML)
        assert refused.status_code == 303 and "/auth/login" in refused.headers["location"]
    assert client.get(f"/kisa/api/graph/cardiology/{RUN}/mesh:S").status_code == 401
    forged = client.get("/kisa/quality", cookies={"_token": "not-a-jwt"})
    assert forged.status_code in (401, 403)
    posted = client.post("/kisa/qa/cardiology/q1/review", data={"decision": "reject"})
    assert posted.status_code == 401
    # The vendored D3 and our graph script are public, like any static asset.
    assert client.get("/kisa/static/graph.js").status_code == 200


def test_every_page_with_a_session(client: Any, token: str, settings: KisaSettings) -> None:
    _world(settings)
    client.cookies.set("_token", token)
    try:
        quality = client.get("/kisa/quality", headers=HTML)
        assert quality.status_code == 200 and RUN in quality.text and "FAILED" in quality.text
        report = client.get(f"/kisa/quality/{DAG}/{RUN}", headers=HTML).text
        assert "expect_column_values_to_be_in_set" in report and "q-gone" in report
        assert "http://127.0.0.1:5000/#/runs/r1" in report  # the run's MLflow link
        docs = report.split('href="/kisa/docs/', 1)[1].split('"', 1)[0]
        page = client.get(f"/kisa/docs/{docs}")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        store = ArtefactStore.from_settings(settings)
        subgraphs = store.read(Partition("subgraphs", "cardiology", RUN))
        store.write(Partition("subgraphs", "cardiology", f"{RUN}+shard-000"), [subgraphs])
        picker = client.get("/kisa/graph", headers=HTML).text
        assert RUN in picker and "+shard-" not in picker  # a DAG run's, not a shard's
        graph = client.get(f"/kisa/graph/cardiology/{RUN}/mesh:S", headers=HTML).text
        assert '<svg id="graph"' in graph and "d3.v7.9.0.min.js" in graph
        assert "Sentence \\u003c0>" in graph  # data escaped inside the script block
        view = client.get(f"/kisa/api/graph/cardiology/{RUN}/mesh:S").json()
        assert [link["on_path"] for link in view["links"]] == [True, True, False]
        assert view["links"][0]["evidence"] == [
            {"pmid": "10", "sentence": "Sentence <0> of evidence."}
        ]
        qa = client.get(f"/kisa/qa/cardiology/{RUN}", headers=HTML).text
        assert "Seedosis causes a disease" in qa and "not reviewed" in qa
        # The item's agent difficulty (its rollouts' pass rate), type and split.
        assert "agent pass rate" in qa and "<td>0.25</td>" in qa and "treatment<br>" in qa
        # Every hop with its relation, confidence and evidence, linked to PubMed.
        assert "hops and evidence" in qa and "weakest hop: 0.85" in qa
        assert "mesh:S <i>causes</i> mesh:X <small>(confidence 0.5)</small>" in qa
        assert 'href="https://pubmed.ncbi.nlm.nih.gov/10/">PMID 10</a>' in qa
        assert "Sentence &lt;0&gt; of evidence." in qa
        assert (
            "Seedosis causes"
            not in client.get(
                f"/kisa/qa/cardiology/{RUN}?strategy=dual_core_bridge", headers=HTML
            ).text
        )
        rollouts = client.get(f"/kisa/trajectories/cardiology/{RUN}/q1", headers=HTML).text
        assert "incorrect: answered" in rollouts and "No guided rollout" in rollouts
        assert "Agent difficulty: <b>0.25</b> of 1 rollouts passed (explore: 0.0)" in rollouts
        assert "1 failed call(s), 0 made again" in rollouts
    finally:
        client.cookies.clear()


@pytest.mark.parametrize(
    "page",
    [f"/kisa/quality/{DAG}/no-such-run", f"/kisa/graph/cardiology/{RUN}/mesh:NOPE",
     "/kisa/graph/cardiology/no-such-run", "/kisa/qa/astrology/x", "/kisa/nothing/here",
     f"/kisa/docs/{DAG}/{RUN}/qa/../../secret"],
)  # fmt: skip
def test_what_does_not_exist_is_a_plain_404(client: Any, token: str, page: str) -> None:
    found = client.get(page, headers={**HTML, "authorization": f"Bearer {token}"})
    assert found.status_code == 404
    assert "Not found" in found.text and "Traceback" not in found.text


def test_a_review_decision_persists_and_the_rollouts_honour_it(
    client: Any, token: str, settings: KisaSettings
) -> None:
    _world(settings)
    auth = {"authorization": f"Bearer {token}"}
    action = "/kisa/qa/cardiology/q1/review"
    form = {"decision": "reject", "note": "answer ambiguous", "run": RUN}
    assert client.post(action, data=form, headers=auth).status_code == 403  # no Origin
    done = client.post(action, data=form, headers={**auth, "origin": "http://testserver"})
    assert done.status_code == 303
    store = ArtefactStore.from_settings(settings)
    decided = decisions(store, "cardiology")["q1"]
    assert (decided.decision, decided.note, decided.reviewer) == (
        "reject",
        "answer ambiguous",
        "admin",
    )
    assert (
        "rejected</span> by admin: answer ambiguous"
        in client.get(f"/kisa/qa/cardiology/{RUN}", headers={**HTML, **auth}).text
    )
    result = run_trajectories(settings, specialty="cardiology", run_id=RUN)
    assert result["counts"]["rejected_review"] == 1 and result["counts"]["kept"] == 0
    [skipped] = store.read_rejected(Partition("trajectories", "cardiology", RUN)).to_pylist()
    assert skipped["reason"] == "review_rejected: answer ambiguous"


@pytest.mark.parametrize(("user", "role", "may_decide"), [
    ("reader", "viewer", False), ("curator", "user", True), ("operator", "op", True),
])  # fmt: skip
def test_only_who_may_edit_the_pipeline_decides_on_qa_items(
    client: Any, settings: KisaSettings, user: str, role: str, may_decide: bool
) -> None:
    _world(settings)
    assert settings.airflow.users[user] == role  # a real Airflow user of that role
    auth = {"authorization": f"Bearer {token_of(client, settings, user)}"}
    assert client.get(f"/kisa/qa/cardiology/{RUN}", headers={**HTML, **auth}).status_code == 200
    form = {"decision": "accept", "note": f"by a {role}", "run": RUN}
    done = client.post("/kisa/qa/cardiology/q1/review", data=form,
                       headers={**auth, "origin": "http://testserver"})  # fmt: skip
    store = ArtefactStore.from_settings(settings)
    if may_decide:
        assert done.status_code == 303
        assert decisions(store, "cardiology")["q1"].reviewer == user
    else:
        assert done.status_code == 403 and "needs permission to edit kisa_pipeline" in done.text
        assert decisions(store, "cardiology").get("q1") is None or (
            decisions(store, "cardiology")["q1"].reviewer != user
        )


def test_a_link_from_s3_data_is_a_web_link_or_nothing(
    client: Any, token: str, settings: KisaSettings
) -> None:
    _world(settings)
    store = ArtefactStore.from_settings(settings)
    auth = {**HTML, "authorization": f"Bearer {token}"}
    for bad in ("javascript:alert(document.cookie)", " JavaScript:alert(1)",
                "data:text/html,<script>alert(1)</script>", "//evil.example/x"):  # fmt: skip
        store.put_json(manifest_key(DAG, RUN), {"mlflow_run_url": bad})
        page = client.get(f"/kisa/quality/{DAG}/{RUN}", headers=auth).text
        assert "MLflow run" not in page and "alert(" not in page.lower()
    store.put_json(manifest_key(DAG, RUN), {"mlflow_run_url": "http://127.0.0.1:5000/#/runs/r1"})
    assert "MLflow run" in client.get(f"/kisa/quality/{DAG}/{RUN}", headers=auth).text


def test_data_docs_are_sandboxed_and_only_what_the_gate_wrote_is_served(
    client: Any, token: str, settings: KisaSettings
) -> None:
    _world(settings)
    store = ArtefactStore.from_settings(settings)
    auth = {"authorization": f"Bearer {token}"}
    prefix = f"quality/dag={DAG}/run={RUN}/qa"
    listed = store.get_json(f"{prefix}/summary.json")["docs_files"]
    page = next(p for p in listed if p.endswith(".html"))
    served = client.get(f"/kisa/docs/{DAG}/{RUN}/qa/{page}", headers=auth)
    assert served.status_code == 200
    assert served.headers["content-security-policy"].startswith("sandbox;")
    assert "default-src 'none'" in served.headers["content-security-policy"]
    assert served.headers["x-content-type-options"] == "nosniff"
    # An object someone else put under the report's prefix is not the gate's.
    script = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    store.put_bytes(f"{prefix}/docs/evil.svg", script)
    assert client.get(f"/kisa/docs/{DAG}/{RUN}/qa/evil.svg", headers=auth).status_code == 404
    # Nor is a page the gate wrote once it was changed.
    store.put_bytes(f"{prefix}/docs/{page}", b"<script>alert(1)</script>")
    changed = client.get(f"/kisa/docs/{DAG}/{RUN}/qa/{page}", headers=auth)
    assert changed.status_code == 404 and "alert" not in changed.text
