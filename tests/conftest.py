"""Session fixtures: the real embedded services, started once per test session
under a temporary KISA_HOME and stopped at the end (by process group)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kisa_tasks.graph import GraphStore, open_graph_store
from kisa_tasks.services import ServiceManager
from kisa_tasks.services.airflow_local import airflow_env, migrate_db, write_passwords_file
from kisa_tasks.services.process import choose_ports
from kisa_tasks.settings import PROJECT_ROOT, KisaSettings, load_settings

DAGS = PROJECT_ROOT / "dags"


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


@pytest.fixture(scope="session")
def airflow_db(services: ServiceManager, kisa_home: Path) -> Iterator[dict[str, str]]:
    """A migrated Airflow metadata DB for this session; env set before import."""
    ports = choose_ports(("api", "logs"), {})
    env = airflow_env(load_settings(home=kisa_home), ports["api"], ports["logs"])
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    migrate_db(env)
    write_passwords_file(load_settings(home=kisa_home))  # the UI login (admin)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    sys.path.insert(0, str(DAGS))
    yield env
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
