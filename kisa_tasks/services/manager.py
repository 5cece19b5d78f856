"""Lifecycle of the embedded services: ``up`` (idempotent), ``down``, ``status``."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kisa_tasks.services.embedded import (
    EmbeddedService,
    FalkorDBServer,
    MLflowServer,
    SeaweedS3,
)
from kisa_tasks.services.process import (
    ProcessRecord,
    ServiceError,
    choose_ports,
    spawn,
    stop_group,
    wait_until,
)
from kisa_tasks.settings import ENDPOINTS_FILE, KisaSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    state: str  # "running", "stopped", "unhealthy"
    pid: int | None
    urls: dict[str, str]
    log: str


def default_services(settings: KisaSettings) -> list[EmbeddedService]:
    from kisa_tasks.services.airflow_local import LocalAirflow
    from kisa_tasks.services.llm_server import SmolLM2Server
    from kisa_tasks.services.postgres import PostgresServer
    from kisa_tasks.services.ray_head import RayHead

    s3 = SeaweedS3(settings)
    services: list[EmbeddedService] = [
        s3,
        FalkorDBServer(settings),
        MLflowServer(settings, s3),
        RayHead(settings),
        SmolLM2Server(settings),
    ]
    if settings.airflow.metadata_db == "postgres":
        services.append(PostgresServer(settings))
    services.append(LocalAirflow(settings))
    return services


class ServiceManager:
    def __init__(
        self, settings: KisaSettings, services: Sequence[EmbeddedService] | None = None
    ) -> None:
        self.settings = settings
        self.home = settings.home
        self.services = list(services or default_services(settings))
        self._by_name = {s.name: s for s in self.services}

    # -- paths ---------------------------------------------------------------
    def _record_path(self, name: str) -> Path:
        return self.home / "run" / f"{name}.json"

    def _ports_path(self, name: str) -> Path:
        # Kept after `down` so a restart reuses the same ports where free.
        return self.home / name / "ports.json"

    def _log_path(self, name: str) -> Path:
        return self.home / "logs" / f"{name}.log"

    def select(self, names: Iterable[str] | None) -> list[EmbeddedService]:
        if not names:
            return [s for s in self.services if s.by_default]
        wanted = set(names)
        unknown = wanted - set(self._by_name)
        if unknown:
            raise ServiceError(
                f"unknown service(s) {sorted(unknown)}; known: {sorted(self._by_name)}"
            )
        # Pull in dependencies, keep declaration order.
        for name in list(wanted):
            wanted.update(self._by_name[name].requires)
        return [s for s in self.services if s.name in wanted]

    def running_record(self, name: str) -> ProcessRecord | None:
        """The live record for a service; a stale PID file is removed."""
        path = self._record_path(name)
        record = ProcessRecord.load(path)
        if record is None:
            path.unlink(missing_ok=True)
            return None
        if not record.is_alive():
            log.info("%s: removing stale PID file %s", name, path)
            # Leftover children of a crashed leader still hold ports.
            stop_group(record, timeout_s=5.0)
            path.unlink(missing_ok=True)
            return None
        return record

    # -- lifecycle -------------------------------------------------------------
    def up(self, names: Iterable[str] | None = None) -> list[ServiceStatus]:
        started: list[ProcessRecord] = []
        try:
            for service in self.select(names):
                record = self.running_record(service.name)
                if record is not None and self._is_healthy(service, record):
                    continue
                if record is not None:
                    raise ServiceError(
                        f"{service.name} runs (pid {record.pid}) but is not healthy; "
                        f"see {record.log} or run `kisa services down`"
                    )
                started.append(self._start(service))
                self._write_endpoints()
        except BaseException:
            # Nothing half-started: stop what this call started, newest first.
            for record in reversed(started):
                stop_group(record)
                self._record_path(record.name).unlink(missing_ok=True)
            self._write_endpoints()
            raise
        return self.status()

    def reserve_ports(self, name: str) -> dict[str, int]:
        """The ports ``name`` will listen on when it starts (its last ones
        where still free), kept so that the next start uses them: a URL
        printed now is where the service will be."""
        service = self._by_name[name]
        ports = choose_ports(service.port_names, _read_json(self._ports_path(name)))
        self._ports_path(name).parent.mkdir(parents=True, exist_ok=True)
        self._ports_path(name).write_text(json.dumps(ports))
        return ports

    def _start(self, service: EmbeddedService) -> ProcessRecord:
        service.prepare()
        preferred = _read_json(self._ports_path(service.name))
        ports = choose_ports(service.port_names, preferred)
        record = spawn(
            service.name,
            service.command(ports),
            log_path=self._log_path(service.name),
            cwd=service.data_dir,
            env=service.env(ports),
            ports=ports,
        )
        record.save(self._record_path(service.name))
        log.info("%s: started pid %s on %s", service.name, record.pid, ports)
        try:
            wait_until(
                lambda: service.healthy(ports),
                timeout_s=service.startup_timeout_s,
                record=record,
            )
            service.after_start(ports)
        except BaseException:
            stop_group(record)
            self._record_path(service.name).unlink(missing_ok=True)
            raise
        self._ports_path(service.name).write_text(json.dumps(ports))
        return record

    def down(self, names: Iterable[str] | None = None) -> None:
        """Stop the named services (all when none are named), not their dependencies."""
        if names:
            self.select(names)  # validates the names
            wanted = set(names)
            targets = [s for s in self.services if s.name in wanted]
        else:
            targets = self.services
        for service in reversed(targets):
            path = self._record_path(service.name)
            record = ProcessRecord.load(path)
            if record is not None:
                stop_group(record)
                log.info("%s: stopped", service.name)
            path.unlink(missing_ok=True)
        self._write_endpoints()

    def status(self) -> list[ServiceStatus]:
        out = []
        for service in self.services:
            record = self.running_record(service.name)
            if record is None:
                out.append(
                    ServiceStatus(
                        service.name,
                        "stopped",
                        None,
                        {},
                        str(self._log_path(service.name)),
                    )
                )
                continue
            state = "running" if self._is_healthy(service, record) else "unhealthy"
            out.append(
                ServiceStatus(
                    service.name,
                    state,
                    record.pid,
                    service.urls(record.ports),
                    record.log,
                )
            )
        return out

    def _is_healthy(self, service: EmbeddedService, record: ProcessRecord) -> bool:
        try:
            return service.healthy(record.ports)
        except Exception:  # noqa: BLE001 - any failure is "unhealthy"
            return False

    def _write_endpoints(self) -> None:
        merged: dict[str, Any] = {}
        for service in self.services:
            record = ProcessRecord.load(self._record_path(service.name))
            if record is not None and record.is_alive():
                for group, values in service.endpoints(record.ports).items():
                    merged.setdefault(group, {}).update(values)
        path = self.home / ENDPOINTS_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.touch(mode=0o600)
        tmp.write_text(json.dumps(merged, indent=2))
        tmp.replace(path)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        return data
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
