"""PostgreSQL for the Airflow metadata DB, when KISA_AIRFLOW__METADATA_DB=postgres.

``initdb`` refuses to run as root, so as root the cluster is created and run
as the ``postgres`` system user (the binaries' package creates it).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
from pathlib import Path
from typing import Any

from kisa_tasks.services.embedded import EmbeddedService, read_or_create_secret
from kisa_tasks.services.process import ServiceError


def pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not candidates:
        raise FileNotFoundError(
            f"PostgreSQL binary {name} not found: install PostgreSQL server binaries "
            "or use KISA_AIRFLOW__METADATA_DB=sqlite"
        )
    return candidates[-1]


class PostgresServer(EmbeddedService):
    name = "postgres"
    port_names = ("pg",)

    @property
    def password(self) -> str:
        return read_or_create_secret(self.home / "secrets" / "postgres_password")

    def _run_as(self) -> list[str]:
        if os.geteuid() != 0:
            return []
        return ["runuser", "-u", "postgres", "--"]

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "data"

    def prepare(self) -> None:
        super().prepare()
        if (self.pgdata / "PG_VERSION").exists():
            return
        pwfile = self.data_dir / "pwfile"
        pwfile.write_text(self.password + "\n")
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            for path in (self.data_dir, pwfile):
                os.chown(path, pw.pw_uid, pw.pw_gid)
        result = subprocess.run(
            [
                *self._run_as(),
                pg_bin("initdb"),
                "-D",
                str(self.pgdata),
                "-U",
                "airflow",
                "--auth=scram-sha-256",
                f"--pwfile={pwfile}",
            ],
            capture_output=True,
            text=True,
        )
        pwfile.unlink()
        if result.returncode != 0:
            raise ServiceError(
                f"postgres: initdb failed for {self.pgdata} (as root it runs as user "
                "postgres, which needs to reach that directory; every parent must be "
                f"traversable, o+x):\n{result.stderr[-2000:]}"
            )

    def command(self, ports: dict[str, int]) -> list[str]:
        return [
            *self._run_as(),
            pg_bin("postgres"),
            "-D",
            str(self.pgdata),
            "-h",
            "127.0.0.1",
            "-p",
            str(ports["pg"]),
            "-k",
            str(self.data_dir),
        ]

    def _connect(self, ports: dict[str, int]) -> Any:
        import psycopg2

        return psycopg2.connect(
            host="127.0.0.1",
            port=ports["pg"],
            user="airflow",
            password=self.password,
            dbname="postgres",
            connect_timeout=2,
        )

    def healthy(self, ports: dict[str, int]) -> bool:
        self._connect(ports).close()
        return True

    def after_start(self, ports: dict[str, int]) -> None:
        conn = self._connect(ports)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", ("airflow",))
            if cur.fetchone() is None:
                cur.execute("CREATE DATABASE airflow")
        conn.close()

    def endpoints(self, ports: dict[str, int]) -> dict[str, Any]:
        return {
            "airflow": {
                "sql_alchemy_conn": (
                    f"postgresql+psycopg2://airflow:{self.password}@127.0.0.1:{ports['pg']}/airflow"
                )
            }
        }

    def urls(self, ports: dict[str, int]) -> dict[str, str]:
        return {"postgres": f"postgresql://airflow@127.0.0.1:{ports['pg']}/airflow"}
