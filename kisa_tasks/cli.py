"""``kisa`` command line: the embedded services and the local Airflow.

    kisa services up [NAME ...]     start (idempotent) and health-check
    kisa services down [NAME ...]   stop exactly what we started
    kisa services status            every endpoint and its state
    kisa airflow up|down|status     a real Airflow 3 on loopback
"""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from kisa_tasks.services import ServiceError, ServiceManager, ServiceStatus
from kisa_tasks.settings import SettingsError, load_settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
services_app = typer.Typer(no_args_is_help=True, help="Embedded real services.")
airflow_app = typer.Typer(no_args_is_help=True, help="Local Airflow 3.")
app.add_typer(services_app, name="services")
app.add_typer(airflow_app, name="airflow")
console = Console(stderr=True)

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
    Console().print(table)


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


if __name__ == "__main__":
    app()
