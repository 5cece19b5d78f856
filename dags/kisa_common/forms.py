"""Trigger forms from the pydantic models that validate them."""

from __future__ import annotations

from typing import Any

from airflow.sdk import Param
from pydantic import BaseModel

from kisa_tasks.run_config import param_schemas


def form_params(model: type[BaseModel]) -> dict[str, Param]:
    """One ``Param`` per field: default, type, bounds, enum and description."""
    params = {}
    for name, schema in param_schemas(model).items():
        spec = dict(schema)
        params[name] = Param(spec.pop("default"), **spec)
    return params


def resolve_form(
    model: type[BaseModel], latest_stage: str, from_trigger: tuple[str, ...]
) -> dict[str, Any]:
    """This run's validated form plus the pipeline run it works on. An
    asset-triggered run (no conf of its own) takes ``from_trigger`` keys from
    the triggering event; the pipeline run is the form's, else the event's,
    else the specialty's latest committed ``latest_stage`` partition."""
    from airflow.sdk import get_current_context

    from kisa_common.assets import triggering_extra
    from kisa_common.settings import task_settings
    from kisa_tasks.artefacts import ArtefactStore
    from kisa_tasks.run_config import from_params
    from kisa_tasks.training.stage import pick_pipeline_run

    ctx = get_current_context()
    trigger = triggering_extra(ctx)
    params = dict(ctx["params"])
    if trigger and not ctx["dag_run"].conf:
        params |= {k: trigger[k] for k in from_trigger if k in trigger}
    config = from_params(model, params)
    specialty = str(config.specialty)
    store = ArtefactStore.from_settings(task_settings())
    given = str(config.pipeline_run)
    run = pick_pipeline_run(store, latest_stage, specialty, given, trigger)
    return config.model_dump() | {"pipeline_run": run}
