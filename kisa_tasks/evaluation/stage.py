"""The ``kisa_evaluate`` job: a run's trained model answers a benchmark
with the agent's tools; attempts to ``evaluations/``, metrics to MLflow."""

from __future__ import annotations

import hashlib
import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa

from kisa_tasks.agent.loop import Limits
from kisa_tasks.artefacts import ArtefactStore, Partition
from kisa_tasks.evaluation.benchmarks import (
    BenchmarkItem,
    benchmark_store_key,
    from_qa_rows,
    load_benchmark,
    resolve_benchmark_path,
)
from kisa_tasks.evaluation.metrics import flat_metrics, summarise
from kisa_tasks.evaluation.run import EvalSpec, as_attempt, endpoint_gateway, evaluate
from kisa_tasks.evaluation.serve import Served, served_model
from kisa_tasks.settings import KisaSettings
from kisa_tasks.training.forms import EvalConfig
from kisa_tasks.training.job import fetch_model, model_key, split_qa

log = logging.getLogger(__name__)
RUN_SPLITS = ("test", "held_out")  # the run's test split ("held_out": its earlier name)


def _benchmark_file(store: ArtefactStore, value: str, benchmarks_dir: Path, scratch: Path) -> Path:
    """The local file of a benchmark value: an ``s3://`` object of the
    artefact store copied into ``scratch``, else a file inside
    ``benchmarks_dir`` (``resolve_benchmark_path`` refuses absolute paths,
    ``..`` and symlinks leading out)."""
    if not value.startswith("s3://"):
        return resolve_benchmark_path(value, benchmarks_dir)
    key = benchmark_store_key(value, store.uri(""))
    if not store.exists(key):
        raise FileNotFoundError(f"no benchmark object at {value} in the artefact store")
    path = scratch / key.rsplit("/", 1)[-1]
    path.write_bytes(store.get_bytes(key))
    return path


def benchmark_items(
    store: ArtefactStore,
    config: EvalConfig,
    pipeline_run: str,
    scratch: Path,
    benchmarks_dir: Path,
) -> list[BenchmarkItem]:
    """The questions: the run's ``test`` QA split (never trained on), or a
    benchmark file (a file in ``benchmarks_dir`` or an s3:// key in the
    artefact store), at most ``max_items``."""
    if config.benchmark in RUN_SPLITS:
        qa = store.read(Partition("qa", config.specialty, pipeline_run)).to_pylist()
        _, test = split_qa(qa)
        items = from_qa_rows(test)
        if not items:
            raise ValueError(
                f"none of the run's {len(qa)} QA items is in the test split: evaluate a "
                "benchmark file, or a run with more seeds (KISA_QA__TEST_SHARE sets the share)"
            )
    else:
        path = _benchmark_file(store, config.benchmark, benchmarks_dir, scratch)
        kind = None if config.benchmark_kind == "auto" else config.benchmark_kind
        items = load_benchmark(path, kind)
    return items[: config.max_items]


def weights_digest(model_dir: Path) -> str:
    """Short digest of the weights: names the served model, so cached
    answers of other weights are never reused."""
    h = hashlib.sha256()
    for f in sorted(model_dir.glob("*.safetensors")):
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


@contextmanager
def model_endpoint(
    settings: KisaSettings,
    store: ArtefactStore,
    config: EvalConfig,
    pipeline_run: str,
    scratch: Path,
) -> Iterator[tuple[Served, str, bool]]:
    """(endpoint, model uri, cacheable): the given endpoint, or the run's
    model served here for the block."""
    uri = store.uri(model_key(config.model_stage, config.specialty, pipeline_run))
    if config.endpoint:
        import httpx

        models = httpx.get(f"{config.endpoint.rstrip('/')}/models", timeout=30).json()["data"]
        yield Served(config.endpoint, str(models[0]["id"])), config.endpoint, False
        return
    model_dir = fetch_model(store, uri, scratch / "model")
    alias = f"kisa-{config.model_stage}-{weights_digest(model_dir)}"
    with served_model(model_dir, alias, settings.home / "logs") as served:
        yield served, uri, True


def _progress(done: int, total: int) -> None:
    if done == total or done % 10 == 0:
        log.info("evaluation: %d/%d attempts", done, total)


def run_evaluation(
    settings: KisaSettings,
    *,
    config: EvalConfig,
    pipeline_run: str,
    eval_run: str,
    mlflow_run_id: str | None = None,
) -> dict[str, Any]:
    import functools

    from kisa_tasks.agent.stage import run_toolbox
    from kisa_tasks.judge import Judge
    from kisa_tasks.llm.client import client_from_settings
    from kisa_tasks.llm.sync import LLMGateway

    store = ArtefactStore.from_settings(settings)
    judge_gateway: LLMGateway | None = None
    spec = EvalSpec(
        k=config.k,
        limits=Limits(
            max_turns=config.max_turns,
            max_tool_calls=4 * config.max_turns,
            max_seconds=config.task_timeout_s,
        ),
        max_new_tokens=config.max_new_tokens,
    )
    with tempfile.TemporaryDirectory(prefix="kisa-eval-") as tmp:
        scratch = Path(tmp)
        items = benchmark_items(
            store, config, pipeline_run, scratch, settings.evaluation.benchmarks_dir
        )
        toolbox = run_toolbox(settings, store, pipeline_run)
        try:
            # The judge model is the configured LLM, never the model under test.
            if settings.llm.base_url and settings.llm.model:
                judge_gateway = LLMGateway(functools.partial(client_from_settings, settings))
            judge = Judge(judge_gateway)
            with model_endpoint(settings, store, config, pipeline_run, scratch) as (
                served,
                model_uri,
                cache,
            ):
                gateway = endpoint_gateway(settings, served.base_url, served.model, cache)
                try:
                    log.info(
                        "evaluating %s on %d questions x %d at %s",
                        served.model,
                        len(items),
                        config.k,
                        served.base_url,
                    )
                    rows = evaluate(items, toolbox, gateway, served.model, spec, _progress, judge)
                finally:
                    gateway.close()
        finally:
            toolbox.close()
            if judge_gateway is not None:
                judge_gateway.close()
    summary = summarise([as_attempt(r) for r in rows], config.k)
    metrics = flat_metrics(summary)
    partition = Partition("evaluations", config.specialty, eval_run)
    store.write(partition, [pa.Table.from_pylist(rows)])
    if mlflow_run_id is not None:
        _log_eval(settings, mlflow_run_id, metrics, config, model_uri, judge.name)
    return {
        "uri": store.uri(partition.prefix),
        "model": model_uri,
        "served_as": served.model,
        "judge": judge.name,
        "counts": metrics,
    }


def _log_eval(
    settings: KisaSettings,
    run_id: str,
    metrics: dict[str, float],
    config: EvalConfig,
    model_uri: str,
    judge: str = "rules",
) -> None:
    import time

    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    now = int(time.time() * 1000)
    client = MlflowClient(tracking_uri=settings.mlflow_uri())
    client.log_batch(
        run_id,
        metrics=[Metric(f"eval.{k}", v, now, 0) for k, v in sorted(metrics.items())],
        params=[
            Param("eval.model_uri", model_uri),
            Param("eval.benchmark", config.benchmark),
            Param("eval.k", str(config.k)),
            Param("eval.judge", judge),
        ],
    )
