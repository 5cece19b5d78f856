"""Session fixtures: the real embedded services, started once per test session
under a temporary KISA_HOME and stopped at the end (by process group)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from kisa_tasks.graph import GraphStore, open_graph_store
from kisa_tasks.services import ServiceManager
from kisa_tasks.settings import KisaSettings, load_settings


@pytest.fixture(scope="session")
def kisa_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("kisa_home")
    previous = os.environ.get("KISA_HOME")
    # Code under test that loads settings itself (DAG tasks) finds our services.
    os.environ["KISA_HOME"] = str(home)
    yield home
    if previous is None:
        os.environ.pop("KISA_HOME", None)
    else:
        os.environ["KISA_HOME"] = previous


@pytest.fixture(scope="session")
def services(kisa_home: Path) -> Iterator[ServiceManager]:
    """S3 (SeaweedFS), graph (FalkorDB) and MLflow, running for the session."""
    manager = ServiceManager(load_settings(home=kisa_home))
    manager.up(["s3", "graph", "mlflow"])
    yield manager
    manager.down()


@pytest.fixture()
def settings(services: ServiceManager, kisa_home: Path) -> KisaSettings:
    """Settings pointing at the session's services (read from endpoints.json)."""
    return load_settings(home=kisa_home)


@pytest.fixture()
def graph_store(settings: KisaSettings) -> Iterator[GraphStore]:
    """The session's graph server, on a test graph emptied before and after."""
    settings = settings.model_copy(
        update={"graph": settings.graph.model_copy(update={"name": "kisa_test"})}
    )
    with open_graph_store(settings) as store:
        store.clear()
        store.ensure_schema()
        yield store
        store.clear()
