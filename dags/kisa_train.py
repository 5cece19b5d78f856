"""
### KISA training

Trains an agent on one `kisa_pipeline` run's data, as Ray jobs:

1. **resolve_config** validates the form (`kisa_tasks.training.forms.TrainConfig`)
   and picks the pipeline run: the form's, else the one whose SFT dataset
   triggered this run (the `kisa_sft_dataset` Asset), else the specialty's latest.
2. **check_data** refuses, before any job is submitted, an SFT dataset that
   cannot train (missing, empty, malformed: the reason is in the error), bad
   job configs, and a QA set with nothing left for GRPO after the held-out split.
3. **open_tracking** creates (or finds, on a retry) this run's MLflow run in
   `kisa/kisa_train`; each job logs into a child run of it.
4. **sft** submits `python -m training_jobs.sft` to the Ray cluster
   (`KISA_RAY__ADDRESS`) through the Jobs API, with the project as working_dir
   and the KISA settings in the runtime env. The job's log streams into this
   task's log; the Ray job id, the MLflow run id and the model's URI
   (`s3://BUCKET/models/sft/specialty=S/run=R/`) come back in XCom. A job
   asking for more GPUs than the cluster has is refused before submission;
   a failed job fails the task with its last log lines.
5. **grpo** does the same for `training_jobs.grpo`, from the SFT model, with
   agent rollouts over the run's corpus tools and the composite reward, and
   updates the `kisa_trained_model` Asset, which schedules `kisa_evaluate`.
6. **close_tracking** (a teardown: it runs after a failure too) ends the MLflow
   run FINISHED, or FAILED naming the failed tasks.

The embedded default trains the tiny Qwen2 on CPU on the local Ray head
(`kisa services up ray`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import dag, get_current_context, task
from kisa_common.assets import SFT_DATASET, TRAINED_MODEL, event_extra
from kisa_common.forms import form_params, resolve_form
from kisa_common.stages import close_tracking_after

from kisa_tasks.training.forms import TrainConfig


@dag(
    dag_id="kisa_train",
    doc_md=__doc__,
    schedule=[SFT_DATASET],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["kisa"],
    max_active_runs=1,  # one training at a time: the cluster is shared
    default_args={"retries": 1, "retry_delay": timedelta(seconds=30)},
    params=form_params(TrainConfig),
)
def kisa_train() -> None:
    @task
    def resolve_config() -> dict[str, Any]:
        return resolve_form(TrainConfig, "sft", ("specialty",))

    @task  # retried like every task (S3 can blip); a refused dataset fails each try alike
    def check_data(config: dict[str, Any]) -> dict[str, Any]:
        from kisa_common.settings import task_settings

        from kisa_tasks.training.forms import TrainConfig
        from kisa_tasks.training.stage import check_training_data

        return check_training_data(task_settings(), TrainConfig(**config), config["pipeline_run"])

    @task
    def open_tracking(config: dict[str, Any], checked: dict[str, Any]) -> dict[str, str]:
        from kisa_common.stages import open_run_tracking

        return open_run_tracking(config, ("specialty", "pipeline_run"), checked)

    @task
    def sft(config: dict[str, Any], tracking: dict[str, str]) -> dict[str, Any]:
        from kisa_common.settings import task_settings

        from kisa_tasks.training.forms import TrainConfig
        from kisa_tasks.training.stage import launch, training_job

        job = training_job(
            "sft", TrainConfig(**config), config["pipeline_run"], tracking["mlflow_run_id"]
        )
        return launch(task_settings(), job)

    @task(outlets=[TRAINED_MODEL])
    def grpo(
        config: dict[str, Any], tracking: dict[str, str], trained: dict[str, Any]
    ) -> dict[str, Any]:
        from kisa_common.settings import task_settings

        from kisa_tasks.training.forms import TrainConfig
        from kisa_tasks.training.stage import launch, training_job

        ctx = get_current_context()
        if config["grpo_config"]:
            result = launch(
                task_settings(),
                training_job(
                    "grpo", TrainConfig(**config), config["pipeline_run"], tracking["mlflow_run_id"]
                ),
            )
            stage = "grpo"
        else:
            result, stage = {"skipped": "no grpo_config: the SFT model is the result"}, "sft"
        extra = event_extra(config["specialty"], config["pipeline_run"], model_stage=stage)
        ctx["outlet_events"][TRAINED_MODEL].extra = extra
        return result

    config = resolve_config()
    tracking = open_tracking(config, check_data(config))
    close_tracking_after(grpo(config, tracking, sft(config, tracking)), tracking)


train = kisa_train()
