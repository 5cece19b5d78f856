"""DAG integrity and a real pipeline run through Airflow's ``dag.test()``."""

from __future__ import annotations

import doctest
import json
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ONCOLOGY_CONF

from kisa_tasks.platform_check import PlatformUnavailableError, check_platform
from kisa_tasks.run_config import RunConfig
from kisa_tasks.run_manifest import manifest_key, open_run
from kisa_tasks.services import ServiceManager
from kisa_tasks.services.process import choose_ports
from kisa_tasks.settings import PROJECT_ROOT, KisaSettings, load_settings
from kisa_tasks.specialties import SPECIALTY_IDS

DAGS = PROJECT_ROOT / "dags"


def test_every_dag_file_imports_and_declares_the_basics(dagbag: Any) -> None:
    assert dagbag.import_errors == {}
    assert "kisa_pipeline" in dagbag.dag_ids
    for dag_id in dagbag.dag_ids:
        dag = dagbag.get_dag(dag_id)
        assert dag.tags, f"{dag_id} has no tags"
        assert dag.doc_md and len(dag.doc_md) > 100, f"{dag_id} has no docs"
        assert not dag.catchup
        for task in dag.tasks:
            assert task.retries >= 1, f"{dag_id}.{task.task_id} has no retries"


def test_dag_files_parse_with_no_platform_configured(tmp_path: Path) -> None:
    """Parsing does no I/O: with no services and no endpoints it still imports."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KISA_", "AIRFLOW"))}
    env.update(KISA_HOME=str(tmp_path), AIRFLOW_HOME=str(tmp_path / "af"))
    env["PYTHONPATH"] = str(DAGS)  # as Airflow puts the DAGs folder on sys.path
    files = {"kisa_pipeline": "pipeline", "kisa_train": "train", "kisa_evaluate": "evaluation"}
    for dag_id, attribute in files.items():
        code = (
            "import importlib.util, sys;"
            f"spec = importlib.util.spec_from_file_location('p', {str(DAGS / (dag_id + '.py'))!r});"
            "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m);"
            f"print(m.{attribute}.dag_id)"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
        )
        assert out.returncode == 0, out.stderr[-2000:]
        assert out.stdout.strip().endswith(dag_id)


def test_trigger_form_is_typed_and_documented(dagbag: Any) -> None:
    params = dagbag.get_dag("kisa_pipeline").params
    assert set(params.keys()) == set(RunConfig.model_fields)
    specialty = params.get_param("specialty").schema
    assert specialty["enum"] == list(SPECIALTY_IDS) and len(SPECIALTY_IDS) == 12
    assert params.get_param("max_abstracts").schema["type"] == "integer"
    assert params.get_param("backend").schema["enum"] == ["offline", "llm"]
    assert "mixed" in params.get_param("sampling_strategy").schema["enum"]
    for name in params.keys():
        assert params.get_param(name).description, f"{name} undocumented"
        assert params.get_param(name).schema.get("title"), f"{name} has no form label"


def test_trigger_form_rejects_an_unknown_specialty(dagbag: Any) -> None:
    from airflow.sdk.definitions.param import ParamValidationError

    with pytest.raises(ParamValidationError):
        dagbag.get_dag("kisa_pipeline").test(run_conf={"specialty": "astrology"})


def test_pipeline_run_writes_manifest_and_tracks_in_mlflow(
    oncology_run: Any, settings: KisaSettings
) -> None:
    from kisa_tasks.pipeline import PIPELINE, gated_suites
    from kisa_tasks.quality.gate import quality_prefix

    dag_run = oncology_run
    states = {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}
    assert states == {
        "resolve_config": "success",
        "check_platform": "success",
        "open_tracking": "success",
        "abstracts": "success",
        "mentions": "success",
        "entities": "success",
        "entity_stats": "success",
        "seeds": "success",
        "plan_graphs": "success",
        "graphs_shard": "success",
        "graphs": "success",
        "qa": "success",
        "trajectories": "success",
        "sft": "success",
        **{f"gate_{stage.name}": "success" for stage in PIPELINE if stage.suites},
        "close_tracking": "success",
    }
    shard_tis = [ti for ti in dag_run.get_task_instances() if ti.task_id == "graphs_shard"]
    assert len(shard_tis) > 1  # seeds fanned out over mapped tasks
    from kisa_tasks.artefacts import ArtefactStore, Partition
    from kisa_tasks.ingest.abstracts import ABSTRACTS_SCHEMA

    store = ArtefactStore.from_settings(settings)
    manifest = store.get_json(manifest_key("kisa_pipeline", dag_run.run_id))
    abstracts = store.read(Partition("abstracts", "oncology", dag_run.run_id))
    assert abstracts.schema.equals(ABSTRACTS_SCHEMA)
    assert 0 < abstracts.num_rows <= 1500
    assert all("oncology" in s for s in abstracts.column("specialties").to_pylist())
    mentions = store.read(Partition("mentions", "oncology", dag_run.run_id))
    assert mentions.num_rows > abstracts.num_rows  # several entities per abstract
    assert set(mentions.column("pmid").to_pylist()) <= set(abstracts.column("pmid").to_pylist())
    assert manifest["config"]["specialty"] == "oncology"
    assert manifest["config"]["random_seed"] == 7
    assert manifest["config"]["publication_window"] is None  # a manual run reads everything
    assert {c["component"] for c in manifest["platform_checks"]} == {"s3", "graph", "mlflow"}

    from mlflow.tracking import MlflowClient

    run = MlflowClient(settings.mlflow_uri()).get_run(manifest["mlflow_run_id"])
    assert run.data.tags["dag_id"] == "kisa_pipeline"
    assert run.info.status == "FINISHED" and run.data.tags["failed_tasks"] == "none"
    assert run.data.tags["airflow.run_id"] == dag_run.run_id
    assert run.data.tags["specialty"] == "oncology"
    assert run.data.tags["backend"] == "offline"
    assert run.data.tags["backend.trajectories"] == "rules"
    assert len(run.data.tags["git_sha"]) in (7, 40) or run.data.tags["git_sha"] == "unknown"
    assert run.data.params["max_abstracts"] == "1500"
    assert run.data.metrics["abstracts.kept"] == abstracts.num_rows
    assert run.data.metrics["mentions.mentions"] == mentions.num_rows
    seeds = store.read(Partition("seeds", "oncology", dag_run.run_id))
    assert 0 < seeds.num_rows <= ONCOLOGY_CONF["max_seeds"]
    assert set(seeds.column("type").to_pylist()) <= {"disease", "drug", "chemical"}
    assert run.data.metrics["seeds.seeds"] == seeds.num_rows
    subgraphs = store.read(Partition("subgraphs", "oncology", dag_run.run_id))
    skipped = store.read_rejected(Partition("subgraphs", "oncology", dag_run.run_id))
    assert subgraphs.num_rows + skipped.num_rows == seeds.num_rows  # every seed accounted for
    assert subgraphs.num_rows > 0 and min(subgraphs.column("hops").to_pylist()) >= 1
    hops = sum(v for k, v in run.data.metrics.items() if k.startswith("graphs.hops_"))
    assert hops == subgraphs.num_rows
    longest = {
        int(k.rsplit("_", 1)[1]): v
        for k, v in run.data.metrics.items()
        if k.startswith("graphs.longest_path_hops_")
    }
    assert longest == dict(Counter(subgraphs.column("longest_path_hops").to_pylist()))
    triples = store.read(Partition("triples", "oncology", dag_run.run_id))
    assert set(triples.column("seed").to_pylist()) == set(subgraphs.column("seed").to_pylist())
    _check_qa(store, run.data.metrics, subgraphs, dag_run.run_id)
    # Every train item is rolled out k times, each rollout kept or rejected with a
    # reason; test items are never rolled out.
    partition = Partition("trajectories", "oncology", dag_run.run_id)
    kept = store.read(partition)
    dropped = store.read_rejected(partition)
    qa = store.read(Partition("qa", "oncology", dag_run.run_id)).to_pylist()
    train = {r["qa_id"] for r in qa if r["split"] == "train"}
    rollouts = settings.agent.rollouts_per_item * len(train)
    assert kept.num_rows + dropped.num_rows == rollouts == run.data.metrics["trajectories.rollouts"]
    assert set(kept.column("qa_id").to_pylist()) <= train
    assert all(":" in r for r in dropped.column("reason").to_pylist())
    sft = store.read(Partition("sft", "oncology", dag_run.run_id))
    assert 0 < sft.num_rows <= kept.num_rows and sft.num_rows == run.data.metrics["sft.examples"]
    assert_training_view(sft.to_pylist(), qa, kept.to_pylist())
    # Every gate validated its suites and left its report on S3 and in MLflow.
    for suite in gated_suites():
        summary = store.get_json(
            f"{quality_prefix('kisa_pipeline', dag_run.run_id)}/{suite}/summary.json"
        )
        assert (
            summary["passed"]
            and summary["evaluated"] == run.data.metrics[f"gate.{suite}.evaluated"]
        )
        assert run.data.metrics[f"gate.{suite}.failed_critical"] == 0


def assert_training_view(
    examples: list[dict[str, Any]], qa: list[dict[str, Any]], trajectories: list[dict[str, Any]]
) -> None:
    """Every SFT example is what the model sees at inference: the system
    prompt, the question alone, then the agent's own turns; no MTG hint, no
    masked name, no line of the reasoning path in any turn; train items only."""
    from kisa_tasks.agent.mtg import GUIDANCE_PREFIX, SYSTEM_PROMPT

    items = {r["qa_id"]: r for r in qa}
    hints = {t["trajectory_id"]: t["guidance"] for t in trajectories}
    assert any(hints[e["trajectory_id"]] for e in examples), "no guided example to check"
    for example in examples:
        item = items[example["qa_id"]]
        assert item["split"] == "train"
        messages = example["messages"]
        assert messages[0]["content"] == SYSTEM_PROMPT
        assert messages[1]["content"].endswith(f"User: {item['question']}")
        path_lines = [
            line.strip()
            for text in (item["reasoning_path"], hints[example["trajectory_id"]])
            for line in text.splitlines()
            if len(line.strip()) > 20 and line.strip() not in item["question"]
        ]
        for message in messages:
            text = message["content"]
            assert GUIDANCE_PREFIX.strip() not in text and "Hints for planning" not in text
            assert not re.search(r"\bEntity [A-Z]\b|Target_Entity|\bClue_\d", text), text
            assert not any(line in text for line in path_lines)


def _check_qa(store: Any, metrics: dict[str, float], subgraphs: Any, run_id: str) -> None:
    """Every committed QA item is valid; the counts and the export agree."""
    from kisa_tasks.artefacts import Partition
    from kisa_tasks.qa.formats import from_reference
    from kisa_tasks.qa.records import QAItem
    from kisa_tasks.qa.stage import export_key
    from kisa_tasks.qa.text import normalise

    qa = store.read(Partition("qa", "oncology", run_id))
    rejected = store.read_rejected(Partition("qa", "oncology", run_id))
    items = [QAItem.from_row(r) for r in qa.to_pylist()]
    assert metrics["qa.subgraphs"] == subgraphs.num_rows
    assert metrics["qa.items"] == len(items) and metrics["qa.generated"] >= subgraphs.num_rows
    assert sum(v for k, v in metrics.items() if k.startswith("qa.rejected_")) > 0
    assert rejected.num_rows > 0 and all(":" in r for r in rejected.column("reason").to_pylist())
    names = {
        node: name
        for row in subgraphs.to_pylist()
        for node, name in zip(row["nodes"], row["node_names"], strict=True)
    }
    for item in items:
        assert item.hops >= 2 and item.answer_id == item.path[-1]
        assert item.solver_accuracy is not None and item.solver_accuracy <= 0.5
        for node in item.path:  # no path entity is named
            if node in names:
                pattern = rf"\b{re.escape(normalise(names[node]))}\b"
                assert not re.search(pattern, normalise(item.question)), (node, item.question)
    hops = sum(v for k, v in metrics.items() if k.startswith("qa.hops_"))
    assert hops == len(items)
    lines = store.get_bytes(export_key("oncology", run_id)).decode().splitlines()
    assert [from_reference(json.loads(line), "oncology") for line in lines] == items


@pytest.fixture(scope="module")
def smollm2(services: ServiceManager, kisa_home: Path) -> Iterator[None]:
    """The embedded SmolLM2 server, registered in the session's endpoints."""
    # The default manager knows every service, so the endpoints file keeps them all.
    manager = ServiceManager(load_settings(home=kisa_home))
    manager.up(["llm"])
    yield
    manager.down(["llm"])


@pytest.mark.slow
def test_llm_backend_runs_end_to_end_against_the_embedded_model(
    dagbag: Any, settings: KisaSettings, smollm2: None
) -> None:
    dag_run = dagbag.get_dag("kisa_pipeline").test(
        run_conf={"specialty": "cardiology", "backend": "llm", "max_abstracts": 2}
    )
    states = {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}
    assert set(states.values()) == {"success"}, states
    from mlflow.tracking import MlflowClient

    from kisa_tasks.artefacts import ArtefactStore, Partition

    store = ArtefactStore.from_settings(settings)
    run = dag_run.run_id
    abstracts = store.read(Partition("abstracts", "cardiology", run))
    mentions = store.read(Partition("mentions", "cardiology", run))
    rejected = store.read_rejected(Partition("mentions", "cardiology", run))
    assert abstracts.num_rows == 2
    assert set(mentions.column("backend").to_pylist()) <= {"llm"}
    with_mentions = set(mentions.column("pmid").to_pylist())
    failed = set(rejected.column("record_key").to_pylist())
    assert with_mentions | failed <= set(abstracts.column("pmid").to_pylist())
    assert all(r.startswith("llm_failed: ") for r in rejected.column("reason").to_pylist())
    entities = store.read(Partition("entities", "cardiology", run))
    assert set(entities.column("backend").to_pylist()) <= {"llm"}
    manifest = store.get_json(manifest_key("kisa_pipeline", run))
    # The run checked first that the endpoint honours a JSON schema.
    [llm_check] = [c for c in manifest["platform_checks"] if c["component"] == "llm"]
    assert llm_check["ok"] and "structured output" in llm_check["detail"]
    metrics = MlflowClient(settings.mlflow_uri()).get_run(manifest["mlflow_run_id"]).data.metrics
    assert metrics["mentions.llm_calls"] >= 2 and metrics["mentions.llm_completion_tokens"] > 0
    assert metrics["mentions.mentions"] == mentions.num_rows
    # Every abstract is accounted for: with mentions, answered with none, or failed.
    assert len(with_mentions) + metrics["mentions.without_entities"] + len(failed) == 2
    assert metrics["mentions.failed"] == len(failed)


def test_a_retried_run_reuses_its_mlflow_run(settings: KisaSettings) -> None:
    from mlflow.tracking import MlflowClient

    from kisa_tasks.tracking import close_dag_run

    config = RunConfig(specialty="neurology").model_dump()
    first = open_run(dag_id="kisa_pipeline", run_id="retry_1", config=config, checks=[])
    client = MlflowClient(settings.mlflow_uri())
    # The teardown of a failed DAG run ends its MLflow run FAILED, naming the tasks.
    assert close_dag_run(settings, first["mlflow_run_id"], ["mentions", "entity_stats"]) == "FAILED"
    ended = client.get_run(first["mlflow_run_id"])
    assert (
        ended.info.status == "FAILED" and ended.data.tags["failed_tasks"] == "mentions,entity_stats"
    )
    again = open_run(dag_id="kisa_pipeline", run_id="retry_1", config=config, checks=[])
    other = open_run(dag_id="kisa_pipeline", run_id="retry_2", config=config, checks=[])
    assert first["mlflow_run_id"] == again["mlflow_run_id"] != other["mlflow_run_id"]
    # Cleared and run again: the same MLflow run, running again.
    assert client.get_run(first["mlflow_run_id"]).info.status == "RUNNING"


def test_the_tracking_teardown_runs_after_the_last_gate(dagbag: Any) -> None:
    import kisa_tasks.tracking

    dag = dagbag.get_dag("kisa_pipeline")
    close = dag.get_task("close_tracking")
    assert close.is_teardown and "gate_sft" in close.upstream_task_ids
    assert dag.get_task("open_tracking").is_setup
    assert doctest.testmod(kisa_tasks.tracking).failed == 0


def test_platform_check_names_the_component_that_is_down(
    settings: KisaSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    port = choose_ports(("x",), {})["x"]  # nothing listens there
    broken = settings.model_copy(
        update={
            "mlflow": settings.mlflow.model_copy(
                update={"tracking_uri": f"http://127.0.0.1:{port}"}
            )
        }
    )
    with pytest.raises(PlatformUnavailableError) as err:
        check_platform(broken)
    message = str(err.value)
    assert f"mlflow at http://127.0.0.1:{port}" in message
    assert "kisa services up" in message
    assert "s3 at" not in message  # the healthy ones are not blamed


def test_run_config_errors_name_the_field() -> None:
    from kisa_tasks.run_config import RunConfigError

    with pytest.raises(RunConfigError, match="max_seeds"):
        RunConfig.from_params({"max_seeds": 0})
    assert json.loads(RunConfig().model_dump_json())["specialty"] == "cardiology"


def test_airflow_connections_override_settings_inside_tasks(
    airflow_db: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from kisa_common.settings import task_settings

    monkeypatch.setenv(
        "AIRFLOW_CONN_KISA_MLFLOW",
        json.dumps({"conn_type": "http", "host": "http://mlflow.prod:5000"}),
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_KISA_NEO4J",
        json.dumps({"conn_type": "neo4j", "host": "graph.prod", "port": 7687, "login": "neo4j"}),
    )
    settings = task_settings()
    assert settings.mlflow_uri() == "http://mlflow.prod:5000"
    assert settings.graph.backend == "neo4j"
    assert settings.neo4j.uri == "bolt://graph.prod:7687"
    monkeypatch.delenv("AIRFLOW_CONN_KISA_MLFLOW")
    monkeypatch.delenv("AIRFLOW_CONN_KISA_NEO4J")
    assert task_settings().graph.backend == "falkordb"
