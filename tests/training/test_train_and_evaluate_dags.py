"""``kisa_train`` and ``kisa_evaluate`` end to end through Airflow's
``dag.test()``: a real pipeline run's data, SFT then GRPO submitted as Ray
jobs to the session's Ray head, MLflow child runs with loss curves and
rewards, models on S3, the GRPO model served and evaluated with Pass@k.
And the ways a launch must fail: a GPU request the cluster cannot meet, a
job that crashes, a dataset that cannot train, all before or with a clear
reason."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from conftest import ONCOLOGY_CONF

from kisa_tasks.artefacts import ArtefactStore, Partition
from kisa_tasks.services import ServiceManager
from kisa_tasks.settings import KisaSettings, load_settings

SPECIALTY = ONCOLOGY_CONF["specialty"]  # the session run's: its train split has SFT data


@pytest.fixture(scope="module")
def ray_head(services: ServiceManager, kisa_home: Any) -> Iterator[KisaSettings]:
    services.up(["ray"])
    yield load_settings(home=kisa_home)
    services.down(["ray"])


@pytest.fixture(scope="module")
def dags(dagbag: Any) -> Any:
    return dagbag


@pytest.fixture(scope="module")
def pipeline_run(oncology_run: Any, ray_head: KisaSettings) -> str:
    """The session's kisa_pipeline run (conftest): its sft/, qa/ and corpus.
    Training and evaluation only read it."""
    assert str(oncology_run.state) == "success"
    store = ArtefactStore.from_settings(ray_head)
    assert store.marker(Partition("sft", SPECIALTY, oncology_run.run_id)).rows > 0
    return str(oncology_run.run_id)


def _job_count(settings: KisaSettings) -> int:
    from kisa_tasks.ray_jobs import job_client

    return len(job_client(settings).list_jobs())


def _children(settings: KisaSettings, parent: str) -> dict[str, Any]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(settings.mlflow_uri())
    experiment = client.get_run(parent).info.experiment_id
    runs = client.search_runs([experiment], f"tags.`mlflow.parentRunId` = '{parent}'")
    return {r.info.run_name: r for r in runs}


def test_train_then_evaluate_through_airflow(
    dags: Any, pipeline_run: str, ray_head: KisaSettings, tmp_path: Any
) -> None:
    from mlflow.tracking import MlflowClient

    from kisa_tasks.training.job import model_key

    settings = ray_head
    jobs_before = _job_count(settings)
    train = dags.get_dag("kisa_train").test(
        run_conf={"specialty": SPECIALTY, "pipeline_run": pipeline_run}
    )
    states = {ti.task_id: str(ti.state) for ti in train.get_task_instances()}
    assert states == dict.fromkeys(
        ["resolve_config", "check_data", "open_tracking", "sft", "grpo", "close_tracking"],
        "success",
    )
    assert _job_count(settings) == jobs_before + 2  # SFT and GRPO ran as Ray jobs

    store = ArtefactStore.from_settings(settings)
    for stage in ("sft", "grpo"):
        keys = store.list_keys(model_key(stage, SPECIALTY, pipeline_run) + "/")
        assert any(k.endswith("model.safetensors") for k in keys), stage
        assert any(k.endswith("tokenizer.json") for k in keys), stage

    client = MlflowClient(settings.mlflow_uri())
    [parent] = client.search_runs(
        [client.get_experiment_by_name("kisa/kisa_train").experiment_id],
        f"tags.`airflow.run_id` = '{train.run_id}'",
    )
    children = _children(settings, parent.info.run_id)
    assert set(children) == {"sft", "grpo"}
    sft, grpo = children["sft"], children["grpo"]
    assert sft.info.status == grpo.info.status == "FINISHED"
    assert len(client.get_metric_history(sft.info.run_id, "loss")) >= 2  # a loss curve
    assert sft.data.params["assistant_only_loss"] == "True"
    for term in ("task_reward", "expert_reward", "efficiency_reward"):
        assert f"rewards/{term}/mean" in grpo.data.metrics
    assert grpo.data.params["num_generations"] == "4" and grpo.data.params["beta"] == "0.0"
    assert grpo.data.metrics["job.rollouts"] >= 4
    artifacts = [a.path for a in client.list_artifacts(grpo.info.run_id, "model")]
    assert "model/model.safetensors" in artifacts

    evaluation = dags.get_dag("kisa_evaluate").test(
        run_conf={
            "specialty": SPECIALTY,
            "pipeline_run": pipeline_run,
            "k": 2,
            "max_turns": 2,
            "max_new_tokens": 24,
        }
    )
    states = {ti.task_id: str(ti.state) for ti in evaluation.get_task_instances()}
    assert states == dict.fromkeys(
        ["resolve_config", "open_tracking", "evaluate", "close_tracking"], "success"
    )
    rows = store.read(Partition("evaluations", SPECIALTY, evaluation.run_id)).to_pylist()
    items = {r["item_id"] for r in rows}
    assert items and len(rows) == 2 * len(items)
    assert {r["model"] for r in rows} == {rows[0]["model"]} and rows[0]["model"].startswith(
        "kisa-grpo-"
    )
    [eval_run] = client.search_runs(
        [client.get_experiment_by_name("kisa/kisa_evaluate").experiment_id],
        f"tags.`airflow.run_id` = '{evaluation.run_id}'",
    )
    metrics = eval_run.data.metrics
    correct = sum(r["correct"] for r in rows)
    assert metrics["eval.attempts"] == len(rows) and metrics["eval.items"] == len(items)
    assert metrics["eval.pass_at_1"] == pytest.approx(correct / len(rows))
    assert "eval.pass_at_2" in metrics and "eval.mean_tool_calls" in metrics
    assert eval_run.data.params["eval.model_uri"].endswith(
        model_key("grpo", SPECIALTY, pipeline_run)
    )
    _assert_nothing_shared(settings, [sft, grpo], rows, pipeline_run, tmp_path)

    # A benchmark file as its project publishes it (xbench: base64 XOR-ed
    # with each row's canary), named inside the benchmarks folder.
    published = dags.get_dag("kisa_evaluate").test(
        run_conf={
            "specialty": SPECIALTY,
            "pipeline_run": pipeline_run,
            "k": 1,
            "max_items": 2,
            "max_turns": 1,
            "max_new_tokens": 16,
            "benchmark": "xbench/DeepSearch.csv",
        }
    )
    assert str(published.state) == "success"
    attempts = store.read(Partition("evaluations", SPECIALTY, published.run_id)).to_pylist()
    assert [(a["item_id"], a["source"]) for a in attempts] == [("1", "xbench"), ("2", "xbench")]
    assert all("\u4e00" <= a["question"][0] <= "\u9fff" for a in attempts)  # decoded Chinese
    assert {a["judge"] for a in attempts} == {"rules"}


def _assert_nothing_shared(
    settings: KisaSettings, jobs: list[Any], attempts: list[dict[str, Any]], run: str, tmp: Any
) -> None:
    """What training read (the items each job logged) and what evaluation
    scored share no QA item, no seed and no near-duplicate question."""
    import json

    from mlflow.tracking import MlflowClient

    from kisa_tasks.qa.dedup import NEAR_JACCARD, jaccard, shingles
    from kisa_tasks.training.job import TRAINED_ITEMS

    client = MlflowClient(settings.mlflow_uri())
    trained: set[str] = set()
    for job in jobs:
        path = client.download_artifacts(job.info.run_id, TRAINED_ITEMS, str(tmp))
        with open(path, encoding="utf-8") as fh:
            trained |= set(json.load(fh)["qa_ids"])
    store = ArtefactStore.from_settings(settings)
    qa = {r["qa_id"]: r for r in store.read(Partition("qa", SPECIALTY, run)).to_pylist()}
    scored = {a["item_id"] for a in attempts}
    assert trained and scored and not trained & scored
    assert {qa[q]["split"] for q in trained} == {"train"}
    assert {qa[q]["split"] for q in scored} == {"test"}
    assert not {qa[q]["seed"] for q in trained} & {qa[q]["seed"] for q in scored}
    for q in scored:
        for t in trained:
            similarity = jaccard(shingles(qa[q]["question"]), shingles(qa[t]["question"]))
            assert similarity < NEAR_JACCARD, (qa[q]["question"], qa[t]["question"])


def test_a_gpu_request_the_cluster_cannot_meet_is_refused_before_submission(
    pipeline_run: str, ray_head: KisaSettings
) -> None:
    from kisa_tasks.training.forms import TrainConfig
    from kisa_tasks.training.launch import ClusterTooSmall
    from kisa_tasks.training.stage import launch, training_job

    before = _job_count(ray_head)
    job = training_job("sft", TrainConfig(specialty=SPECIALTY, gpus=1), pipeline_run, "none")
    with pytest.raises(ClusterTooSmall, match=r"asks for 1 GPU\(s\) but the Ray cluster has 0"):
        launch(ray_head, job)
    assert _job_count(ray_head) == before


def test_a_crashing_job_fails_with_its_last_log_lines(
    pipeline_run: str, ray_head: KisaSettings
) -> None:
    from kisa_tasks.training.forms import TrainConfig
    from kisa_tasks.training.launch import TrainingJobFailed
    from kisa_tasks.training.stage import launch, training_job

    store = ArtefactStore.from_settings(ray_head)
    missing = store.uri("models/sft/specialty=cardiology/run=never-trained")
    job = training_job(
        "sft", TrainConfig(specialty=SPECIALTY, base_model=missing), pipeline_run, "none"
    )
    with pytest.raises(
        TrainingJobFailed, match=r"ended FAILED; its log ends:(?s:.*)no model under"
    ):
        launch(ray_head, job)


def test_a_dataset_that_cannot_train_is_refused_before_any_job(
    pipeline_run: str, ray_head: KisaSettings
) -> None:
    from kisa_tasks.training.forms import TrainConfig
    from kisa_tasks.training.sft_data import DatasetRefused
    from kisa_tasks.training.stage import check_training_data

    config = TrainConfig(specialty=SPECIALTY)
    with pytest.raises(DatasetRefused, match="no committed SFT dataset at s3://"):
        check_training_data(ray_head, config, "no-such-run")
    checked = check_training_data(ray_head, config, pipeline_run)
    assert checked["sft_examples"] > 0 and checked["grpo_prompts"] > 0
