"""Session fixtures: the real embedded services, started once per test session
under a temporary KISA_HOME and stopped at the end (by process group).

``make test`` runs the suite on two pytest-xdist workers (``-n 2``), each
with its own services and KISA_HOME. A module runs whole on one worker, and
the modules that share an expensive fixture run on the same one
(``SHARED``), so it is built once."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kisa_tasks.graph import GraphStore, open_graph_store
from kisa_tasks.services import ServiceManager
from kisa_tasks.services.airflow_local import airflow_env, migrate_db, write_passwords_file
from kisa_tasks.services.process import choose_ports
from kisa_tasks.settings import PROJECT_ROOT, KisaSettings, load_settings

DAGS = PROJECT_ROOT / "dags"
TESTS = Path(__file__).resolve().parent
# Test files -> the worker group that shares their expensive fixtures.
SHARED = {
    # the session's oncology pipeline run (oncology_run)
    "test_dags.py": "oncology_run",
    "test_drills.py": "oncology_run",
    "training/test_train_and_evaluate_dags.py": "oncology_run",
    # one real Airflow and its backfill (package fixtures)
    "airflow_ui/test_backfill.py": "airflow_ui",
    "airflow_ui/test_ui.py": "airflow_ui",
}


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under ``pytest -n N``: a module runs whole on one worker, and the
    modules in one ``SHARED`` group on the same worker."""
    from xdist.scheduler import LoadScopeScheduling

    class SharedFixtures(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0].removeprefix("tests/")
            return SHARED.get(module, module)

    return SharedFixtures(config, log)


UI_USERS = {"reader": "viewer", "curator": "user", "operator": "op"}


@pytest.fixture(scope="session")
def kisa_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("kisa_home")
    # Code under test that loads settings itself (DAG tasks) finds our
    # services; the Airflow UI has a user of every role besides the admin.
    session = {"KISA_HOME": str(home), "KISA_AIRFLOW__USERS": json.dumps(UI_USERS)}
    previous = {k: os.environ.get(k) for k in session}
    os.environ.update(session)
    yield home
    for key, value in previous.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


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
    yield from _emptied_store(
        settings.model_copy(
            update={"graph": settings.graph.model_copy(update={"name": "kisa_test"})}
        )
    )


@pytest.fixture(params=["falkordb", "neo4j"])
def contract_store(request: pytest.FixtureRequest, settings: KisaSettings) -> Iterator[GraphStore]:
    """The graph-store contract's store: FalkorDB (the session's), and Neo4j
    wherever ``KISA_NEO4J__URI`` is set (with ``KISA_NEO4J__PASSWORD``); the
    suite empties the database ``KISA_GRAPH__NAME`` names there, so point it
    at a scratch one."""
    if request.param == "falkordb":
        yield from _emptied_store(
            settings.model_copy(
                update={"graph": settings.graph.model_copy(update={"name": "kisa_test"})}
            )
        )
        return
    if not os.environ.get("KISA_NEO4J__URI"):
        pytest.skip("KISA_NEO4J__URI is not set: the graph-store contract ran on FalkorDB")
    neo4j = load_settings(home=settings.home)
    yield from _emptied_store(
        neo4j.model_copy(update={"graph": neo4j.graph.model_copy(update={"backend": "neo4j"})})
    )


def _emptied_store(settings: KisaSettings) -> Iterator[GraphStore]:
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


@pytest.fixture(scope="session")
def dagbag(airflow_db: dict[str, str]) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


# The uninterrupted run the pipeline test checks and the reliability drills
# compare against (tests/test_dags.py, tests/test_drills.py).
ONCOLOGY_CONF = {"specialty": "oncology", "random_seed": 7, "max_abstracts": 1500, "max_seeds": 20}


@pytest.fixture(scope="session")
def oncology_run(dagbag: Any) -> Any:
    """One ``kisa_pipeline`` run through ``dag.test()``, for the session."""
    return dagbag.get_dag("kisa_pipeline").test(run_conf=full_conf(ONCOLOGY_CONF))


def full_conf(conf: dict[str, Any]) -> dict[str, Any]:
    """Every form field given: a ``dag.test()`` run earlier in the session
    leaves its conf in the shared DAG object's params (seen with
    ``backend=llm``), so a run that relies on the form's defaults may not get them."""
    from kisa_tasks.run_config import RunConfig

    return RunConfig.model_validate(conf).model_dump()
