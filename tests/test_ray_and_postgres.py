"""The optional services: a Ray head taking jobs, PostgreSQL for Airflow."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from kisa_tasks.ray_jobs import job_client, wait_for_job
from kisa_tasks.services import ServiceManager
from kisa_tasks.services.postgres import PostgresServer
from kisa_tasks.services.process import ProcessRecord, is_loopback, listening, port_is_free
from kisa_tasks.services.ray_head import RayHead
from kisa_tasks.settings import load_settings


def test_ray_head_accepts_token_authenticated_jobs(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path)
    manager = ServiceManager(settings, [RayHead(settings)])
    try:
        manager.up(["ray"])
        settings = load_settings(home=tmp_path)
        assert settings.ray.address and settings.ray.auth_token is not None
        client = job_client(settings)
        job_id = client.submit_job(
            entrypoint=(
                'python -c "import ray; ray.init(); '
                "print('sum', sum(ray.get([ray.remote(lambda x: x * x).remote(i) "
                'for i in range(5)])))"'
            )
        )
        result = wait_for_job(client, job_id, timeout_s=180)
        assert result["status"] == "SUCCEEDED", result["logs"][-2000:]
        assert "sum 30" in result["logs"]
        # Every socket of the head (GCS, raylet, agents, client server,
        # dashboard, workers the job started) listens on loopback only.
        record = ProcessRecord.load(tmp_path / "run" / "ray.json")
        assert record is not None
        sockets = listening(record.group_members())
        assert {"gcs_server", "raylet"} <= {name for name, _, _ in sockets}
        assert [s for s in sockets if not is_loopback(s[1])] == []
        # Without the token the head refuses work.
        anonymous = settings.model_copy(
            update={"ray": settings.ray.model_copy(update={"auth_token": None})}
        )
        with pytest.raises(Exception, match=r"(?i)auth|token|401"):
            job_client(anonymous).list_jobs()
    finally:
        record = ProcessRecord.load(tmp_path / "run" / "ray.json")
        manager.down()
        if record is not None:
            assert record.group_members() == []
            assert port_is_free(record.ports["dashboard"])


@pytest.mark.skipif(
    shutil.which("initdb") is None and not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")),
    reason="PostgreSQL server binaries not installed",
)
def test_postgres_metadata_db_starts_and_creates_airflow_database() -> None:
    if sys.platform != "linux":
        pytest.skip("runuser is Linux-only")
    # pytest's tmp dirs are 0700: as root, initdb runs as `postgres`, which must
    # be able to reach the data directory.
    tmp_path = Path(tempfile.mkdtemp(prefix="kisa-pg-"))
    tmp_path.chmod(0o711)
    settings = load_settings(home=tmp_path, airflow={"metadata_db": "postgres"})
    manager = ServiceManager(settings, [PostgresServer(settings)])
    try:
        manager.up(["postgres"])
        url = load_settings(home=tmp_path).airflow.sql_alchemy_conn
        assert url is not None
        import sqlalchemy

        engine = sqlalchemy.create_engine(url.get_secret_value())
        with engine.connect() as conn:
            assert conn.execute(sqlalchemy.text("SELECT current_database()")).scalar() == "airflow"
        engine.dispose()
        record = ProcessRecord.load(tmp_path / "run" / "postgres.json")
        assert record is not None
        sockets = listening(record.group_members())
        assert sockets and [s for s in sockets if not is_loopback(s[1])] == []
    finally:
        manager.down()
        shutil.rmtree(tmp_path, ignore_errors=True)
