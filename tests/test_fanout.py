"""Fan-out over worker processes from any host process: results in item
order, and workers that never run the host's main module again (an Airflow
task's main is Airflow's CLI, which cannot be imported there)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from kisa_tasks.settings import PROJECT_ROOT

HOST = """
import sys
if __name__ == "__mp_main__":
    raise SystemExit("a worker ran the host's main module again")
sys.path.insert(0, {root!r})
import functools, operator
from kisa_tasks.fanout import fan_out
print(fan_out(functools.partial(operator.mul, 3), [1, 2, 3, 4, 5], what="items", workers=2))
print(hasattr(sys.modules["__main__"], "__file__"))
"""


def test_workers_do_not_rerun_the_host_main_module(tmp_path: Path) -> None:
    host = tmp_path / "host.py"
    host.write_text(HOST.format(root=str(PROJECT_ROOT)))
    done = subprocess.run(
        [sys.executable, str(host)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["[3,", "6,", "9,", "12,", "15]", "True"]  # main restored
