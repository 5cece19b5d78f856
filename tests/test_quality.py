"""ruff (with Airflow's AIR3 rules), mypy and the package import graph
(no cycles) run as part of the tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from kisa_tasks.settings import PROJECT_ROOT

BIN = Path(sys.executable).parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / args[0]), *args[1:]], cwd=PROJECT_ROOT, capture_output=True, text=True
    )


def test_ruff_lint_passes() -> None:
    result = _run("ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean() -> None:
    result = _run("ruff", "format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_on_kisa_tasks_passes() -> None:
    result = _run("mypy", "kisa_tasks")
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_package_of_kisa_tasks_imports_one_that_imports_it_back() -> None:
    result = subprocess.run([sys.executable, "tools/import_cycles.py"], cwd=PROJECT_ROOT,
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no cycles" in result.stdout
