"""Quality gates: after a stage commits, validate what it committed.

Each gate reads the stage's partitions (and the partitions its referential
checks point at), validates them with the repo's suites, and leaves the
evidence browsable whatever the verdict:

- ``s3://BUCKET/quality/dag=D/run=R/<suite>/summary.json``: the checks,
  JSON (what the review plugin reads);
- ``.../<suite>/docs/``: the GX Data Docs site (``index.html`` and the
  validation page the summary names);
- the MLflow run of the DAG run: ``gate.<suite>.*`` metrics and both of the
  above as artifacts under ``quality/<suite>/``.

Then it fails (``QualityGateError``, naming the suite and each failed
critical expectation) if a critical expectation failed; warnings are logged
and recorded, never fatal.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# Imported for their schemas: the gates read every stage's partitions.
import kisa_tasks.agent.stage
import kisa_tasks.sft.stage  # noqa: F401
from kisa_tasks.artefacts import ArtefactStore, Partition
from kisa_tasks.quality.frames import gate_frame
from kisa_tasks.quality.validate import Check, Outcome, suite_path, validate
from kisa_tasks.settings import KisaSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reference:
    """A suite parameter: the values of ``column`` in ``stage``'s partition
    of the same run and specialty (an empty set when it is not committed)."""

    stage: str
    column: str


# The suites each stage task's gate runs, in order.
GATES: dict[str, tuple[str, ...]] = {
    "ingest": ("abstracts",),
    "extract": ("mentions",),
    "canonicalise": ("entities",),
    "graphs": ("triples", "subgraphs"),
    "qa": ("qa",),
    "trajectories": ("trajectories",),
    "sft": ("sft",),
}
REFERENCES: dict[str, dict[str, Reference]] = {
    "mentions": {"abstract_pmids": Reference("abstracts", "pmid")},
    "triples": {"seed_ids": Reference("seeds", "canonical_id")},
    "subgraphs": {"seed_ids": Reference("seeds", "canonical_id")},
    "qa": {"subgraph_seeds": Reference("subgraphs", "seed")},
    "trajectories": {"qa_ids": Reference("qa", "qa_id")},
    "sft": {"trajectory_ids": Reference("trajectories", "trajectory_id")},
}


class QualityGateError(RuntimeError):
    """A critical expectation failed; the message names the suite and each failure."""


def quality_prefix(dag_id: str, run_id: str) -> str:
    return f"quality/dag={dag_id}/run={run_id}"


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
            f"quality gate failed: suite {outcome.suite!r} ({suite_path(outcome.suite).name}), "
            f"{len(failed)} critical expectation(s) of {len(outcome.checks)} on "
            f"{outcome.rows} rows; report: {report_uris[outcome.suite]}"
        )
        lines += [f"  - {describe(c)}" for c in failed]
    return "\n".join(lines)


def parameters(
    store: ArtefactStore, suite: str, specialty: str, run_id: str
) -> dict[str, list[Any]]:
    values: dict[str, list[Any]] = {}
    for name, ref in REFERENCES.get(suite, {}).items():
        partition = Partition(ref.stage, specialty, run_id)
        if not store.is_committed(partition):
            values[name] = []
            continue
        column = store.read(partition).column(ref.column)
        values[name] = sorted(set(column.to_pylist()))
    return values


def check_suite(
    store: ArtefactStore, suite: str, specialty: str, run_id: str, docs_dir: Path
) -> Outcome:
    """Validate one committed partition with its suite; Data Docs into ``docs_dir``."""
    partition = Partition(suite, specialty, run_id)
    table = store.read(partition)
    rejected = store.read_rejected(partition).num_rows
    frame = gate_frame(suite, table, rejected=rejected)
    return validate(
        suite,
        frame,
        parameters(store, suite, specialty, run_id),
        run_name=re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{specialty}_{run_id}"),
        docs_dir=docs_dir,
    )


def run_gate(
    settings: KisaSettings,
    *,
    stage: str,
    specialty: str,
    run_id: str,
    dag_id: str,
    mlflow_run_id: str | None = None,
) -> dict[str, Any]:
    """The gate after ``stage``: validate, publish the evidence, then pass or fail."""
    store = ArtefactStore.from_settings(settings)
    outcomes: list[Outcome] = []
    reports: dict[str, str] = {}
    for suite in GATES[stage]:
        prefix = f"{quality_prefix(dag_id, run_id)}/{suite}"
        with tempfile.TemporaryDirectory(prefix=f"kisa-gx-{suite}-") as tmp:
            docs = Path(tmp) / "docs"
            outcome = check_suite(store, suite, specialty, run_id, docs)
            summary = {
                **outcome.summary(),
                "stage": stage,
                "dag_id": dag_id,
                "run_id": run_id,
                "specialty": specialty,
                "validated_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "docs_prefix": f"{prefix}/docs",
            }
            # Tutorial GIFs (3.4 MB) no page of ours links to.
            shutil.rmtree(docs / "static" / "images", ignore_errors=True)
            store.replace_dir(docs, f"{prefix}/docs")
            store.put_json(f"{prefix}/summary.json", summary)
            if mlflow_run_id:
                _track(settings, mlflow_run_id, outcome, summary, docs)
        reports[suite] = store.uri(f"{prefix}/docs/{outcome.docs_page or 'index.html'}")
        outcomes.append(outcome)
        log.info(
            "gate %s: %s, %d checks on %d rows, %d critical and %d warning failed; report %s",
            suite, "passed" if outcome.passed else "FAILED", len(outcome.checks), outcome.rows,
            len(outcome.failed_at("critical")), len(outcome.failed_at("warning")), reports[suite],
        )  # fmt: skip
        for check in outcome.failed_at("warning"):
            log.warning("gate %s warning: %s", suite, describe(check))
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
