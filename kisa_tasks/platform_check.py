"""Checks that every endpoint a run needs answers, before any work starts."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

from kisa_tasks.settings import KisaSettings


@dataclass(frozen=True)
class ComponentCheck:
    component: str
    ok: bool
    endpoint: str
    detail: str
    seconds: float


class PlatformUnavailableError(RuntimeError):
    pass


def _timed(component: str, endpoint: str, probe: Callable[[], str]) -> ComponentCheck:
    start = time.monotonic()
    try:
        detail = probe()
        ok = True
    except Exception as exc:  # noqa: BLE001 - reported, then raised by the caller
        detail, ok = f"{type(exc).__name__}: {exc}", False
    return ComponentCheck(component, ok, endpoint, detail, round(time.monotonic() - start, 3))


def check_s3(settings: KisaSettings) -> ComponentCheck:
    from kisa_tasks.artefacts import ArtefactStore

    def probe() -> str:
        store = ArtefactStore.from_settings(settings)
        store.put_json("_health/probe.json", {"ok": True})
        if store.get_json("_health/probe.json") != {"ok": True}:
            raise RuntimeError("read back a different object")
        return f"bucket {settings.s3.bucket} writable"

    return _timed("s3", settings.s3.endpoint_url or "aws", probe)


def check_graph(settings: KisaSettings) -> ComponentCheck:
    from kisa_tasks.graph import open_graph_store

    def probe() -> str:
        with open_graph_store(settings) as graph:
            graph.ensure_schema()
            counts = graph.run("graph_counts")[0]
        return f"{settings.graph.backend} graph {settings.graph.name}: {counts}"

    endpoint = (
        settings.neo4j.uri or ""
        if settings.graph.backend == "neo4j"
        else f"{settings.falkordb.host}:{settings.falkordb.port}"
    )
    return _timed("graph", endpoint, probe)


def check_mlflow(settings: KisaSettings) -> ComponentCheck:
    def probe() -> str:
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=settings.mlflow_uri())
        client.search_experiments(max_results=1)
        return "tracking server answers"

    return _timed("mlflow", settings.mlflow.tracking_uri or "", probe)


def check_llm(settings: KisaSettings) -> ComponentCheck:
    """The configured endpoint answers structured output (and tools, for the
    native tool-call protocol); a failure names the server flag to add."""
    from kisa_tasks.llm.client import client_options
    from kisa_tasks.llm.endpoint import capability_problems, served_weights

    llm = settings.llm

    def probe() -> str:
        base_url = settings.require(
            llm.base_url, "KISA_LLM__BASE_URL", "the endpoint a llm run uses"
        )
        model = settings.require(llm.model, "KISA_LLM__MODEL", "the model name it serves")
        key = llm.api_key.get_secret_value() if llm.api_key else "not-needed"
        tools = settings.agent.protocol == "tool_calls"
        problems = capability_problems(
            base_url, key, model, tools=tools, options=client_options(settings) or None,
            timeout_s=llm.timeout_s,
        )  # fmt: skip
        if problems:
            raise RuntimeError("; ".join(problems))
        weights = served_weights(base_url, key, model) or "not reported"
        return f"{model}: structured output{' and tools' if tools else ''}; weights {weights}"

    return _timed("llm", settings.llm.base_url or "", probe)


FIX = (
    "start the embedded services with `kisa services up`, "
    "or fix the KISA_* settings for these endpoints"
)


def _failures(failed: list[ComponentCheck]) -> str:
    return "\n".join(f"  {c.component} at {c.endpoint or '?'}: {c.detail}" for c in failed)


def every_check(settings: KisaSettings) -> list[ComponentCheck]:
    return [check_s3(settings), check_graph(settings), check_mlflow(settings)]


def check_platform(settings: KisaSettings, *, llm: bool = False) -> list[ComponentCheck]:
    """Run every check (the LLM endpoint's too, for a run that uses it);
    raise naming each failed component and what to fix."""
    checks = every_check(settings) + ([check_llm(settings)] if llm else [])
    failed = [c for c in checks if not c.ok]
    if failed:
        raise PlatformUnavailableError(f"platform not ready:\n{_failures(failed)}\n{FIX}")
    return checks


@contextmanager
def outages_named(settings: KisaSettings, what: str) -> Iterator[None]:
    """When ``what`` fails while a component is down (S3, graph store or
    MLflow went away mid-run), fail naming the component, the fix and how to
    resume, instead of with a client library's connection error. Any other
    failure passes through unchanged."""
    try:
        yield
    except PlatformUnavailableError:
        raise
    except Exception as exc:
        failed = [c for c in every_check(settings) if not c.ok]
        if not failed:
            raise
        raise PlatformUnavailableError(
            f"{what} failed because a platform component is down:\n{_failures(failed)}\n"
            f"{FIX}; then clear this task (or rerun): stages already committed are kept, "
            f"this one is redone from its inputs"
        ) from exc


def as_dicts(checks: list[ComponentCheck]) -> list[dict[str, Any]]:
    return [asdict(c) for c in checks]
