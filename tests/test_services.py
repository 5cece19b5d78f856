"""Lifecycle of the embedded services, each test on its own state directory."""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pytest

from kisa_tasks.artefacts import ArtefactStore, Partition, register_stage
from kisa_tasks.graph import open_graph_store
from kisa_tasks.services import ServiceError, ServiceManager
from kisa_tasks.services.embedded import EmbeddedService, FalkorDBServer, SeaweedS3
from kisa_tasks.services.process import ProcessRecord, is_loopback, listening, port_is_free
from kisa_tasks.settings import KisaSettings, load_settings

PROBE = register_stage("probe", pa.schema([pa.field("id", pa.string(), nullable=False)]))


def _manager(home: Path) -> ServiceManager:
    settings = load_settings(home=home)
    return ServiceManager(settings, [SeaweedS3(settings), FalkorDBServer(settings)])


def _records(home: Path) -> list[ProcessRecord]:
    out = []
    for name in ("s3", "graph"):
        record = ProcessRecord.load(home / "run" / f"{name}.json")
        if record is not None:
            out.append(record)
    return out


def _assert_nothing_left(records: list[ProcessRecord]) -> None:
    for record in records:
        assert record.group_members() == [], f"{record.name} left processes behind"
        for port in record.ports.values():
            assert port_is_free(port), f"{record.name} left port {port} listening"


def test_up_twice_is_a_no_op_and_data_survives_down_up(tmp_path: Path) -> None:
    manager = _manager(tmp_path)
    try:
        manager.up()
        first = {r.name: r.pid for r in _records(tmp_path)}
        manager.up()
        assert {r.name: r.pid for r in _records(tmp_path)} == first

        settings = load_settings(home=tmp_path)
        store = ArtefactStore.from_settings(settings)
        part = Partition("probe", "cardiology", "restart")
        store.write(part, [pa.table({"id": ["a", "b"]})])
        with open_graph_store(settings) as graph:
            graph.run_batches("merge_entities", [{"id": "x", "name": "X", "type": "drug"}])

        records = _records(tmp_path)
        manager.down()
        _assert_nothing_left(records)
        assert not (tmp_path / "run" / "s3.json").exists()

        manager.up()
        settings = load_settings(home=tmp_path)
        assert ArtefactStore.from_settings(settings).read(part).column("id").to_pylist() == [
            "a",
            "b",
        ]
        with open_graph_store(settings) as graph:
            assert graph.run("graph_counts")[0]["nodes"] == 1
    finally:
        records = _records(tmp_path)
        manager.down()
        _assert_nothing_left(records)


def test_graph_survives_kill_9_thanks_to_append_only_file(tmp_path: Path) -> None:
    manager = _manager(tmp_path)
    try:
        manager.up(["graph"])
        with open_graph_store(load_settings(home=tmp_path)) as graph:
            graph.run_batches("merge_entities", [{"id": "k9", "name": "K", "type": "drug"}])
        time.sleep(1.5)  # appendfsync everysec
        record = ProcessRecord.load(tmp_path / "run" / "graph.json")
        assert record is not None
        os.killpg(record.pgid, signal.SIGKILL)
        time.sleep(0.5)
        # The PID file is stale now: status says so and cleans it up.
        assert {s.name: s.state for s in manager.status()}["graph"] == "stopped"
        assert not (tmp_path / "run" / "graph.json").exists()
        manager.up(["graph"])
        with open_graph_store(load_settings(home=tmp_path)) as graph:
            assert graph.run("graph_counts")[0]["nodes"] == 1
    finally:
        manager.down()


def test_taken_port_is_replaced_by_a_free_one(tmp_path: Path) -> None:
    manager = _manager(tmp_path)
    manager.up(["graph"])
    old = ProcessRecord.load(tmp_path / "run" / "graph.json")
    assert old is not None
    manager.down()
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", old.ports["redis"]))
    blocker.listen()
    try:
        manager.up(["graph"])
        new = ProcessRecord.load(tmp_path / "run" / "graph.json")
        assert new is not None and new.ports["redis"] != old.ports["redis"]
        assert {s.name: s.state for s in manager.status()}["graph"] == "running"
    finally:
        blocker.close()
        manager.down()


class _CrashingService(EmbeddedService):
    """A real process that dies at start-up, as a misconfigured server does."""

    name = "crashy"
    port_names: ClassVar[tuple[str, ...]] = ("http",)
    startup_timeout_s = 10.0

    def command(self, ports: dict[str, int]) -> list[str]:
        return [sys.executable, "-c", "import sys; print('bad config'); sys.exit(3)"]

    def healthy(self, ports: dict[str, int]) -> bool:
        return False

    def endpoints(self, ports: dict[str, int]) -> dict[str, Any]:
        return {}


def test_failed_start_names_service_log_and_port_and_rolls_back(tmp_path: Path) -> None:
    settings: KisaSettings = load_settings(home=tmp_path)
    manager = ServiceManager(settings, [FalkorDBServer(settings), _CrashingService(settings)])
    with pytest.raises(ServiceError) as err:
        manager.up()
    message = str(err.value)
    assert "crashy" in message and "crashy.log" in message and "http" in message
    assert "bad config" in message
    # Nothing half-started: the graph server started by this call is gone too.
    assert not (tmp_path / "run" / "graph.json").exists()
    assert all(s.state == "stopped" for s in manager.status())


def test_unknown_service_name_lists_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ServiceError, match=r"known: .*graph"):
        _manager(tmp_path).up(["graphdb"])


def test_stopping_a_group_whose_process_exited_unreaped_succeeds(tmp_path: Path) -> None:
    """A service that died while its parent (a demo process) still holds it
    is a zombie: stopped already, not a survivor of SIGKILL."""
    import psutil

    from kisa_tasks.services.process import spawn, stop_group

    record = spawn(
        "short", [sys.executable, "-c", "pass"], log_path=tmp_path / "short.log",
        cwd=tmp_path, env=dict(os.environ), ports={},
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while psutil.Process(record.pid).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "the child never exited"
        time.sleep(0.1)
    stop_group(record)  # raised "survived SIGKILL" before zombies were told apart
    os.waitpid(record.pid, 0)  # reap it ourselves: we are its parent


def test_the_ray_worker_port_range_stops_before_the_heads_other_ports() -> None:
    from kisa_tasks.services.process import choose_ports
    from kisa_tasks.services.ray_head import _worker_range_end

    lo = choose_ports(("worker",), {})["worker"]
    # Ray refuses a worker range holding a port given to another of its parts.
    assert _worker_range_end(lo, {lo + 3}) <= lo + 2
    assert _worker_range_end(lo, set()) >= lo


def test_no_port_is_another_ports_grpc_port() -> None:
    from kisa_tasks.services.process import GRPC_OFFSET, choose_ports

    base = choose_ports(("s3",), {})["s3"]  # free, and so is base + 10000
    # weed mini refused to start when the master port was the S3 port + 10000.
    ports = choose_ports(("s3", "master"), {"s3": base, "master": base + GRPC_OFFSET})
    assert ports["s3"] == base
    assert ports["master"] != base + GRPC_OFFSET
    many = choose_ports(tuple(f"p{i}" for i in range(40)), {})
    values = set(many.values())
    assert not {p + GRPC_OFFSET for p in values} & values


def test_the_session_services_listen_on_loopback_only(
    services: ServiceManager, kisa_home: Path
) -> None:
    records = [ProcessRecord.load(p) for p in sorted((kisa_home / "run").glob("*.json"))]
    sockets = {r.name: listening(r.group_members()) for r in records if r is not None}
    assert {"s3", "graph", "mlflow"} <= {name for name, found in sockets.items() if found}
    assert {
        name: [s for s in found if not is_loopback(s[1])] for name, found in sockets.items()
    } == {name: [] for name in sockets}


def test_the_bucket_is_writable_only_through_s3_with_its_keys(
    services: ServiceManager, kisa_home: Path, tmp_path: Path
) -> None:
    import subprocess
    import urllib.error
    import urllib.request

    import boto3
    from botocore.exceptions import ClientError

    from kisa_tasks.services.embedded import venv_bin

    settings = load_settings(home=kisa_home)
    record = ProcessRecord.load(kisa_home / "run" / "s3.json")
    assert record is not None
    bucket, key = settings.s3.bucket, "intruder/evil.txt"

    def status(port: int, path: str, method: str) -> int:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}{path}", data=b"evil", method=method,
            headers={"Content-Type": "text/plain"},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return exc.code

    ports = record.ports
    # The filer's and master's HTTP APIs are off; the volume takes only signed writes.
    assert status(ports["filer"], f"/buckets/{bucket}/{key}", "PUT") == 404
    assert status(ports["filer"], f"/buckets/{bucket}/{key}", "POST") == 404
    assert status(ports["master"], "/submit", "POST") == 404
    assert status(ports["master"], "/dir/assign", "GET") == 404
    assert status(ports["volume"], "/1,01637037d6", "POST") == 401
    # A weed client without the installation's certificates is refused over gRPC.
    evil = tmp_path / "evil.txt"
    evil.write_text("evil")
    copied = subprocess.run(
        [venv_bin("weed"), "filer.copy", str(evil),
         f"http://127.0.0.1:{ports['filer']}/buckets/{bucket}/intruder/"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert copied.returncode != 0
    s3 = boto3.client(
        "s3", endpoint_url=settings.s3.endpoint_url, region_name=settings.s3.region,
        aws_access_key_id=settings.s3.access_key_id,
        aws_secret_access_key=settings.s3.secret_access_key.get_secret_value()
        if settings.s3.secret_access_key else None,
    )  # fmt: skip
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="intruder/")
    assert listed.get("KeyCount", 0) == 0  # nothing got in
    wrong = boto3.client(
        "s3", endpoint_url=settings.s3.endpoint_url, region_name=settings.s3.region,
        aws_access_key_id=settings.s3.access_key_id, aws_secret_access_key="not-the-key",
    )  # fmt: skip
    with pytest.raises(ClientError):
        wrong.put_object(Bucket=bucket, Key=key, Body=b"evil")
