"""Quality gates on the real S3 server and MLflow: the repo's suites load
whole and agree with the code's allowed sets; a critical failure fails the
gate naming the suite and the expectation, with the report still on S3 and
in MLflow; a warning is recorded and does not fail it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from mlflow.tracking import MlflowClient

from kisa_tasks.agent.loop import TERMINATIONS
from kisa_tasks.agent.stage import TRAJECTORIES_SCHEMA
from kisa_tasks.artefacts import ArtefactStore, Partition, Rejection
from kisa_tasks.artefacts.schemas import schema_for
from kisa_tasks.qa.records import QAItem, to_table
from kisa_tasks.quality.gate import QualityGateError, check_suite, quality_prefix, run_gate
from kisa_tasks.quality.validate import SuiteError, load_suite, suite_names
from kisa_tasks.settings import KisaSettings
from kisa_tasks.specialties import SPECIALTIES
from kisa_tasks.stats.stages import SEEDS_SCHEMA
from kisa_tasks.tracking import ensure_dag_run
from kisa_tasks.triples.rules import RELATION_TYPES
from kisa_tasks.vocabulary import ENTITY_TYPES, QUESTION_TYPES, STRATEGIES

DAG = "kisa_pipeline"


def _loaded(suite: str) -> list[dict[str, Any]]:
    return [e.configuration.kwargs for e in load_suite(suite).expectations]


def _value_sets(suite: str) -> dict[str, set[Any]]:
    return {
        kwargs["column"]: set(kwargs["value_set"])
        for kwargs in _loaded(suite)
        if isinstance(kwargs.get("value_set"), list)
    }


def test_every_suite_loads_whole_and_its_allowed_sets_follow_the_code() -> None:
    names = suite_names()
    assert set(names) >= {"abstracts", "mentions", "entities", "triples", "subgraphs", "qa",
                          "trajectories", "sft"}  # fmt: skip
    for name in names:
        document = json.loads((Path("kisa_tasks/quality/suites") / f"{name}.json").read_text())
        assert len(load_suite(name).expectations) == len(document["expectations"])
        # The suite names the code's value sets and the record's columns; it holds no copy.
        text = json.dumps(document)
        assert '"oncology"' not in text and '"max_chain"' not in text and '"treats"' not in text
    assert _value_sets("triples")["relation_type"] == set(RELATION_TYPES)
    assert _value_sets("mentions")["type"] == set(ENTITY_TYPES)
    assert _value_sets("qa")["specialty"] == {s.id for s in SPECIALTIES}
    assert _value_sets("qa")["strategy"] == set(STRATEGIES) == _value_sets("subgraphs")["strategy"]
    assert _value_sets("qa")["question_type"] == {*QUESTION_TYPES, ""}
    assert _value_sets("trajectories")["termination"] <= set(TERMINATIONS)
    # Columns: the record's schema, a length twin per list column, then what derive adds.
    (qa_columns,) = [k["column_set"] for k in _loaded("qa") if "column_set" in k]
    names = schema_for("qa").names
    assert qa_columns[: len(names)] == names and "path__len" in qa_columns
    (triple_columns,) = [k["column_set"] for k in _loaded("triples") if "column_set" in k]
    assert triple_columns[-2:] == ["self_loop", "signature_violation"]


def test_a_suite_reference_that_names_nothing_is_refused(tmp_path: Path) -> None:
    for bad in ({"$VALUES": "kisa_tasks.vocabulary:NO_SUCH_SET"}, {"$VALUES": "nowhere:X"},
                {"$VALUES": "kisa_tasks.settings:PROJECT_ROOT"}):  # fmt: skip
        document = {"name": "bad", "expectations": [{
            "type": "expect_column_values_to_be_in_set",
            "kwargs": {"column": "a", "value_set": bad},
        }]}  # fmt: skip
        (tmp_path / "bad.json").write_text(json.dumps(document))
        with pytest.raises(SuiteError, match=r"bad.*expectation 1"):
            load_suite("bad", tmp_path)


def test_a_suite_naming_an_unknown_expectation_is_refused(tmp_path: Path) -> None:
    document = {
        "name": "broken",
        "expectations": [
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "a"}},
            {"type": "expect_column_values_to_be_shiny", "kwargs": {"column": "a"}},
        ],
    }
    (tmp_path / "broken.json").write_text(json.dumps(document))
    with pytest.raises(
        SuiteError, match=r"broken.*expectation 2 \('expect_column_values_to_be_shiny'\)"
    ):
        load_suite("broken", tmp_path)


def _qa(run: str, store: ArtefactStore) -> None:
    item = QAItem(
        seed="mesh:S", seed_name="Seedosis", specialty="cardiology", strategy="max_chain",
        subgraph_id="sg1", question="Seedosis causes a disease treated with which drug?",
        answer="Betanib", answer_id="db:D2", answer_aliases=(), reasoning_path="",
        entity_mapping=(), path=("mesh:S", "mesh:X", "db:D2"), paradigm="multi_hop_chain",
        generator="rules", prompt_version="rules-v1", qa_id="q1",
    )  # fmt: skip
    store.write(Partition("qa", "cardiology", run), [to_table([item])])


def _trajectory(trajectory_id: str, qa_id: str, mode: str = "guided") -> dict[str, Any]:
    turns = [{"role": r, "content": f"{r} turn"} for r in ("system", "user", "assistant", "user")]
    return {
        "trajectory_id": trajectory_id, "qa_id": qa_id, "seed": "mesh:S",
        "specialty": "cardiology", "mode": mode, "policy": "rules", "messages": turns,
        "answer": "Betanib", "termination": "answered", "tool_calls": 2, "turns": 2,
        "raw_messages": None, "rollout": 0, "guidance": "", "failed_calls": [], "recovered": 0,
        "item_rollouts": 4, "item_pass_rate": 0.25, "explore_pass_rate": None,
        "question_type": "treatment",
    }  # fmt: skip


def _write(store: ArtefactStore, run: str, rows: list[dict[str, Any]], rejected: int = 0) -> None:
    store.write(
        Partition("trajectories", "cardiology", run),
        [pa.Table.from_pylist(rows, schema=TRAJECTORIES_SCHEMA)],
        [Rejection(f"r{i}", "incorrect: answered 'x'", {"n": i}) for i in range(rejected)],
    )


def test_a_critical_failure_fails_the_gate_and_leaves_its_report(settings: KisaSettings) -> None:
    store = ArtefactStore.from_settings(settings)
    run = "gate-critical"
    _qa(run, store)
    # An imported trajectory answers no QA item of ours: exempt from the reference check.
    _write(store, run, [_trajectory("t1", "q1"), _trajectory("t2", "import:x.jsonl:1", "import"),
                        _trajectory("t3", "q-missing")])  # fmt: skip
    mlflow_run = ensure_dag_run(settings, dag_id=DAG, run_id=run, tags={}, params={})
    with pytest.raises(QualityGateError) as failed:
        run_gate(settings, stage="trajectories", specialty="cardiology", run_id=run, dag_id=DAG,
                 mlflow_run_id=mlflow_run.run_id)  # fmt: skip
    message = str(failed.value)
    assert "suite 'trajectories' (trajectories.json), 1 critical expectation(s)" in message
    assert "expect_column_values_to_be_in_set(qa_id): 1 unexpected, e.g. ['q-missing']" in message
    # The evidence stays browsable: the summary, the Data Docs page it names, MLflow.
    prefix = f"{quality_prefix(DAG, run)}/trajectories"
    summary = store.get_json(f"{prefix}/summary.json")
    assert summary["passed"] is False and summary["failed_critical"] == 1
    assert store.exists(f"{prefix}/docs/index.html")
    page = store.get_bytes(f"{prefix}/docs/{summary['docs_page']}").decode()
    assert "q-missing" in page
    client = MlflowClient(tracking_uri=settings.mlflow_uri())
    metrics = client.get_run(mlflow_run.run_id).data.metrics
    assert metrics["gate.trajectories.failed_critical"] == 1
    assert metrics["gate.trajectories.passed"] == 0
    artifacts = [a.path for a in client.list_artifacts(mlflow_run.run_id, "quality/trajectories")]
    assert "quality/trajectories/summary.json" in artifacts


def test_warnings_are_recorded_and_do_not_fail_the_gate(settings: KisaSettings) -> None:
    store = ArtefactStore.from_settings(settings)
    run = "gate-warning"
    _qa(run, store)
    # One kept of 40: an accept rate under the warning bound, nothing critical.
    _write(store, run, [_trajectory("t1", "q1")], rejected=39)
    result = run_gate(
        settings, stage="trajectories", specialty="cardiology", run_id=run, dag_id=DAG
    )
    summary = result["suites"]["trajectories"]
    assert summary["passed"] and summary["failed_critical"] == 0
    [warned] = [c for c in summary["checks"] if not c["success"]]
    assert warned["expectation"] == "expect_column_max_to_be_between"
    assert warned["severity"] == "warning" and warned["observed"] == pytest.approx(0.025)
    # A rerun replaces the report rather than piling up pages.
    run_gate(settings, stage="trajectories", specialty="cardiology", run_id=run, dag_id=DAG)
    pages = [
        k for k in store.list_keys(f"{quality_prefix(DAG, run)}/trajectories/docs/validations")
    ]
    assert len(pages) == 1


def test_a_relation_its_ends_cannot_hold_fails_the_triples_gate(
    settings: KisaSettings, tmp_path: Path
) -> None:
    from kisa_tasks.subgraphs.stage import TRIPLES_SCHEMA

    store = ArtefactStore.from_settings(settings)
    run = "gate-signatures"
    store.write(Partition("seeds", "cardiology", run), [pa.Table.from_pylist(
        [{"canonical_id": "mesh:S", "name": "Seedosis", "type": "disease", "doc_freq": 2,
          "mention_count": 2, "corpus_doc_freq": 2, "rel_freq": 0.1, "corpus_docs": 20}],
        schema=SEEDS_SCHEMA)])  # fmt: skip

    def triple(head_kind: str, relation: str, tail_kind: str) -> dict[str, Any]:
        return {"seed": "mesh:S", "head": f"x:{head_kind}", "head_name": head_kind,
                "relation": relation, "relation_type": relation, "tail": "mesh:S",
                "tail_name": "Seedosis", "pmid": "1", "sentence": "S.", "extractor": "rules",
                "confidence": 0.9, "support": "sentence", "head_kind": head_kind,
                "tail_kind": tail_kind}  # fmt: skip

    def critical(rows: list[dict[str, Any]], docs: Path) -> list[str]:
        store.write(Partition("triples", "cardiology", run),
                    [pa.Table.from_pylist(rows, schema=TRIPLES_SCHEMA)])  # fmt: skip
        outcome = check_suite(store, "triples", "cardiology", run, docs)
        return [c.column or c.expectation for c in outcome.failed_at("critical")]

    good = [triple("drug", "treats", "disease")]
    assert critical(good, tmp_path / "good") == []
    organ = [*good, triple("anatomy", "causes", "disease")]  # "Colon causes ..."
    assert critical(organ, tmp_path / "organ") == ["signature_violation"]
    drug_treats_drug = [*good, triple("drug", "treats", "drug")]
    assert critical(drug_treats_drug, tmp_path / "drug") == ["signature_violation"]
