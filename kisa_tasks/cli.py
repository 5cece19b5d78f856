"""``kisa`` command line: the embedded services and the local Airflow.

kisa services up [NAME ...]     start (idempotent) and health-check
kisa services down [NAME ...]   stop exactly what we started
kisa services status            every endpoint and its state
kisa services up airflow        plus a real Airflow 3 (UI) on loopback
kisa demo                       services up, then one pipeline run
kisa qa --seed ENTITY           one seed through graph -> sample -> QA, printed
kisa qa-import FILE --run R     a reference-format QA JSONL as a run's qa/ partition
kisa qa-export FILE --run R     a run's qa/ partition as reference-format JSONL
kisa trajectories-import FILE --run R   outside ReAct trajectories, judged and filtered
kisa ask QUESTION [--base-url URL] [--model NAME]   one agent rollout, shown step by step
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from kisa_tasks.services import ServiceError, ServiceManager, ServiceStatus
from kisa_tasks.settings import KisaSettings, SettingsError, load_settings
from kisa_tasks.specialties import SPECIALTY_IDS

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
services_app = typer.Typer(no_args_is_help=True, help="Embedded real services.")
app.add_typer(services_app, name="services")
console = Console(stderr=True)
# Wide enough for URLs when output is a pipe (make, CI logs).
out = Console(width=None if sys.stdout.isatty() else 160)

Names = Annotated[list[str] | None, typer.Argument(help="services; default all")]


def _fail(exc: Exception) -> None:
    console.print(f"[bold red]error:[/] {exc}")
    raise typer.Exit(1)


def print_status(rows: list[ServiceStatus]) -> None:
    table = Table(title="KISA services")
    for col in ("service", "state", "pid", "endpoints", "log"):
        table.add_column(col)
    for row in rows:
        colour = {"running": "green", "stopped": "dim"}.get(row.state, "red")
        table.add_row(
            row.name,
            f"[{colour}]{row.state}[/]",
            str(row.pid or ""),
            "\n".join(f"{k}: {v}" for k, v in row.urls.items()),
            row.log,
        )
    out.print(table)


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(message)s",
        stream=sys.stderr,
    )


@services_app.command("up")
def services_up(names: Names = None) -> None:
    """Start the services (S3, graph, MLflow, Ray); a no-op for those running."""
    try:
        manager = ServiceManager(load_settings())
        with console.status("starting services ..."):
            rows = manager.up(names)
    except (ServiceError, SettingsError, FileNotFoundError) as exc:
        _fail(exc)
    print_status(rows)


@services_app.command("down")
def services_down(names: Names = None) -> None:
    """Stop the services this project started (by process group)."""
    try:
        manager = ServiceManager(load_settings())
        manager.down(names)
    except (ServiceError, SettingsError) as exc:
        _fail(exc)
    print_status(manager.status())


@services_app.command("status")
def services_status() -> None:
    """Print every service, its state and endpoints."""
    try:
        print_status(ServiceManager(load_settings()).status())
    except SettingsError as exc:
        _fail(exc)


@app.command("backfill")
def backfill(
    start: Annotated[str, typer.Option("--from", help="first month, YYYY-MM-DD")],
    end: Annotated[str, typer.Option("--to", help="last month, YYYY-MM-DD")],
    specialty: Annotated[str, typer.Option(help="one of the 12 specialties")] = "cardiology",
    max_abstracts: Annotated[int, typer.Option(help="abstracts per month at most")] = 2000,
) -> None:
    """Backfill kisa_pipeline for one specialty: one run per month of publications
    (needs the local Airflow: `make up`)."""
    from datetime import date

    from kisa_tasks.backfill import backfill_command, create_backfill
    from kisa_tasks.demo import demo_airflow_env

    try:
        settings = load_settings()
        running = {s.name for s in ServiceManager(settings).status() if s.state == "running"}
        if "airflow" not in running:
            raise SettingsError("the local Airflow is not running: start it with `make up`")
        command = backfill_command(
            specialty, date.fromisoformat(start), date.fromisoformat(end),
            {"max_abstracts": max_abstracts},
        )  # fmt: skip
        output = create_backfill(command, demo_airflow_env(settings))
    except (SettingsError, ValueError, RuntimeError) as exc:
        _fail(exc)
    out.print(output)
    out.print("queued; the scheduler runs them one by one. Watch them in the Airflow UI.")


@app.command("demo")
def demo(
    # Oncology: of the embedded corpus's specialties, its train seeds give the
    # offline researcher questions it solves (cardiology's solved seed is in
    # the test split), so the demo has SFT data to train on (docs/operations.md).
    specialty: Annotated[str, typer.Option(help=f"one of {', '.join(SPECIALTY_IDS)}")] = "oncology",
    random_seed: Annotated[int, typer.Option(help="sampling, splits and rollouts")] = 0,
    max_abstracts: Annotated[
        int | None, typer.Option(help="abstracts to keep (default 2000; 100 with --llm local)")
    ] = None,
    train: Annotated[bool, typer.Option(help="then kisa_train and kisa_evaluate")] = True,
    llm: Annotated[
        str,
        typer.Option(
            help="'' (offline backends), 'local' (every LLM step through the embedded "
            "SmolLM2 server on 100 abstracts, 3 seeds, 1 question each) or 'endpoint' (KISA_LLM__*)"
        ),
    ] = "",
) -> None:
    """Start the embedded services, run kisa_pipeline once, train and evaluate
    a model on its data, then summarise."""
    from kisa_tasks.demo import dag_bag, demo_conf, run_pipeline, task_progress, urls_to_open

    try:
        conf = demo_conf(specialty, random_seed, max_abstracts, llm)
        settings = load_settings()
        manager = ServiceManager(settings)
        # Ray starts for training only: on a small machine the pipeline's
        # stages run faster in process than as Ray jobs (docs/benchmarks.md).
        wanted = ["s3", "graph", "mlflow", *(["llm"] if llm == "local" else [])]
        with console.status(f"starting services ({', '.join(wanted)}) ..."):
            rows = manager.up(wanted)
        print_status(rows)
        settings = load_settings()  # now with the endpoints just written
        bag = dag_bag(settings)
        what = f"kisa_pipeline ({conf['backend']}, {conf['specialty']}) through dag.test()"
        with (
            console.status(f"running {what} ...") as status,
            task_progress(_progress_line(status, what)),
        ):
            result = run_pipeline(settings, conf, bag)
    except (ServiceError, SettingsError, RuntimeError, ValueError) as exc:
        _fail(exc)
    out.print(f"kisa_pipeline run {result.dag_run_id}: {result.state}")
    table = Table()
    table.add_column("task")
    table.add_column("state")
    for task_id, state in sorted(result.task_states.items()):
        table.add_row(task_id, state)
    out.print(table)
    if result.state != "success" or result.manifest is None:
        console.print(f"[bold red]run {result.state}[/]; task logs: {settings.home}/airflow/logs")
        raise typer.Exit(1)
    manifest = result.manifest
    for check in manifest["platform_checks"]:
        out.print(f"  {check['component']:7} ok  {check['endpoint']}  {check['detail']}")
    for uri, n_rows, n_rejected in result.artefacts:
        out.print(f"committed:   {uri}  {n_rows} rows, {n_rejected} rejected (with reasons)")
    out.print(f"manifest:    {result.manifest_uri}")
    out.print(f"MLflow run:  {manifest['mlflow_run_url']}")
    for gate in result.gates:
        verdict = "passed" if gate["passed"] else "FAILED"
        warned = f", {gate['failed_warning']} warning(s)" if gate["failed_warning"] else ""
        out.print(f"gate:        {gate['suite']:12} {verdict} ({gate['evaluated']} checks{warned})")
    out.print(f"kisa_pipeline took {result.seconds}s.")
    sft_rows = next((n for uri, n, _ in result.artefacts if "/sft/" in uri), 0)
    if train and not sft_rows:
        out.print("training skipped: the run kept no SFT example, so kisa_train would refuse it")
    elif train:
        _demo_training(settings, bag, specialty, result.dag_run_id)
    out.print("Open (`make up` serves the Airflow UI and its KISA pages on this port):")
    for what, url in urls_to_open(settings, specialty, result.dag_run_id):
        out.print(f"  {what + ':':18} {url}")
    out.print(
        "Stop everything: `make down`. "
        "One seed by hand: kisa qa --seed NAME; one question: kisa ask QUESTION"
    )


def _progress_line(status: Any, what: str) -> Callable[[str], None]:
    start, ended = time.monotonic(), 0

    def on_end(task_id: str) -> None:
        nonlocal ended
        ended += 1
        status.update(f"running {what}: {ended} tasks done, last {task_id} "
                      f"({time.monotonic() - start:.0f} s)")  # fmt: skip

    return on_end


def _demo_training(settings: KisaSettings, bag: Any, specialty: str, pipeline_run: str) -> None:
    from kisa_tasks.demo import run_training, task_progress

    what = "kisa_train (SFT then GRPO as Ray jobs), then kisa_evaluate"
    try:
        with console.status("starting the Ray head (training runs there) ..."):
            print_status([s for s in ServiceManager(settings).up(["ray"]) if s.name == "ray"])
        settings = load_settings()  # with the Ray address
        with console.status(f"{what} ...") as status, task_progress(_progress_line(status, what)):
            summary = run_training(settings, bag, specialty, pipeline_run)
    except (ServiceError, SettingsError, RuntimeError) as exc:
        _fail(exc)
    for result in (summary.train, summary.evaluation):
        if result is None:
            continue
        states = ", ".join(f"{t} {s}" for t, s in sorted(result.task_states.items()))
        out.print(f"{result.dag_id} run {result.dag_run_id}: {result.state} in {result.seconds}s")
        out.print(f"  tasks:      {states}")
        out.print(f"  MLflow run: {result.mlflow_url}")
    for uri in summary.models:
        out.print(f"model:       {uri}")
    shown = ("items", "attempts", "pass_at_1", "pass_at_2", "mean_tool_calls", "answered_share")
    if summary.metrics:
        out.print("evaluation:  " + ", ".join(f"{k} {summary.metrics[k]:g}" for k in shown
                                               if k in summary.metrics))  # fmt: skip
    if summary.train.state != "success" or (
        summary.evaluation is not None and summary.evaluation.state != "success"
    ):
        console.print(f"[bold red]training failed[/]; task logs: {settings.home}/airflow/logs")
        raise typer.Exit(1)


@app.command("qa")
def qa(
    seed: Annotated[str, typer.Option(help="entity id or name, e.g. 'Nifedipine'")],
    specialty: Annotated[str, typer.Option()] = "cardiology",
    run: Annotated[str | None, typer.Option(help="pipeline run id; default the latest")] = None,
    strategy: Annotated[str, typer.Option(help="sampling strategy")] = "max_chain",
    rng_seed: Annotated[int, typer.Option()] = 0,
    backend: Annotated[str, typer.Option(help="rules or llm")] = "rules",
) -> None:
    """Run one seed through graph -> sample -> QA on a committed run and print it."""
    from kisa_tasks.qa.one_seed import SeedNotFoundError, qa_for_seed
    from kisa_tasks.subgraphs.sampling import SamplingError

    try:
        with console.status(f"graph, sub-graph and question for {seed} ..."):
            result = qa_for_seed(
                load_settings(), seed, specialty=specialty, run_id=run, strategy=strategy,
                rng_seed=rng_seed, backend=backend,
            )  # fmt: skip
    except (SeedNotFoundError, SamplingError, SettingsError, ValueError) as exc:
        _fail(exc)
    sub = result.subgraph
    origin = "built now" if result.built else "from the graph store"
    out.print(f"seed {result.seed_name} ({result.seed}), run {result.run_id}")
    out.print(f"graph: {result.graph_edges} relations ({origin})")
    out.print(f"sub-graph: {sub.strategy}, {sub.hops} hops, {len(sub.nodes)} nodes, "
              f"{len(sub.edges)} edges")  # fmt: skip
    for key, reason, _ in result.outcome.rejected:
        out.print(f"[yellow]refused[/] {key}: {reason}")
    for item in result.outcome.items:
        out.print(f"\n[bold]Q:[/] {item.question}\n[bold]A:[/] {item.answer} ({item.answer_id})")
        out.print(
            f"hops {item.hops}, solver accuracy {item.solver_accuracy}, attempt {item.attempt}"
        )
        out.print(item.reasoning_path)
        for placeholder, value in item.entity_mapping:
            out.print(f"  {placeholder:14} {value}")
    if not result.outcome.items:
        raise typer.Exit(1)


@app.command("qa-import")
def qa_import(
    path: Annotated[Path, typer.Argument(help="reference-format QA JSONL")],
    run: Annotated[str, typer.Option(help="run id to file the items under")],
    specialty: Annotated[str, typer.Option()] = "cardiology",
) -> None:
    """Commit outside QA items (MedResearcher-R1 JSONL) as a run's qa/ partition."""
    from kisa_tasks.artefacts import ArtefactStore
    from kisa_tasks.qa.stage import import_qa

    try:
        settings = load_settings()
        store = ArtefactStore.from_settings(settings)
        result = import_qa(store, path, specialty=specialty, run_id=run,
                           test_share=settings.qa.test_share,
                           split_seed=settings.qa.split_seed)  # fmt: skip
    except (OSError, SettingsError) as exc:
        _fail(exc)
    out.print(f"committed {result['uri']}: {result['items']} items, "
              f"{result['rejected']} lines refused (reasons in rejected/qa/)")  # fmt: skip


@app.command("qa-export")
def qa_export(
    path: Annotated[Path, typer.Argument(help="JSONL file to write")],
    run: Annotated[str, typer.Option(help="pipeline run id")],
    specialty: Annotated[str, typer.Option()] = "cardiology",
) -> None:
    """Write a run's qa/ partition in the reference JSONL format."""
    from kisa_tasks.artefacts import ArtefactStore
    from kisa_tasks.artefacts.store import NotCommittedError
    from kisa_tasks.qa.stage import export_qa

    try:
        store = ArtefactStore.from_settings(load_settings())
        n = export_qa(store, path, specialty=specialty, run_id=run)
    except (OSError, SettingsError, NotCommittedError) as exc:
        _fail(exc)
    out.print(f"wrote {n} QA items to {path}")


@app.command("trajectories-import")
def trajectories_import(
    path: Annotated[Path, typer.Argument(help="ReAct trajectories JSONL (reference format)")],
    run: Annotated[str, typer.Option(help="run id to file them under")],
    specialty: Annotated[str, typer.Option()] = "cardiology",
) -> None:
    """Judge and filter outside ReAct trajectories like ours; commit them as a
    run's trajectories/ partition (kept) and rejected/trajectories/ (with reasons).
    With KISA_LLM__BASE_URL and KISA_LLM__MODEL set, the LLM judge rules on
    what the rules judge rejects (candidate lists and hedges excepted)."""
    import functools

    from kisa_tasks.agent.stage import import_trajectories, trajectory_filters
    from kisa_tasks.artefacts import ArtefactStore
    from kisa_tasks.judge import Judge
    from kisa_tasks.llm.client import client_from_settings
    from kisa_tasks.llm.sync import LLMGateway

    gateway: LLMGateway | None = None
    try:
        settings = load_settings()
        store = ArtefactStore.from_settings(settings)
        if settings.llm.base_url and settings.llm.model:
            gateway = LLMGateway(functools.partial(client_from_settings, settings))
        result = import_trajectories(
            store,
            path,
            specialty=specialty,
            run_id=run,
            filters=trajectory_filters(settings),
            judge=Judge(gateway),
        )
    except (OSError, ValueError, KeyError, SettingsError) as exc:
        _fail(exc)
    finally:
        if gateway is not None:
            gateway.close()
    out.print(f"committed {result['uri']}: {result['kept']} kept, "
              f"{result['rejected']} refused (reasons in rejected/trajectories/)")  # fmt: skip


@app.command("model-pull")
def model_pull(
    into: Annotated[Path, typer.Argument(help="directory to write the model into")],
    specialty: Annotated[str, typer.Option()] = "cardiology",
    stage: Annotated[str, typer.Option(help="grpo or sft")] = "grpo",
    run: Annotated[str, typer.Option(help="pipeline run id; default the latest trained")] = "",
) -> None:
    """Copy a trained model from the artefact store to a directory (what the
    compose file's model-sync service runs before vLLM serves it)."""
    from kisa_tasks.artefacts import ArtefactStore
    from kisa_tasks.training.job import fetch_model, model_key, trained_runs

    try:
        store = ArtefactStore.from_settings(load_settings())
        if not run:
            runs = trained_runs(store, stage, specialty)
            if not runs:
                raise FileNotFoundError(
                    f"no {stage} model of {specialty} in the artefact store: run kisa_train first"
                )
            run = runs[-1]
        uri = store.uri(model_key(stage, specialty, run))
        fetch_model(store, uri, into)
    except (OSError, SettingsError, ValueError) as exc:
        _fail(exc)
    out.print(f"{uri} -> {into}")


@app.command("ask")
def ask(
    question: Annotated[str, typer.Argument(help="the question for the agent")],
    base_url: Annotated[
        str | None, typer.Option(help="OpenAI-compatible endpoint; default KISA_LLM__BASE_URL")
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="model name it serves; default KISA_LLM__MODEL")
    ] = None,
    protocol: Annotated[
        str | None, typer.Option(help="react or tool_calls; default KISA_AGENT__PROTOCOL")
    ] = None,
    max_turns: Annotated[int, typer.Option(min=1, help="assistant turns at most")] = 30,
    run: Annotated[
        str | None, typer.Option(help="whose corpus to search; default the latest")
    ] = None,
) -> None:
    """Run the agent once on QUESTION with a model, showing each step live
    (thought, tool call, observation, answer) with timings: for trying a model by hand."""
    import dataclasses

    from kisa_tasks.agent.ask import ASK_LIMITS, resolve_endpoint
    from kisa_tasks.agent.ask import ask as ask_once
    from kisa_tasks.artefacts.store import NotCommittedError

    try:
        settings = load_settings()
        endpoint = resolve_endpoint(settings, base_url, model)
        limits = dataclasses.replace(ASK_LIMITS, max_turns=max_turns)
        rollout = ask_once(
            question, settings=settings, endpoint=endpoint, console=out, run_id=run,
            protocol=protocol, limits=limits,
        )  # fmt: skip
    except (SettingsError, NotCommittedError, OSError, ValueError) as exc:
        _fail(exc)
    if rollout.termination == "policy_error":
        _fail(RuntimeError(
            f"could not ask {endpoint.model!r} at {endpoint.base_url}: {rollout.detail}. "
            "Is the server up? Check --base-url and --model (or KISA_LLM__BASE_URL, "
            "KISA_LLM__MODEL)."
        ))  # fmt: skip
    if rollout.termination != "answered":
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
