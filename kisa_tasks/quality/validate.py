"""Great Expectations 1.x: the repo's suites, one validation, its Data Docs.

Suites live in ``kisa_tasks/quality/suites/<artefact>.json`` in GX's own
JSON shape (type, kwargs, meta, severity), reviewed like code. They are
loaded strictly: GX's own loader logs and drops an expectation whose type it
does not know, which would silently weaken a gate. Referential checks name
their value set as a ``{"$PARAMETER": ...}`` filled in at validation time.

A suite holds no copy of what the code defines. Two references are expanded
when it is loaded:

- ``{"$VALUES": "package.module:NAME", "plus": [...]}``: a closed value set
  from the code (``kisa_tasks.vocabulary``, the specialty table, the
  relation types), plus what this check also allows;
- ``{"$COLUMNS": "<partition>", "derived": [...]}``: the partition's Arrow
  schema columns, a ``<column>__len`` for each list column
  (``kisa_tasks.quality.frames``), and the columns the stage's ``derive``
  adds.

GX decides ``success`` over every expectation whatever its severity; the gate
decides on the critical ones only (``Outcome.passed``). GX takes 10-20 s to
import on this machine, so it is imported here, inside the functions.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pandas as pd

SUITES_DIR = Path(__file__).parent / "suites"
DOCS_SITE = "kisa"
SEVERITIES = ("critical", "warning", "info")


class SuiteError(ValueError):
    """A suite file GX cannot read, named with what to fix."""


@dataclass(frozen=True)
class Check:
    """One expectation's result, JSON-ready."""

    expectation: str
    column: str | None
    severity: str
    success: bool
    kwargs: dict[str, Any]
    why: str = ""
    observed: Any = None
    unexpected_count: int | None = None
    unexpected_sample: list[Any] = field(default_factory=list)
    error: str | None = None  # the expectation could not be evaluated


@dataclass(frozen=True)
class Outcome:
    suite: str
    rows: int
    checks: tuple[Check, ...]
    docs_page: str | None = None  # the validation page, relative to the docs root

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.success]

    def failed_at(self, severity: str) -> list[Check]:
        return [c for c in self.failed if c.severity == severity]

    @property
    def passed(self) -> bool:
        """Critical expectations decide; warnings are reported, not fatal."""
        return not self.failed_at("critical")

    def summary(self) -> dict[str, Any]:
        return {
            "suite": self.suite,
            "rows": self.rows,
            "passed": self.passed,
            "evaluated": len(self.checks),
            **{f"failed_{s}": len(self.failed_at(s)) for s in SEVERITIES},
            "docs_page": self.docs_page,
            "checks": [asdict(c) for c in self.checks],
        }


def suite_path(name: str, directory: Path = SUITES_DIR) -> Path:
    return directory / f"{name}.json"


def suite_names() -> list[str]:
    return sorted(p.stem for p in SUITES_DIR.glob("*.json"))


def load_suite(name: str, directory: Path = SUITES_DIR) -> Any:
    """The suite as a GX ``ExpectationSuite``; every expectation or a SuiteError."""
    import great_expectations as gx
    from great_expectations.exceptions.exceptions import InvalidExpectationConfigurationError

    path = suite_path(name, directory)
    try:
        document = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise SuiteError(f"suite {name!r} ({path}) cannot be read: {exc}") from exc
    suite = gx.ExpectationSuite(name=document["name"], meta=document.get("meta"))
    for number, expectation in enumerate(document["expectations"], start=1):
        try:
            expanded = {**expectation, "kwargs": expand_references(expectation["kwargs"])}
            suite.expectations.append(suite._process_expectation(expanded))
        except (
            InvalidExpectationConfigurationError,
            ValueError,
            TypeError,
            ImportError,
            AttributeError,
        ) as exc:
            raise SuiteError(
                f"suite {name!r} ({path}), expectation {number} "
                f"({expectation.get('type')!r}): {exc}"
            ) from exc
    return suite


def expand_references(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """An expectation's kwargs with ``$VALUES`` and ``$COLUMNS`` references
    replaced by what they name (``$PARAMETER`` is GX's, left as it is)."""
    from kisa_tasks.artefacts.schemas import schema_for
    from kisa_tasks.pipeline import resolve
    from kisa_tasks.quality.frames import length_columns

    out: dict[str, Any] = {}
    for key, value in kwargs.items():
        if isinstance(value, Mapping) and "$VALUES" in value:
            found = resolve(value["$VALUES"])
            if isinstance(found, str) or not isinstance(found, Iterable):
                raise ValueError(f"{value['$VALUES']!r} is not a collection of values")
            out[key] = [*found, *value.get("plus", ())]
        elif isinstance(value, Mapping) and "$COLUMNS" in value:
            schema = schema_for(value["$COLUMNS"])
            lengths = list(length_columns(schema).values())
            out[key] = [*schema.names, *lengths, *value.get("derived", ())]
        else:
            out[key] = value
    return out


def _context(docs_dir: Path | None) -> Any:
    import great_expectations as gx

    # GX narrates its registry at INFO; task logs keep our lines and its warnings.
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    sites = {}
    if docs_dir is not None:
        sites[DOCS_SITE] = {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(docs_dir.resolve()),
            },
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),  # no tqdm bars in task logs
        data_docs_sites=sites,
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def _check(result: Any) -> Check:
    config = result.expectation_config
    found = result.result or {}
    info = result.exception_info or {}
    # A metric that raised looks like a failure in GX; say it could not be evaluated.
    raised = info.get("raised_exception") if "raised_exception" in info else bool(info)
    message = None
    if raised:
        details = info if "exception_message" in info else next(iter(info.values()), {})
        message = str(details.get("exception_message") or "raised")
    kwargs = {k: v for k, v in config.kwargs.items() if k != "batch_id"}
    return Check(
        expectation=config.type,
        column=kwargs.get("column") or kwargs.get("column_A"),
        severity=config.severity.value,
        success=bool(result.success),
        kwargs=json.loads(json.dumps(kwargs, default=str)),
        why=str((config.meta or {}).get("why", "")),
        observed=json.loads(json.dumps(found.get("observed_value"), default=str)),
        unexpected_count=found.get("unexpected_count"),
        unexpected_sample=json.loads(
            json.dumps((found.get("partial_unexpected_list") or [])[:5], default=str)
        ),
        error=message,
    )


def validate(
    suite_name: str,
    frame: pd.DataFrame,
    parameters: Mapping[str, Any] | None = None,
    *,
    run_name: str,
    docs_dir: Path | None = None,
    suites_dir: Path | None = None,
) -> Outcome:
    """Validate ``frame`` against the named suite (GX checkpoint); with
    ``docs_dir``, build the Data Docs site there."""
    import great_expectations as gx
    from great_expectations.checkpoint.actions import UpdateDataDocsAction, ValidationAction
    from great_expectations.core.run_identifier import RunIdentifier

    context = _context(docs_dir)
    suite = context.suites.add(load_suite(suite_name, suites_dir or SUITES_DIR))
    asset = context.data_sources.add_pandas("kisa").add_dataframe_asset(suite_name)
    batch = asset.add_batch_definition_whole_dataframe("committed partition")
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=suite_name, data=batch, suite=suite)
    )
    actions: list[ValidationAction] = [UpdateDataDocsAction(name="docs")] if docs_dir else []
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name=f"gate {suite_name}",
            validation_definitions=[definition],
            actions=actions,
            result_format={"result_format": "SUMMARY"},
        )
    )
    result = checkpoint.run(
        batch_parameters={"dataframe": frame},
        expectation_parameters=dict(parameters or {}),
        run_id=RunIdentifier(run_name=run_name),
    )
    [(key, validation)] = result.run_results.items()
    checks = sorted((_check(r) for r in validation.results), key=_order)
    page = None
    if docs_dir is not None:
        [site] = context.get_docs_sites_urls(resource_identifier=key, site_name=DOCS_SITE)
        local = Path(unquote(site["site_url"].removeprefix("file://")))
        page = str(local.relative_to(docs_dir.resolve()))
    return Outcome(suite_name, len(frame), tuple(checks), page)


def _order(check: Check) -> tuple[bool, int, str, str]:
    # GX returns results grouped by metric; reviewers read failures first, worst first.
    return (check.success, SEVERITIES.index(check.severity), check.expectation, check.column or "")
