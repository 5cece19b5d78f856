"""What a training job uploads and how its command line is built."""

from __future__ import annotations

from pathlib import Path

import pytest

from kisa_tasks.ray_jobs import RayJobFailed, job_result
from kisa_tasks.training.launch import (
    JOB_PACKAGE,
    TrainingJob,
    TrainingJobFailed,
    stage_package,
)


def test_only_the_code_a_job_needs_is_uploaded(tmp_path: Path) -> None:
    staged = stage_package(tmp_path / "job")
    assert sorted(p.name for p in staged.iterdir()) == sorted(JOB_PACKAGE)
    assert (staged / "training_jobs" / "configs" / "grpo_tiny.yaml").is_file()
    assert (staged / "kisa_tasks" / "training" / "grpo.py").is_file()
    assert not list(staged.rglob("__pycache__"))
    size = sum(f.stat().st_size for f in staged.rglob("*") if f.is_file())
    assert size < 20 * 1024 * 1024  # Ray refuses uploads over 100 MiB


def test_entrypoint_quotes_its_arguments_and_the_result_is_the_last_json_line() -> None:
    job = TrainingJob("sft", "training_jobs.sft", ("--run", "manual__2026-01-01T00:00:00+00:00 x"))
    assert (
        job.entrypoint == "python -m training_jobs.sft --run 'manual__2026-01-01T00:00:00+00:00 x'"
    )
    assert job_result('{"a": 1}\nlog line\n{"steps": 3}\n') == {"steps": 3}
    with pytest.raises(RayJobFailed, match="printed no result line"):
        job_result("Traceback ...\nValueError: boom\n")
    assert issubclass(TrainingJobFailed, RayJobFailed)  # one failure a caller catches
