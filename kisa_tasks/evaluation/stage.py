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
from kisa_tasks.evaluation.benchmarks import BenchmarkItem, from_qa_rows, load_benchmark
from kisa_tasks.evaluation.metrics import flat_metrics, summarise
from kisa_tasks.evaluation.run import EvalSpec, as_attempt, endpoint_gateway, evaluate
from kisa_tasks.evaluation.serve import Served, served_model
from kisa_tasks.settings import KisaSettings
from kisa_tasks.training.forms import EvalConfig
from kisa_tasks.training.job import fetch_model, model_key, split_qa

log = logging.getLogger(__name__)


def benchmark_items(
    store: ArtefactStore, config: EvalConfig, pipeline_run: str, scratch: Path
) -> list[BenchmarkItem]:
    """The questions: the run's held-out QA split, or a benchmark file (a
    local path or a key in the artefact store), at most ``max_items``."""
    if config.benchmark == "held_out":
        qa = store.read(Partition("qa", config.specialty, pipeline_run)).to_pylist()
        _, held = split_qa(qa)
        items = from_qa_rows(held)
        if not items:
            raise ValueError(
                f"the run's {len(qa)} QA items leave none held out: evaluate a benchmark file, "
                "or a run with more QA items"
            )
    else:
        path = Path(config.benchmark)
        if not path.is_file():
            key = config.benchmark.removeprefix(store.uri("")).lstrip("/")
            if not store.exists(key):
                raise FileNotFoundError(
                    f"no benchmark file at {config.benchmark} (local or in the store)"
                )
            path = scratch / Path(key).name
            path.write_bytes(store.get_bytes(key))
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
    from kisa_tasks.agent.stage import run_toolbox

    store = ArtefactStore.from_settings(settings)
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
        items = benchmark_items(store, config, pipeline_run, scratch)
        toolbox = run_toolbox(settings, store, pipeline_run)
        try:
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
                    rows = evaluate(items, toolbox, gateway, served.model, spec, _progress)
                finally:
                    gateway.close()
        finally:
            toolbox.close()
    summary = summarise([as_attempt(r) for r in rows], config.k)
    metrics = flat_metrics(summary)
    partition = Partition("evaluations", config.specialty, eval_run)
    store.write(partition, [pa.Table.from_pylist(rows)])
    if mlflow_run_id is not None:
        _log_eval(settings, mlflow_run_id, metrics, config, model_uri)
    return {
        "uri": store.uri(partition.prefix),
        "model": model_uri,
        "served_as": served.model,
        "counts": metrics,
    }


def _log_eval(
    settings: KisaSettings,
    run_id: str,
    metrics: dict[str, float],
    config: EvalConfig,
    model_uri: str,
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
        ],
    )
