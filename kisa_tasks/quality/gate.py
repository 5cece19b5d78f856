"""Quality gates: after a stage commits, validate what it committed.

Each gate reads the stage's partitions (and the partitions its referential
checks point at), validates them with the repo's suites, and leaves the
evidence browsable whatever the verdict:

- ``s3://BUCKET/quality/dag=D/run=R/<suite>/summary.json``: the checks,
  JSON (what the review plugin reads);
- ``.../<suite>/docs/``: the GX Data Docs site (``index.html`` and the
  validation page the summary names); the summary lists every file of it
  with its SHA-256 (``docs_files``), and the review UI serves only those;
- the MLflow run of the DAG run: ``gate.<suite>.*`` metrics and both of the
  above as artifacts under ``quality/<suite>/``.

Then it fails (``QualityGateError``, naming the suite and each failed
critical expectation) if a critical expectation failed; warnings are logged
and recorded, never fatal.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kisa_tasks.artefacts import ArtefactStore, Partition
from kisa_tasks.artefacts.schemas import register_declared
from kisa_tasks.pipeline import PIPELINE, Stage, Suite, resolve, stage_named
from kisa_tasks.quality.frames import gate_frame
from kisa_tasks.quality.validate import Check, Outcome, validate
from kisa_tasks.settings import KisaSettings

log = logging.getLogger(__name__)


class QualityGateError(RuntimeError):
    """A critical expectation failed; the message names the suite and each failure."""


def quality_prefix(dag_id: str, run_id: str) -> str:
    return f"quality/dag={dag_id}/run={run_id}"


def docs_listing(docs: Path) -> dict[str, str]:
    """Each file of a Data Docs site (path relative to it) -> its SHA-256."""
    return {
        path.relative_to(docs).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(docs.rglob("*"))
        if path.is_file()
    }


def describe(check: Check) -> str:
    where = f"({check.column})" if check.column else ""
    if check.error:
        return f"{check.expectation}{where}: could not be evaluated: {check.error}"
    if check.unexpected_count:
        sample = f", e.g. {check.unexpected_sample}" if check.unexpected_sample else ""
        return f"{check.expectation}{where}: {check.unexpected_count} unexpected{sample}"
    return f"{check.expectation}{where}: observed {check.observed!r}, wanted {check.kwargs}"


def failure_message(outcomes: list[Outcome], report_uris: Mapping[str, str]) -> str:
    lines = []
    for outcome in outcomes:
        if outcome.passed:
            continue
        failed = outcome.failed_at("critical")
        lines.append(
            f"quality gate failed: suite {outcome.suite!r} ({outcome.suite}.json), "
            f"{len(failed)} critical expectation(s) of {len(outcome.checks)} on "
            f"{outcome.rows} rows; report: {report_uris[outcome.suite]}"
        )
        lines += [f"  - {describe(c)}" for c in failed]
    return "\n".join(lines)


def suite_named(partition: str, stages: tuple[Stage, ...] = PIPELINE) -> Suite:
    for stage in stages:
        for suite in stage.suites:
            if suite.partition == partition:
                return suite
    raise KeyError(f"no gate validates {partition!r}")


def parameters(
    store: ArtefactStore, suite: Suite, specialty: str, run_id: str
) -> dict[str, list[Any]]:
    values: dict[str, list[Any]] = {}
    for name, ref in suite.references.items():
        partition = Partition(ref.partition, specialty, run_id)
        if not store.is_committed(partition):
            values[name] = []
            continue
        column = store.read(partition).column(ref.column)
        values[name] = sorted(set(column.to_pylist()))
    return values


def check_suite(
    store: ArtefactStore, suite: Suite | str, specialty: str, run_id: str, docs_dir: Path
) -> Outcome:
    """Validate one committed partition with its suite; Data Docs into ``docs_dir``."""
    suite = suite_named(suite) if isinstance(suite, str) else suite
    partition = Partition(suite.partition, specialty, run_id)
    table = store.read(partition)
    rejected = store.read_rejected(partition).num_rows
    derive = resolve(suite.derive) if suite.derive else None
    frame = gate_frame(table, derive, rejected=rejected)
    return validate(
        suite.partition,
        frame,
        parameters(store, suite, specialty, run_id),
        run_name=re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{specialty}_{run_id}"),
        docs_dir=docs_dir,
        suites_dir=suite.directory,
    )


def run_gate(
    settings: KisaSettings,
    *,
    stage: Stage | str,
    specialty: str,
    run_id: str,
    dag_id: str,
    mlflow_run_id: str | None = None,
) -> dict[str, Any]:
    """The gate after ``stage``: validate, publish the evidence, then pass or fail."""
    stage = stage_named(stage) if isinstance(stage, str) else stage
    register_declared(stage.writes)
    store = ArtefactStore.from_settings(settings)
    outcomes: list[Outcome] = []
    reports: dict[str, str] = {}
    for suite in stage.suites:
        prefix = f"{quality_prefix(dag_id, run_id)}/{suite.partition}"
        with tempfile.TemporaryDirectory(prefix=f"kisa-gx-{suite.partition}-") as tmp:
            docs = Path(tmp) / "docs"
            outcome = check_suite(store, suite, specialty, run_id, docs)
            summary = {
                **outcome.summary(),
                "stage": stage.name,
                "dag_id": dag_id,
                "run_id": run_id,
                "specialty": specialty,
                "validated_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "docs_prefix": f"{prefix}/docs",
            }
            # Tutorial GIFs (3.4 MB) no page of ours links to.
            shutil.rmtree(docs / "static" / "images", ignore_errors=True)
            summary["docs_files"] = docs_listing(docs)
            store.replace_dir(docs, f"{prefix}/docs")
            store.put_json(f"{prefix}/summary.json", summary)
            if mlflow_run_id:
                _track(settings, mlflow_run_id, outcome, summary, docs)
        reports[outcome.suite] = store.uri(f"{prefix}/docs/{outcome.docs_page or 'index.html'}")
        outcomes.append(outcome)
        name = outcome.suite
        log.info(
            "gate %s: %s, %d checks on %d rows, %d critical and %d warning failed; report %s",
            name, "passed" if outcome.passed else "FAILED", len(outcome.checks), outcome.rows,
            len(outcome.failed_at("critical")), len(outcome.failed_at("warning")), reports[name],
        )  # fmt: skip
        for check in outcome.failed_at("warning"):
            log.warning("gate %s warning: %s", outcome.suite, describe(check))
    if not all(o.passed for o in outcomes):
        raise QualityGateError(failure_message(outcomes, reports))
    return {
        "suites": {o.suite: o.summary() | {"report": reports[o.suite]} for o in outcomes},
        "counts": {
            f"{o.suite}.{key}": o.summary()[key]
            for o in outcomes
            for key in ("evaluated", "failed_critical", "failed_warning")
        },
    }


def _track(
    settings: KisaSettings,
    mlflow_run_id: str,
    outcome: Outcome,
    summary: dict[str, Any],
    docs: Path,
) -> None:
    """Metrics under stable names and the evidence as artifacts of the DAG run's MLflow run."""
    from mlflow.tracking import MlflowClient

    from kisa_tasks.tracking import log_stage_metrics

    log_stage_metrics(
        settings,
        mlflow_run_id,
        f"gate.{outcome.suite}",
        {
            "passed": int(outcome.passed),
            "evaluated": len(outcome.checks),
            "failed_critical": len(outcome.failed_at("critical")),
            "failed_warning": len(outcome.failed_at("warning")),
        },
    )
    client = MlflowClient(tracking_uri=settings.mlflow_uri())
    client.log_dict(mlflow_run_id, summary, f"quality/{outcome.suite}/summary.json")
    client.log_artifacts(mlflow_run_id, str(docs), f"quality/{outcome.suite}/docs")
