"""A local Ray head for job submission (training jobs, scale-out stages).

Ray turns on token authentication for local clusters; we generate the token
once, keep it in a 0600 file under the state directory and hand it to clients
through the settings. Every port Ray opens is chosen by us, on loopback.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from kisa_tasks.services.embedded import (
    EmbeddedService,
    http_ok,
    read_or_create_secret,
    venv_bin,
)
from kisa_tasks.services.process import port_is_free

# Every worker process and job driver holds one; a pipeline run with Ray
# tasks for ingest and extraction ran out of 40 ("No available ports").
WORKER_PORTS = 200
LOOPBACK_NODE = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


class RayHead(EmbeddedService):
    name = "ray"
    port_names = (
        "gcs",
        "dashboard",
        "client",
        "node_manager",
        "object_manager",
        "dashboard_agent",
        "dashboard_agent_grpc",
        "runtime_env_agent",
        "metrics",
        "autoscaler_metrics",
        "dashboard_metrics",
        "min_worker",
    )
    startup_timeout_s = 120.0
    # Started when asked for (training, scale-out stages): on 2 cores an idle
    # head costs the pipeline. Always with token auth, every port on loopback.
    by_default = False

    @property
    def temp_dir(self) -> Path:
        """Ray's session directory holds AF_UNIX sockets (107-byte path limit),
        so it lives under a short /tmp path derived from the state directory."""
        digest = hashlib.sha256(str(self.home).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"kisa-ray-{digest}"

    @property
    def token(self) -> str:
        return read_or_create_secret(self.data_dir / "auth_token")

    def command(self, ports: dict[str, int]) -> list[str]:
        lo = ports["min_worker"]
        hi = _worker_range_end(lo, set(ports.values()) - {lo})
        return [
            venv_bin("ray"),
            "start",
            "--head",
            "--block",
            "--node-ip-address=127.0.0.1",
            f"--port={ports['gcs']}",
            "--include-dashboard=true",
            "--dashboard-host=127.0.0.1",
            f"--dashboard-port={ports['dashboard']}",
            f"--ray-client-server-port={ports['client']}",
            f"--node-manager-port={ports['node_manager']}",
            f"--object-manager-port={ports['object_manager']}",
            f"--dashboard-agent-listen-port={ports['dashboard_agent']}",
            f"--dashboard-agent-grpc-port={ports['dashboard_agent_grpc']}",
            f"--runtime-env-agent-port={ports['runtime_env_agent']}",
            f"--metrics-export-port={ports['metrics']}",
            f"--min-worker-port={lo}",
            f"--max-worker-port={hi}",
            f"--num-cpus={os.cpu_count() or 2}",
            f"--temp-dir={self.temp_dir}",
            "--disable-usage-stats",
        ]

    def env(self, ports: dict[str, int]) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "RAY_AUTH_MODE": "token",
                "RAY_AUTH_TOKEN": self.token,
                "RAY_USAGE_STATS_ENABLED": "0",
                # On Linux Ray replaces --node-ip-address=127.0.0.1 with the
                # machine's address, and every server then binds all
                # interfaces; this keeps the node, so every port, on loopback
                # (a single-node head: no other node joins it).
                LOOPBACK_NODE: "0",
                # Two metrics ports Ray otherwise fixes (44217, 44227).
                "AUTOSCALER_METRIC_PORT": str(ports["autoscaler_metrics"]),
                "DASHBOARD_METRIC_PORT": str(ports["dashboard_metrics"]),
                # Job drivers run `python ...`: make that the project's venv.
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
            }
        )
        return env

    def healthy(self, ports: dict[str, int]) -> bool:
        # The job API answers only once the head's dashboard and agent are up.
        return http_ok(f"http://127.0.0.1:{ports['dashboard']}/api/version", token=self.token)

    def endpoints(self, ports: dict[str, int]) -> dict[str, Any]:
        return {
            "ray": {
                "address": f"http://127.0.0.1:{ports['dashboard']}",
                "auth_token": self.token,
            }
        }

    def urls(self, ports: dict[str, int]) -> dict[str, str]:
        return {
            "ray_jobs": f"http://127.0.0.1:{ports['dashboard']}",
            "ray_gcs": f"127.0.0.1:{ports['gcs']}",
        }


def _worker_range_end(lo: int, taken: set[int]) -> int:
    """The end of a worker port range starting at ``lo`` that is free now and
    holds none of the head's other ports (chosen, not yet bound: Ray refuses
    a range that overlaps them)."""
    hi = lo
    while (
        hi < lo + WORKER_PORTS - 1 and hi < 65535 and hi + 1 not in taken and port_is_free(hi + 1)
    ):
        hi += 1
    return hi
