"""Extraction on Ray Data: the same mentions with 1 or 2 workers as without Ray,
in-process and as a Ray job on a real (token-authenticated) Ray head."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from kisa_tasks.artefacts import ArtefactStore, Partition
from kisa_tasks.extract.ray_extract import ray_extract
from kisa_tasks.extract.stage import lexicon_table, run_extract
from kisa_tasks.ingest.abstracts import latest_citations, partition_citations, to_tables
from kisa_tasks.ingest.corpus import embedded_baseline_files
from kisa_tasks.ingest.medline import MedlineReader
from kisa_tasks.services import ServiceManager
from kisa_tasks.services.ray_head import LOOPBACK_NODE, RayHead
from kisa_tasks.settings import KisaSettings, load_settings


@pytest.fixture(scope="module")
def abstracts() -> pa.Table:
    """800 real usable abstracts from the embedded 2021 baseline file."""
    [path] = [p for p in embedded_baseline_files() if "21n" in p.name]
    live, malformed = latest_citations(itertools.islice(MedlineReader(path), 1500))
    kept = partition_citations(live, malformed, None).kept[:800]
    return pa.concat_tables(list(to_tables(kept)))


@pytest.fixture()
def local_ray() -> Iterator[None]:
    import ray

    # In-process Ray too keeps its servers on loopback (see services/ray_head.py).
    previous = os.environ.get(LOOPBACK_NODE)
    os.environ[LOOPBACK_NODE] = "0"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()
    if previous is None:
        os.environ.pop(LOOPBACK_NODE, None)
    else:
        os.environ[LOOPBACK_NODE] = previous


def test_one_and_two_workers_give_the_single_process_result(
    abstracts: pa.Table, local_ray: None
) -> None:
    expected = lexicon_table(abstracts)
    assert expected.num_rows > 3 * abstracts.num_rows  # real abstracts, real entities
    assert ray_extract(abstracts, 1, rows_per_batch=150).equals(expected)
    assert ray_extract(abstracts, 2, rows_per_batch=150).equals(expected)


def test_a_configured_ray_cluster_runs_the_stage_as_a_job(
    abstracts: pa.Table, settings: KisaSettings, tmp_path: Path
) -> None:
    store = ArtefactStore.from_settings(settings)
    small = abstracts.slice(0, 300)
    for run in ("ray_job_t1", "local_t1"):
        store.write(Partition("abstracts", "cardiology", run), [small])
    run_extract(settings, specialty="cardiology", run_id="local_t1")

    ray_home = load_settings(home=tmp_path)
    manager = ServiceManager(ray_home, [RayHead(ray_home)])
    try:
        manager.up(["ray"])
        cluster = load_settings(home=tmp_path).ray
        assert cluster.address
        result = run_extract(
            settings.model_copy(update={"ray": cluster}),
            specialty="cardiology",
            run_id="ray_job_t1",
        )
    finally:
        manager.down()
    assert result["counts"]["ray_workers"] == 2
    on_ray = store.read(Partition("mentions", "cardiology", "ray_job_t1"))
    assert on_ray.equals(store.read(Partition("mentions", "cardiology", "local_t1")))
    assert result["counts"]["mentions"] == on_ray.num_rows > 0
