"""The Assets that chain the DAGs: ``kisa_pipeline`` updates the SFT dataset,
``kisa_train`` (scheduled on it) updates the trained model, ``kisa_evaluate``
(scheduled on that) evaluates it. Each event's ``extra`` names the specialty
and the pipeline run, so the consumer knows which partition to read."""

from __future__ import annotations

from airflow.sdk import Asset

SFT_DATASET = Asset(name="kisa_sft_dataset", uri="s3://kisa/sft/")
TRAINED_MODEL = Asset(name="kisa_trained_model", uri="s3://kisa/models/")


def event_extra(specialty: str, pipeline_run: str, **more: str) -> dict[str, str]:
    return {"specialty": specialty, "pipeline_run": pipeline_run, **more}


def triggering_extra(context: dict) -> dict[str, str]:  # type: ignore[type-arg]
    """The ``extra`` of the latest event that triggered this run, or {}."""
    events = context.get("triggering_asset_events") or {}
    latest: dict[str, str] = {}
    for asset_events in events.values():
        for event in asset_events:
            latest = dict(event.extra or {})
    return latest
