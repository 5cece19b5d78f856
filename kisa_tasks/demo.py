"""``kisa demo``: bring the embedded platform up and run the pipeline once.

The DAG runs through Airflow's own ``dag.test()`` against the same metadata DB
the local Airflow UI uses, so the run shows up there afterwards.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kisa_tasks.artefacts import ArtefactStore, Partition
from kisa_tasks.artefacts.schemas import registered_stages
from kisa_tasks.review.data import run_quality
from kisa_tasks.run_manifest import manifest_key
from kisa_tasks.services.airflow_local import airflow_env, migrate_db
from kisa_tasks.services.process import ProcessRecord, choose_ports
from kisa_tasks.settings import PROJECT_ROOT, KisaSettings


@dataclass(frozen=True)
class DemoResult:
    dag_run_id: str
    state: str
    task_states: dict[str, str]
    manifest_uri: str | None
    manifest: dict[str, Any] | None
    artefacts: list[tuple[str, int, int]]  # (uri, rows, rejected rows)
    seconds: float
    gates: list[dict[str, Any]]  # the quality gates' summaries, in pipeline order


def demo_airflow_env(settings: KisaSettings) -> dict[str, str]:
    """Airflow env for an in-process ``dag.test()``; ports of a running local
    Airflow if there is one, else fresh ones (nothing listens in dag.test)."""
    record = ProcessRecord.load(settings.home / "run" / "airflow.json")
    ports = record.ports if record else choose_ports(("api", "logs"), {})
    return airflow_env(settings, ports["api"], ports["logs"])


def committed_outputs(
    store: ArtefactStore, specialty: str, run_id: str
) -> list[tuple[str, int, int]]:
    """Every stage partition this run committed, in pipeline order."""
    import kisa_tasks.subgraphs.stage  # noqa: F401 - registers every stage schema so far

    out = []
    for stage in sorted(registered_stages(), key=_pipeline_order):
        partition = Partition(stage, specialty, run_id)
        if store.is_committed(partition):
            marker = store.marker(partition)
            out.append((store.uri(partition.prefix), marker.rows, marker.rejected_rows))
    return out


PIPELINE_ORDER = ("abstracts", "mentions", "entities", "entity_stats", "seeds", "triples",
                  "subgraphs", "qa", "trajectories", "sft")  # fmt: skip


def _pipeline_order(stage: str) -> tuple[int, str]:
    # Registration order follows imports; a reader wants the pipeline's.
    known = PIPELINE_ORDER.index(stage) if stage in PIPELINE_ORDER else len(PIPELINE_ORDER)
    return known, stage


def run_pipeline(settings: KisaSettings, conf: Mapping[str, Any]) -> DemoResult:
    env = demo_airflow_env(settings)
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    migrate_db(env)
    os.environ.update(env)
    # Task logs stay in the run's log files; the console gets the summary.
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    if str(PROJECT_ROOT / "dags") not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT / "dags"))
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags"))
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {json.dumps(bag.import_errors, indent=2)}")
    dag = bag.get_dag("kisa_pipeline")
    if dag is None:
        raise RuntimeError("kisa_pipeline DAG not found under dags/")
    start = time.monotonic()
    dag_run = dag.test(run_conf=dict(conf))
    states = {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}
    manifest_uri, manifest = None, None
    store = ArtefactStore.from_settings(settings)
    if str(dag_run.state) == "success":
        key = manifest_key(dag.dag_id, dag_run.run_id)
        manifest_uri, manifest = store.uri(key), store.get_json(key)
    artefacts = committed_outputs(store, str(conf.get("specialty", "cardiology")), dag_run.run_id)
    return DemoResult(
        dag_run_id=dag_run.run_id,
        state=str(dag_run.state),
        task_states=states,
        manifest_uri=manifest_uri,
        manifest=manifest,
        artefacts=artefacts,
        seconds=round(time.monotonic() - start, 1),
        gates=run_quality(store, dag.dag_id, dag_run.run_id),
    )
