"""The pipeline list (``kisa_tasks.pipeline``) is the one place a stage is
declared: the DAG, the gates, the backends and the demo's artefact table
all follow it, so adding a stage is a module plus one entry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import full_conf
from toy_stage import TOY

from kisa_tasks.artefacts import ArtefactStore, Partition
from kisa_tasks.demo import committed_outputs
from kisa_tasks.pipeline import PIPELINE, Stage, partitions, schema_ref, stage_backends
from kisa_tasks.quality.gate import quality_prefix
from kisa_tasks.settings import KisaSettings
from kisa_tasks.vocabulary import BACKENDS


def test_every_partition_is_written_by_one_stage_and_names_its_schema() -> None:
    names = partitions()
    assert len(names) == len(set(names))
    assert [s.name for s in PIPELINE][:2] == ["abstracts", "mentions"]
    # A stage is named like what it writes (graphs writes its triples and sub-graphs).
    assert all(s.name in s.writes for s in PIPELINE if s.name != "graphs")
    for name in names:
        ref = schema_ref(name)
        assert ref is not None and ":" in ref
    for stage in PIPELINE:
        for suite in stage.suites:
            assert suite.partition in stage.writes, f"{stage.name} validates what it does not write"
            for ref in suite.references.values():
                assert names.index(ref.partition) <= names.index(suite.partition)


def test_the_run_backend_means_one_backend_per_stage_and_is_checked() -> None:
    assert stage_backends("offline")["mentions"] == "lexicon"
    assert set(stage_backends("llm").values()) == {"llm"}
    assert set(stage_backends("offline")) == set(stage_backends("llm"))
    with pytest.raises(ValueError, match="must map every run backend"):
        Stage("half", "m:f", writes={}, backends={"offline": "rules"})
    assert set(BACKENDS) == {"offline", "llm"}


def test_the_dag_is_the_list(dagbag: Any) -> None:
    from kisa_common.pipeline_dag import pipeline_dag

    dag = dagbag.get_dag("kisa_pipeline")
    around = {"resolve_config", "check_platform", "open_tracking", "close_tracking"}
    stage_ids = [t for t in dag.task_ids if t not in around]
    expected = set()
    for stage in PIPELINE:
        expected |= {stage.name} | ({f"gate_{stage.name}"} if stage.suites else set())
        if stage.shards:
            expected |= {f"plan_{stage.name}", f"{stage.name}_shard"}
    assert set(stage_ids) == expected
    # A stage appended to the list runs after the last gate, gated itself.
    longer = pipeline_dag("kisa_longer", (*PIPELINE, TOY), "the pipeline plus a toy stage")
    assert longer.get_task("branches").upstream_task_ids == {"gate_sft", "resolve_config",
                                                             "open_tracking"}  # fmt: skip
    assert longer.get_task("gate_branches").upstream_task_ids >= {"branches"}
    assert "gate_branches" in longer.get_task("close_tracking").upstream_task_ids


def serialize(dag: Any) -> None:
    """Write a DAG built in a test to the metadata DB, as the DAG processor
    does for a file under dags/ (``dag.test()`` runs only serialized DAGs)."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.collection import update_dag_parsing_results_in_db
    from airflow.serialization.serialized_objects import LazyDeserializedDAG
    from airflow.utils.session import create_session

    manager = DagBundlesManager()
    with create_session() as session:
        manager.sync_bundles_to_db(session=session)
    bundle = next(iter(manager.get_all_dag_bundles())).name
    with create_session() as session:
        update_dag_parsing_results_in_db(bundle, None, [LazyDeserializedDAG.from_dag(dag)],
                                         {}, None, set(), session=session)  # fmt: skip


def test_a_stage_added_to_a_list_gets_its_task_gate_and_demo_row(
    dagbag: Any, settings: KisaSettings
) -> None:
    from kisa_common.pipeline_dag import pipeline_dag

    dag = pipeline_dag("kisa_toy", (TOY,), "a pipeline of one toy stage")
    serialize(dag)
    run = dag.test(run_conf=full_conf({"specialty": "oncology", "qa_per_seed": 3}))
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert states["branches"] == states["gate_branches"] == "success", states
    store = ArtefactStore.from_settings(settings)
    table = store.read(Partition("branches", "oncology", run.run_id))
    assert table.to_pylist() == [{"specialty": "oncology", "branch": "C04", "copy": c}
                                 for c in range(3)]  # fmt: skip
    summary = store.get_json(f"{quality_prefix('kisa_toy', run.run_id)}/branches/summary.json")
    assert summary["passed"] and summary["stage"] == "branches" and summary["evaluated"] == 3
    rows = committed_outputs(store, "oncology", run.run_id, (TOY,))
    assert rows == [(store.uri(Partition("branches", "oncology", run.run_id).prefix), 3, 0)]


def test_the_stage_table_in_the_docs_is_generated_from_the_list() -> None:
    import subprocess
    import sys

    from kisa_tasks.settings import PROJECT_ROOT

    out = subprocess.run([sys.executable, str(PROJECT_ROOT / "tools" / "stage_docs.py"), "--check"],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr
    table = (PROJECT_ROOT / "docs" / "stages.md").read_text()
    for stage in PIPELINE:
        assert f"`{stage.run}`" in table


# Run in a copy of the code with one row added to the specialty table: the
# forms of the three DAGs, the suites and the MeSH mapping take it up.
THIRTEENTH = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
from kisa_tasks.quality.validate import load_suite
from kisa_tasks.run_config import RunConfig
from kisa_tasks.specialties import specialties_for
from kisa_tasks.training.forms import EvalConfig, TrainConfig

bag = DagBag(dag_folder=sys.argv[1])
forms = {d: bag.get_dag(d).params.get_param("specialty").schema["enum"]
         for d in ("kisa_pipeline", "kisa_train", "kisa_evaluate")}
qa = [e.configuration.kwargs["value_set"] for e in load_suite("qa").expectations
      if e.configuration.kwargs.get("column") == "specialty"]
RunConfig(specialty="ophthalmology"), TrainConfig(specialty="ophthalmology")
EvalConfig(specialty="ophthalmology")
print(json.dumps({"errors": dict(bag.import_errors), "forms": forms, "qa": qa,
                  "mesh": specialties_for(["C11.768.773"])}))
"""


def test_a_thirteenth_specialty_is_one_row_in_one_file(
    airflow_db: dict[str, str], tmp_path: Path
) -> None:
    import json
    import os
    import shutil
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    for package in ("kisa_tasks", "dags"):
        shutil.copytree(root / package, tmp_path / package,
                        ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    table = tmp_path / "kisa_tasks" / "specialties.py"
    row = '    Specialty("psychiatry", "Psychiatry", ("F03",)),\n'
    assert row in table.read_text()
    table.write_text(table.read_text().replace(
        row, row + '    Specialty("ophthalmology", "Ophthalmology", ("C11",)),\n'))  # fmt: skip
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{tmp_path / 'dags'}"}
    done = subprocess.run([sys.executable, "-c", THIRTEENTH, str(tmp_path / "dags")],
                          cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["errors"] == {}
    for dag_id, choices in found["forms"].items():
        assert choices[-1] == "ophthalmology" and len(choices) == 13, dag_id
    assert found["qa"] == [found["forms"]["kisa_pipeline"]]
    assert found["mesh"] == ["ophthalmology"]
