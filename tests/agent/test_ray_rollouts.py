"""Rollouts on Ray give the artefacts of a one-process run: split over Ray
tasks in process, and as a Ray job on a real (token-authenticated) head."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from trajectory_world import QUESTIONS, prepare

from kisa_tasks.agent.stage import run_trajectories
from kisa_tasks.artefacts import ArtefactStore, Partition
from kisa_tasks.services import ServiceManager
from kisa_tasks.services.ray_head import RayHead
from kisa_tasks.settings import KisaSettings, load_settings


@pytest.fixture()
def local_ray() -> Iterator[None]:
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _both(store: ArtefactStore, run: str) -> tuple[pa.Table, pa.Table]:
    partition = Partition("trajectories", "cardiology", run)
    return store.read(partition), store.read_rejected(partition).select(["record_key", "reason"])


def test_ray_tasks_give_the_one_process_result(settings: KisaSettings, local_ray: None) -> None:
    store = prepare(settings, "traj_local")
    prepare(settings, "traj_ray")
    one = run_trajectories(settings, specialty="cardiology", run_id="traj_local")
    two = run_trajectories(settings, specialty="cardiology", run_id="traj_ray", ray_workers=2)
    rollouts = settings.agent.rollouts_per_item * len(QUESTIONS)
    assert one["counts"]["rollouts"] == two["counts"]["rollouts"] == rollouts
    assert two["counts"]["ray_workers"] == 2
    kept_one, refused_one = _both(store, "traj_local")
    kept_two, refused_two = _both(store, "traj_ray")
    assert kept_one.equals(kept_two) and refused_one.equals(refused_two)
    assert kept_one.num_rows + refused_one.num_rows == rollouts


def test_a_configured_ray_cluster_runs_the_stage_as_a_job(
    settings: KisaSettings, tmp_path: Path
) -> None:
    store = prepare(settings, "traj_job")
    prepare(settings, "traj_here")
    run_trajectories(settings, specialty="cardiology", run_id="traj_here")
    ray_home = load_settings(home=tmp_path)
    manager = ServiceManager(ray_home, [RayHead(ray_home)])
    try:
        manager.up(["ray"])
        cluster = load_settings(home=tmp_path).ray
        result = run_trajectories(
            settings.model_copy(update={"ray": cluster}), specialty="cardiology", run_id="traj_job"
        )
    finally:
        manager.down()
    assert result["counts"]["ray_workers"] == 2
    assert _both(store, "traj_job")[0].equals(_both(store, "traj_here")[0])
    assert _both(store, "traj_job")[1].equals(_both(store, "traj_here")[1])
