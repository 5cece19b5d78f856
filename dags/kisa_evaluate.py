"""
### KISA evaluation

Evaluates a trained model as an agent, the way it will be used:

1. **resolve_config** validates the form (`kisa_tasks.training.forms.EvalConfig`)
   and picks the pipeline run: the form's, else the one whose model triggered
   this run (the `kisa_trained_model` Asset), else the specialty's latest model.
2. **open_tracking** creates (or finds) this run's MLflow run in `kisa/kisa_evaluate`.
3. **evaluate** serves the run's model (`s3://BUCKET/models/<stage>/...`)
   through an OpenAI-compatible endpoint for the task's duration (a small
   transformers server on loopback; in production give `endpoint`, a vLLM
   server), then runs the agent with the real tools on the benchmark: the
   run's held-out QA split (never trained on), or a MedBrowseComp CSV, an
   xbench-DeepSearch CSV or a question/answer JSONL. k rollouts per question,
   each judged against the answer and aliases, with a per-rollout timeout.
   Attempts go to `s3://BUCKET/evaluations/specialty=S/run=RUN/`; Pass@1,
   Pass@k, mean tool calls, seconds and terminations to MLflow (`eval.*`),
   so models compare side by side.
4. **close_tracking** (a teardown: it runs after a failure too) ends the MLflow
   run FINISHED, or FAILED naming the failed tasks.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import dag, get_current_context, task
from kisa_common.assets import TRAINED_MODEL
from kisa_common.forms import form_params, resolve_form
from kisa_common.stages import close_tracking_after

from kisa_tasks.training.forms import EvalConfig


@dag(
    dag_id="kisa_evaluate",
    doc_md=__doc__,
    schedule=[TRAINED_MODEL],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["kisa"],
    max_active_runs=1,
    default_args={"retries": 1, "retry_delay": timedelta(seconds=30)},
    params=form_params(EvalConfig),
)
def kisa_evaluate() -> None:
    @task
    def resolve_config() -> dict[str, Any]:
        return resolve_form(EvalConfig, "sft", ("specialty", "model_stage"))

    @task
    def open_tracking(config: dict[str, Any]) -> dict[str, str]:
        from kisa_common.stages import open_run_tracking

        return open_run_tracking(config, ("specialty", "pipeline_run", "model_stage"))

    @task
    def evaluate(config: dict[str, Any], tracking: dict[str, str]) -> dict[str, Any]:
        from kisa_common.settings import task_settings

        from kisa_tasks.evaluation.stage import run_evaluation
        from kisa_tasks.training.forms import EvalConfig

        fields = {k: v for k, v in config.items() if k in EvalConfig.model_fields}
        return run_evaluation(
            task_settings(),
            config=EvalConfig(**fields),
            pipeline_run=config["pipeline_run"],
            eval_run=get_current_context()["run_id"],
            mlflow_run_id=tracking["mlflow_run_id"],
        )

    config = resolve_config()
    tracking = open_tracking(config)
    close_tracking_after(evaluate(config, tracking), tracking)


evaluation = kisa_evaluate()
