"""``kisa demo``: bring the embedded platform up, run the pipeline once, then
train (SFT, GRPO on the local Ray head) and evaluate the model.

The DAG runs through Airflow's own ``dag.test()`` against the same metadata DB
the local Airflow UI uses, so the run shows up there afterwards.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
import urllib.parse
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from kisa_tasks.artefacts import ArtefactStore, Partition
from kisa_tasks.pipeline import PIPELINE, Stage, partitions
from kisa_tasks.review.data import run_quality
from kisa_tasks.run_manifest import manifest_key
from kisa_tasks.services.airflow_local import airflow_env, migrate_db
from kisa_tasks.services.process import ProcessRecord
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
    ports = airflow_ports(settings)
    return airflow_env(settings, ports["api"], ports["logs"])


def airflow_ports(settings: KisaSettings) -> dict[str, int]:
    """The running local Airflow's ports, else the ones `make up` will use."""
    from kisa_tasks.services.manager import ServiceManager

    record = ProcessRecord.load(settings.home / "run" / "airflow.json")
    return record.ports if record else ServiceManager(settings).reserve_ports("airflow")


def urls_to_open(settings: KisaSettings, specialty: str, run_id: str) -> list[tuple[str, str]]:
    """Where to look at a pipeline run: its pages in the Airflow UI and the
    KISA review plugin (served by `make up`), and MLflow."""
    base = f"http://127.0.0.1:{airflow_ports(settings)['api']}"
    run = urllib.parse.quote(run_id, safe=":")
    return [
        ("Airflow run", f"{base}/dags/kisa_pipeline/runs/{run}"),
        ("quality reports", f"{base}/kisa/quality/kisa_pipeline/{run}"),
        ("knowledge graphs", f"{base}/kisa/graph/{specialty}/{run}"),
        ("QA review", f"{base}/kisa/qa/{specialty}/{run}"),
        ("trajectories", f"{base}/kisa/trajectories"),
        ("MLflow", settings.mlflow_uri()),
    ]


def committed_outputs(
    store: ArtefactStore, specialty: str, run_id: str, stages: tuple[Stage, ...] = PIPELINE
) -> list[tuple[str, int, int]]:
    """Every stage partition this run committed, in pipeline order."""
    out = []
    for name in partitions(stages):
        partition = Partition(name, specialty, run_id)
        if store.is_committed(partition):
            marker = store.marker(partition)
            out.append((store.uri(partition.prefix), marker.rows, marker.rejected_rows))
    return out


# Enough abstracts for rare seeds with two abstracts of evidence (20 gave
# none), few seeds and one question each. SmolLM2 on 2 CPU cores takes about
# 7 s an abstract: about 20 minutes here (docs/operations.md).
LOCAL_LLM_SAMPLE = {"max_abstracts": 100, "max_seeds": 3, "qa_per_seed": 1}


def demo_conf(
    specialty: str, random_seed: int, max_abstracts: int | None, llm: str
) -> dict[str, Any]:
    """The pipeline's trigger conf for a demo; ``llm`` picks the backend.

    >>> local = demo_conf("cardiology", 0, None, "local")
    >>> local["backend"], local["max_abstracts"], local["max_seeds"], local["qa_per_seed"]
    ('llm', 100, 3, 1)
    """
    if llm not in ("", "local", "endpoint"):
        raise ValueError(f"--llm {llm!r}: use '' (offline), 'local' or 'endpoint'")
    sample: dict[str, int] = LOCAL_LLM_SAMPLE if llm == "local" else {"max_abstracts": 2000}
    return {
        "specialty": specialty,
        "random_seed": random_seed,
        "backend": "llm" if llm else "offline",
        **sample,
        "max_abstracts": max_abstracts or sample["max_abstracts"],
    }


# dag.test() logs each task's start and end on this logger; the demo keeps
# Airflow's logs off the console and turns these into a progress line.
DAG_TEST_LOGGER = "airflow.sdk.definitions.dag"
_TASK_END = re.compile(r"\[DAG TEST\] end task task_id=(\S+)")


class _TaskEnds(logging.Handler):
    def __init__(self, on_end: Callable[[str], None]) -> None:
        super().__init__(logging.INFO)
        self.on_end = on_end

    def emit(self, record: logging.LogRecord) -> None:
        if match := _TASK_END.search(record.getMessage()):
            self.on_end(match.group(1))


@contextmanager
def task_progress(on_end: Callable[[str], None]) -> Iterator[None]:
    """Call ``on_end(task_id)`` as each task of a ``dag.test()`` run ends."""
    logger = logging.getLogger(DAG_TEST_LOGGER)
    handler, level, propagate = _TaskEnds(on_end), logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # the console still gets warnings only
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


def dag_bag(settings: KisaSettings) -> Any:
    """The project's DAGs, against the local Airflow's metadata DB."""
    env = demo_airflow_env(settings)
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    migrate_db(env)
    os.environ.update(env)
    # Task logs stay in the run's log files; the console gets the summary.
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    if str(PROJECT_ROOT / "dags") not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT / "dags"))
    from airflow.dag_processing.dagbag import DagBag

    # Airflow's own dependency deprecations would fill the summary.
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags"))
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {json.dumps(bag.import_errors, indent=2)}")
    return bag


@dataclass(frozen=True)
class DagResult:
    dag_id: str
    dag_run_id: str
    state: str
    task_states: dict[str, str]
    seconds: float
    mlflow_url: str | None


def run_dag(settings: KisaSettings, bag: Any, dag_id: str, conf: Mapping[str, Any]) -> DagResult:
    """One run of ``dag_id`` through ``dag.test()``, with its MLflow run's URL."""
    dag = bag.get_dag(dag_id)
    if dag is None:
        raise RuntimeError(f"{dag_id} DAG not found under dags/")
    start = time.monotonic()
    dag_run = dag.test(run_conf=dict(conf))
    return DagResult(
        dag_id=dag_id,
        dag_run_id=dag_run.run_id,
        state=str(dag_run.state),
        task_states={ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()},
        seconds=round(time.monotonic() - start, 1),
        mlflow_url=mlflow_run_url(settings, dag_id, dag_run.run_id),
    )


def mlflow_run_url(settings: KisaSettings, dag_id: str, run_id: str) -> str | None:
    from mlflow.tracking import MlflowClient

    from kisa_tasks.tracking import RUN_ID_TAG, MlflowRunRef, experiment_name

    client = MlflowClient(tracking_uri=settings.mlflow_uri())
    experiment = client.get_experiment_by_name(experiment_name(dag_id))
    if experiment is None:
        return None
    found = client.search_runs(
        [experiment.experiment_id], filter_string=f"tags.`{RUN_ID_TAG}` = '{run_id}'"
    )
    if not found:
        return None
    return MlflowRunRef(experiment.experiment_id, found[0].info.run_id).url(settings.mlflow_uri())


def run_pipeline(
    settings: KisaSettings,
    conf: Mapping[str, Any],
    bag: Any = None,
    logical_date: datetime | None = None,
) -> DemoResult:
    """One ``kisa_pipeline`` run; the same ``logical_date`` again is a rerun
    of the same Airflow run (its stages' receipts let unchanged ones skip)."""
    bag = bag if bag is not None else dag_bag(settings)
    dag = bag.get_dag("kisa_pipeline")
    if dag is None:
        raise RuntimeError("kisa_pipeline DAG not found under dags/")
    start = time.monotonic()
    # Manual run ids come from run_after: both pin the run.
    when = {} if logical_date is None else {"logical_date": logical_date, "run_after": logical_date}
    dag_run = dag.test(run_conf=dict(conf), **when)
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


@dataclass(frozen=True)
class TrainingSummary:
    train: DagResult
    evaluation: DagResult | None
    models: list[str]  # the model prefixes this run wrote
    metrics: dict[str, float]  # the evaluation's summary


def run_training(
    settings: KisaSettings, bag: Any, specialty: str, pipeline_run: str, k: int = 2
) -> TrainingSummary:
    """kisa_train (SFT, GRPO on Ray) then kisa_evaluate on the pipeline run's model."""
    from kisa_tasks.evaluation.metrics import flat_metrics, summarise
    from kisa_tasks.evaluation.run import as_attempt
    from kisa_tasks.training.job import model_key

    conf = {"specialty": specialty, "pipeline_run": pipeline_run}
    train = run_dag(settings, bag, "kisa_train", conf)
    store = ArtefactStore.from_settings(settings)
    models = [
        store.uri(model_key(stage, specialty, pipeline_run))
        for stage in ("sft", "grpo")
        if store.list_keys(model_key(stage, specialty, pipeline_run) + "/")
    ]
    if train.state != "success":
        return TrainingSummary(train, None, models, {})
    evaluation = run_dag(settings, bag, "kisa_evaluate", conf | {"k": k, "max_turns": 3})
    metrics: dict[str, float] = {}
    partition = Partition("evaluations", specialty, evaluation.dag_run_id)
    if evaluation.state == "success" and store.is_committed(partition):
        rows = store.read(partition).to_pylist()
        metrics = flat_metrics(summarise([as_attempt(r) for r in rows], k))
    return TrainingSummary(train, evaluation, models, metrics)
