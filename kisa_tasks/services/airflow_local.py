"""A real Airflow 3 on loopback: api-server, scheduler and dag-processor.

We start the components ourselves rather than ``airflow standalone`` because
standalone's scheduler also starts the log server, which binds every
interface; with one machine the api-server reads task logs from disk, so
``--skip-serve-logs`` loses nothing. All three share one process group.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path
from typing import Any

from kisa_tasks.services.embedded import (
    EmbeddedService,
    http_ok,
    read_or_create_secret,
    venv_bin,
)
from kisa_tasks.settings import PROJECT_ROOT, KisaSettings

COMPONENTS = ("api-server", "scheduler --skip-serve-logs", "dag-processor")


def airflow_env(settings: KisaSettings, api_port: int, log_port: int) -> dict[str, str]:
    """Airflow configuration for the embedded platform, as environment variables.

    Pure apart from reading the per-installation secrets; used by the local
    Airflow and by the test session that runs ``dag.test()``.
    """
    home = settings.home / "airflow"
    secrets_dir = settings.home / "secrets"
    db = settings.airflow.sql_alchemy_conn
    if settings.airflow.metadata_db == "postgres":
        if db is None:
            raise RuntimeError(
                "KISA_AIRFLOW__METADATA_DB=postgres: start it with "
                "`kisa services up postgres` first"
            )
        sql_alchemy_conn = db.get_secret_value()
    else:
        sql_alchemy_conn = f"sqlite:///{home / 'airflow.db'}"
    base = f"http://127.0.0.1:{api_port}"
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # Local use: a DAG triggered from the UI runs without a separate unpause.
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        # Two cores here: more parallel task processes only thrash.
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(
            f"{name}:{role}" for name, role in ui_users(settings).items()
        ),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base}/execution/",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sql_alchemy_conn,
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__BASE_URL": base,
        "AIRFLOW__API__SECRET_KEY": read_or_create_secret(secrets_dir / "airflow_api"),
        "AIRFLOW__API_AUTH__JWT_SECRET": read_or_create_secret(secrets_dir / "airflow_jwt"),
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(log_port),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        "KISA_HOME": str(settings.home),
    }


def ui_users(settings: KisaSettings) -> dict[str, str]:
    """Every Airflow UI user, name -> role: the admin, then ``KISA_AIRFLOW__USERS``."""
    return {**settings.airflow.users, settings.airflow.admin_user: "admin"}


def password_file(settings: KisaSettings, user: str) -> Path:
    return settings.home / "secrets" / f"airflow_password_{user}"


def ui_password(settings: KisaSettings, user: str) -> str:
    """A UI user's password: the admin's from settings when set, else the
    one generated for this installation on first use (0600)."""
    airflow = settings.airflow
    if user == airflow.admin_user and airflow.admin_password is not None:
        return airflow.admin_password.get_secret_value()
    return read_or_create_secret(password_file(settings, user))


def write_passwords_file(settings: KisaSettings) -> Path:
    path = settings.home / "airflow" / "passwords.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({user: ui_password(settings, user) for user in ui_users(settings)}, fh)
    return path


def migrate_db(env: dict[str, str]) -> None:
    """``airflow db migrate``: idempotent, and required before any component."""
    result = subprocess.run(
        [venv_bin("airflow"), "db", "migrate"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{result.stderr[-3000:]}")


class LocalAirflow(EmbeddedService):
    name = "airflow"
    port_names = ("api", "logs")
    startup_timeout_s = 180.0
    by_default = False

    def __init__(self, settings: KisaSettings) -> None:
        super().__init__(settings)
        # Tasks talk to these; the metadata DB too when it is PostgreSQL.
        self.requires = ("s3", "graph", "mlflow") + (
            ("postgres",) if settings.airflow.metadata_db == "postgres" else ()
        )

    def _current_settings(self) -> KisaSettings:
        # Re-read: `up` may have just started PostgreSQL and written its URL.
        return KisaSettings(home=self.settings.home)

    def env(self, ports: dict[str, int]) -> dict[str, str]:
        return {
            **os.environ,
            **airflow_env(self._current_settings(), ports["api"], ports["logs"]),
        }

    def command(self, ports: dict[str, int]) -> list[str]:
        env = airflow_env(self._current_settings(), ports["api"], ports["logs"])
        admin = self.settings.airflow
        # A password generated now is shown once, in this start's summary.
        self._new_password = (
            admin.admin_password is None
            and not password_file(self.settings, admin.admin_user).exists()
        )
        write_passwords_file(self.settings)
        migrate_db(env)
        airflow = shlex.quote(venv_bin("airflow"))
        # One shell leads the process group; `wait` keeps it alive with them.
        script = " ".join(f"{airflow} {c} &" for c in COMPONENTS) + " wait"
        return ["/bin/sh", "-c", script]

    def healthy(self, ports: dict[str, int]) -> bool:
        import urllib.request

        url = f"http://127.0.0.1:{ports['api']}/api/v2/monitor/health"
        if not http_ok(url):
            return False
        with urllib.request.urlopen(url, timeout=2) as resp:
            health: dict[str, Any] = json.load(resp)
        return all(
            health.get(part, {}).get("status") == "healthy"
            for part in ("metadatabase", "scheduler", "dag_processor")
        )

    def endpoints(self, ports: dict[str, int]) -> dict[str, Any]:
        return {"airflow": {"api_port": ports["api"]}}

    def urls(self, ports: dict[str, int]) -> dict[str, str]:
        airflow = self.settings.airflow
        # A password someone set is never printed; a generated one only when made.
        if airflow.admin_password is not None:
            shown = "(KISA_AIRFLOW__ADMIN_PASSWORD)"
        elif getattr(self, "_new_password", False):
            shown = f"{ui_password(self.settings, airflow.admin_user)} (shown once)"
        else:
            shown = f"(in {password_file(self.settings, airflow.admin_user)})"
        return {
            "airflow_ui": f"http://127.0.0.1:{ports['api']}",
            "login": f"{airflow.admin_user} / {shown}",
        }


__all__ = [
    "LocalAirflow",
    "airflow_env",
    "migrate_db",
    "password_file",
    "ui_password",
    "ui_users",
    "write_passwords_file",
]
