"""Start and stop the processes the platform owns, by process group.

Every service runs in a session of its own (``start_new_session``), so its
process group holds the server and whatever it forks. We record the PID, the
group and the process start time: ``stop`` signals exactly that group and
never searches processes by name, and a PID file whose process is gone, or
whose PID was reused by something else, is recognised as stale.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

log = logging.getLogger(__name__)


class ServiceError(RuntimeError):
    """A service failed to start or stop; the message names the log and port."""


@dataclass(frozen=True)
class ProcessRecord:
    name: str
    pid: int
    pgid: int
    create_time: float
    ports: dict[str, int]
    log: str
    command: list[str] = field(default_factory=list)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> ProcessRecord | None:
        try:
            return cls(**json.loads(path.read_text()))
        except (FileNotFoundError, json.JSONDecodeError, TypeError):
            return None

    def is_alive(self) -> bool:
        """True while the recorded process itself still runs (not a reused PID)."""
        try:
            proc = psutil.Process(self.pid)
            same_process = abs(proc.create_time() - self.create_time) < 1.0
            return bool(same_process and proc.status() != psutil.STATUS_ZOMBIE)
        except psutil.NoSuchProcess:
            return False

    def group_members(self) -> list[psutil.Process]:
        members = []
        for proc in psutil.process_iter(["pid"]):
            try:
                if proc.status() == psutil.STATUS_ZOMBIE:
                    continue  # exited, only waiting for its parent to reap it
                if os.getpgid(proc.pid) == self.pgid and proc.create_time() >= (
                    self.create_time - 1.0
                ):
                    members.append(proc)
            except (ProcessLookupError, psutil.NoSuchProcess, PermissionError):
                continue
        return members


def listening(processes: Sequence[psutil.Process]) -> list[tuple[str, str, int]]:
    """(process name, address, port) of every TCP or UDP socket the
    processes listen on; UDP sockets count, they take datagrams from anyone."""
    found = []
    for proc in processes:
        try:
            name = proc.name()
            sockets = proc.net_connections(kind="inet")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        for conn in sockets:
            udp = conn.type == socket.SOCK_DGRAM
            if (conn.status == psutil.CONN_LISTEN or udp) and conn.laddr:
                found.append((name, conn.laddr.ip, conn.laddr.port))
    return sorted(set(found))


def is_loopback(address: str) -> bool:
    """127.0.0.0/8, ::1, or IPv4 loopback seen through a dual-stack socket."""
    return address.removeprefix("::ffff:").startswith("127.") or address == "::1"


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


GRPC_OFFSET = 10000  # SeaweedFS (and others) derive a gRPC port as http + 10000


def clashes(port: int, taken: set[int]) -> bool:
    """Whether ``port`` or its derived gRPC port collides with a port handed out.

    ``weed mini`` refuses to start when one component's port is another's
    port + 10000, so both directions count.
    """
    return bool({port, port + GRPC_OFFSET, port - GRPC_OFFSET} & taken)


def free_port(host: str = "127.0.0.1", avoid: set[int] | None = None) -> int:
    """An ephemeral port that is free now (and not one we already handed out)."""
    avoid = avoid or set()
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        if (
            not clashes(port, avoid)
            and port + GRPC_OFFSET < 65536
            and port_is_free(port + GRPC_OFFSET)
        ):
            return port
    raise ServiceError("no free TCP port on 127.0.0.1")


def choose_ports(
    names: Sequence[str], preferred: Mapping[str, int], taken: set[int] | None = None
) -> dict[str, int]:
    """Reuse last run's ports where still free, so endpoints stay stable."""
    taken = set(taken or ())
    chosen: dict[str, int] = {}
    for name in names:
        port = preferred.get(name)
        if port is None or clashes(port, taken) or not port_is_free(port):
            port = free_port(avoid=taken)
        chosen[name] = port
        taken.add(port)
    return chosen


def spawn(
    name: str,
    command: Sequence[str],
    *,
    log_path: Path,
    cwd: Path,
    env: Mapping[str, str],
    ports: dict[str, int],
) -> ProcessRecord:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    cwd.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        log.write(f"\n--- kisa: starting {name}: {' '.join(command)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return ProcessRecord(
        name=name,
        pid=proc.pid,
        pgid=proc.pid,
        create_time=psutil.Process(proc.pid).create_time(),
        ports=ports,
        log=str(log_path),
        command=list(command),
    )


def stop_group(record: ProcessRecord, timeout_s: float = 20.0) -> None:
    """SIGTERM the recorded process group, then SIGKILL what is left."""
    for sig, wait in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 5.0)):
        members = record.group_members()
        if not members:
            return
        try:
            os.killpg(record.pgid, sig)
        except ProcessLookupError:
            return
        _, alive = psutil.wait_procs(members, timeout=wait)
        if not alive:
            return
    left = [p.pid for p in record.group_members()]
    if left:
        raise ServiceError(f"{record.name}: processes {left} survived SIGKILL")


def wait_until(
    check: Callable[[], bool],
    *,
    timeout_s: float,
    record: ProcessRecord,
    interval_s: float = 0.25,
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not record.is_alive():
            raise ServiceError(
                f"{record.name} exited during start-up; see its log {record.log} "
                f"(ports {record.ports})\n{tail(Path(record.log))}"
            )
        try:
            if check():
                return
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready yet"
            log.debug("%s not ready: %s", record.name, exc)
        time.sleep(interval_s)
    raise ServiceError(
        f"{record.name} did not become healthy within {timeout_s:.0f}s; see its log "
        f"{record.log} (ports {record.ports})\n{tail(Path(record.log))}"
    )


def tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return ""
    return "\n".join("    " + line for line in text[-lines:])
