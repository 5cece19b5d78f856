"""Reliability drills on the session's uninterrupted oncology run
(``oncology_run``): the whole pipeline again, a worker killed in the middle
of QA synthesis and of the rollouts, and S3 or the graph store stopped
mid-run. Each ends with the same rows and ids as the uninterrupted run."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from typing import Any

import pyarrow.fs as pafs
import pytest
from conftest import ONCOLOGY_CONF, full_conf

from kisa_tasks.artefacts import ArtefactStore, Partition
from kisa_tasks.graph import open_graph_store
from kisa_tasks.pipeline import stage_named
from kisa_tasks.platform_check import PlatformUnavailableError
from kisa_tasks.qa.stage import export_key
from kisa_tasks.run_config import RunConfig
from kisa_tasks.services import ServiceManager
from kisa_tasks.settings import PROJECT_ROOT, KisaSettings
from kisa_tasks.stage_task import run_pipeline_stage
from kisa_tasks.subgraphs.store_io import graph_id, load_seed_graph

SPECIALTY = ONCOLOGY_CONF["specialty"]
CONFIG = RunConfig.model_validate(ONCOLOGY_CONF)
WORKER = PROJECT_ROOT / "tests" / "drill_worker.py"
STAGES_COMPARED = ("abstracts", "mentions", "entities", "entity_stats", "seeds", "triples",
                   "subgraphs", "qa", "trajectories", "sft")  # fmt: skip


def outputs(store: ArtefactStore, stage: str, run_id: str) -> tuple[Any, Any]:
    partition = Partition(stage, SPECIALTY, run_id)
    return store.read(partition), store.read_rejected(partition)


def ids(table: Any, column: str) -> list[str]:
    values = table.column(column).to_pylist()
    assert len(values) == len(set(values)), f"duplicate {column}s"
    return sorted(values)


def staged_files(store: ArtefactStore, partition: Partition) -> list[str]:
    selector = pafs.FileSelector(
        f"{store.bucket}/{partition.staging_prefix}", recursive=True, allow_not_found=True
    )
    return [i.path for i in store.fs.get_file_info(selector) if i.type == pafs.FileType.File]


def rerun(settings: KisaSettings, stage: str, run_id: str) -> dict[str, Any]:
    """The task's retry: the same call the DAG task makes."""
    return run_pipeline_stage(stage_named(stage), settings, CONFIG.model_dump(), run_id=run_id,
                              mlflow_run_id=None)  # fmt: skip


def kill_worker_when(stage: str, run_id: str, moment: re.Pattern[str]) -> str:
    """Run the stage in a worker process and SIGKILL it (no cleanup runs) at
    the first log line matching ``moment``; that line."""
    worker = subprocess.Popen(
        [sys.executable, "-u", str(WORKER), stage, run_id, json.dumps(CONFIG.model_dump())],
        cwd=PROJECT_ROOT, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    guard = threading.Timer(300, os.killpg, (worker.pid, signal.SIGKILL))
    guard.start()
    seen: list[str] = []
    try:
        assert worker.stderr is not None
        for line in worker.stderr:
            seen.append(line)
            if moment.search(line):
                os.killpg(worker.pid, signal.SIGKILL)
                break
        worker.wait(timeout=60)
    finally:
        guard.cancel()
    log = "".join(seen[-40:])
    assert worker.returncode == -signal.SIGKILL, f"the worker was not killed mid-stage:\n{log}"
    return seen[-1]


def graph_snapshot(settings: KisaSettings, seeds: list[str]) -> dict[str, Any]:
    with open_graph_store(settings) as graph:
        counts = graph.run("graph_counts")[0]
        edges = {s: sorted(load_seed_graph(graph, graph_id(s)).edges) for s in seeds}
    return {"counts": dict(counts), "edges": edges}


def test_the_whole_pipeline_twice_gives_identical_artefacts_and_an_unchanged_graph(
    oncology_run: Any, dagbag: Any, settings: KisaSettings
) -> None:
    store = ArtefactStore.from_settings(settings)
    first = oncology_run.run_id
    seeds = store.read(Partition("subgraphs", SPECIALTY, first)).column("seed").to_pylist()
    before = graph_snapshot(settings, seeds)
    assert before["counts"]["relations"] > 0 and any(before["edges"].values())

    again = dagbag.get_dag("kisa_pipeline").test(run_conf=full_conf(ONCOLOGY_CONF))
    assert again.run_id != first
    assert {str(ti.state) for ti in again.get_task_instances()} == {"success"}
    for stage in STAGES_COMPARED:
        kept, rejected = outputs(store, stage, first)
        kept_again, rejected_again = outputs(store, stage, again.run_id)
        assert kept_again.equals(kept), stage
        assert rejected_again.equals(rejected), stage
    assert export_lines(store, again.run_id) == export_lines(store, first)
    assert graph_snapshot(settings, seeds) == before  # MERGE: nothing added, nothing changed


def export_lines(store: ArtefactStore, run_id: str) -> list[dict[str, Any]]:
    """The QA export without the two fields that name the run."""
    lines = store.get_bytes(export_key(SPECIALTY, run_id)).decode().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in ("run_id", "timestamp")}
            for line in lines]  # fmt: skip


def test_rerunning_a_finished_stage_commits_nothing_and_returns_its_result(
    oncology_run: Any, settings: KisaSettings
) -> None:
    store = ArtefactStore.from_settings(settings)
    partition = Partition("qa", SPECIALTY, oncology_run.run_id)
    rerun(settings, "qa", oncology_run.run_id)  # whatever ran last, a receipt now
    before = store.marker(partition)
    again = rerun(settings, "qa", oncology_run.run_id)
    assert again["skipped"] is True and again["counts"]["items"] == before.rows
    assert store.marker(partition) == before  # not committed again


@pytest.mark.parametrize(
    ("stage", "id_column", "moment"),
    [
        # After the first round of generation and calibration, before any
        # regeneration, deduplication or write.
        ("qa", "qa_id", r"qa round 0: \d+ asked"),
        # After the first progress line of the rollouts, with more to go.
        ("trajectories", "trajectory_id", r"trajectories: \d+/\d+ rolled out"),
    ],
)
def test_a_worker_killed_mid_stage_loses_and_duplicates_nothing_on_rerun(
    oncology_run: Any, settings: KisaSettings, stage: str, id_column: str, moment: str
) -> None:
    store = ArtefactStore.from_settings(settings)
    run_id = oncology_run.run_id
    partition = Partition(stage, SPECIALTY, run_id)
    kept, rejected = outputs(store, stage, run_id)  # the uninterrupted run's
    assert kept.num_rows + rejected.num_rows >= 3, "too little work to be killed part-way"
    store.unpublish(partition)  # back to before the stage's first attempt

    line = kill_worker_when(stage, run_id, re.compile(moment))
    if stage == "trajectories":
        done, total = map(int, re.findall(r"(\d+)/(\d+)", line)[0])
        assert done < total, line
    assert not store.is_committed(partition), "the kill came after the commit"

    counts = rerun(settings, stage, run_id)["counts"]
    kept_again, rejected_again = outputs(store, stage, run_id)
    assert kept_again.num_rows == kept.num_rows
    assert ids(kept_again, id_column) == ids(kept, id_column)
    assert ids(rejected_again, "record_key") == ids(rejected, "record_key")
    assert kept_again.equals(kept) and rejected_again.equals(rejected)
    assert counts["items" if stage == "qa" else "kept"] == kept.num_rows
    assert staged_files(store, partition) == []  # the killed attempt's staging is gone


@pytest.mark.parametrize(
    ("component", "stage"),
    [("graph", "qa"), ("s3", "trajectories")],
)
def test_a_component_stopped_mid_run_fails_by_name_and_the_rerun_resumes(
    oncology_run: Any, services: ServiceManager, settings: KisaSettings, component: str,
    stage: str,
) -> None:  # fmt: skip
    store = ArtefactStore.from_settings(settings)
    run_id = oncology_run.run_id
    kept, rejected = outputs(store, stage, run_id)
    # The stage had not committed when the component went: a rerun of a
    # committed stage with nothing changed is skipped (stage receipts).
    store.unpublish(Partition(stage, SPECIALTY, run_id))
    services.down([component])
    try:
        with pytest.raises(PlatformUnavailableError) as err:
            rerun(settings, stage, run_id)
    finally:
        services.up([component])
    message = str(err.value)
    assert f"stage '{stage}' of run {run_id} failed because a platform component is down" in (
        message
    )
    down = re.findall(r"^  (\w+) at ", message, flags=re.MULTILINE)
    assert down == [component], message
    assert "kisa services up" in message and "clear this task" in message

    rerun(settings, stage, run_id)
    kept_again, rejected_again = outputs(store, stage, run_id)
    assert kept_again.equals(kept) and rejected_again.equals(rejected)
