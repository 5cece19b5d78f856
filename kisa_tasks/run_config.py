"""What one pipeline run was asked to do: the Airflow trigger form, validated.

The DAG's ``Param`` JSON-schema is built from this model, so the form and the
validation cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kisa_tasks.specialties import SPECIALTIES, SPECIALTY_IDS

SAMPLING_STRATEGIES = (
    "max_chain",
    "augmented_chain",
    "community_core_path",
    "dual_core_bridge",
    "mixed",
)
# What each stage runs with for either choice is declared with the stage
# (``kisa_tasks.pipeline``).
BACKENDS = ("offline", "llm")


SpecialtyId = Literal[
    "cardiology",
    "oncology",
    "neurology",
    "infectious_diseases",
    "pulmonology",
    "gastroenterology",
    "endocrinology",
    "nephrology_urology",
    "immunology",
    "hematology",
    "dermatology",
    "psychiatry",
]
assert set(SpecialtyId.__args__) == set(SPECIALTY_IDS)  # type: ignore[attr-defined]


class RunConfigError(ValueError):
    pass


class RunConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    specialty: SpecialtyId = Field(
        default="cardiology", description="Specialty (MeSH branch) this run covers."
    )
    max_abstracts: int = Field(
        default=2000, ge=1, le=50_000_000, description="Abstracts read from the corpus."
    )
    max_seeds: int = Field(
        default=40, ge=1, le=100_000, description="Rare seed entities to expand."
    )
    qa_per_seed: int = Field(
        default=2, ge=1, le=50, description="QA items synthesised per seed sub-graph."
    )
    backend: Literal["offline", "llm"] = Field(
        default="offline",
        description="offline: deterministic rules on real data; llm: the configured "
        "OpenAI-compatible endpoint.",
    )
    sampling_strategy: Literal[
        "max_chain", "augmented_chain", "community_core_path", "dual_core_bridge", "mixed"
    ] = Field(default="max_chain", description="Sub-graph sampling strategy.")
    seed: int = Field(default=0, ge=0, le=2**31 - 1, description="Random seed.")
    corpus: str = Field(
        default="embedded",
        min_length=1,
        description="PubMed input: 'embedded' (the two bundled baseline files), a "
        "directory or an s3:// prefix of NLM baseline/update files.",
    )

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> RunConfig:
        return from_params(cls, params)


def from_params[M: BaseModel](model: type[M], params: Mapping[str, Any]) -> M:
    """``model`` from a DAG run's params (unknown keys ignored); a clear error
    naming each bad field."""
    known = {k: v for k, v in params.items() if k in model.model_fields}
    try:
        return model(**known)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise RunConfigError(f"invalid run parameters: {problems}") from None


def param_schemas(model: type[BaseModel] = RunConfig) -> dict[str, dict[str, Any]]:
    """JSON-schema per field of ``model`` (a DAG's form), for
    ``airflow.sdk.Param``: type, bounds, enum, doc."""
    schema = model.model_json_schema()
    out = {}
    for name, prop in schema["properties"].items():
        spec = dict(prop)
        if "const" in spec:  # a one-value Literal
            spec["enum"] = [spec.pop("const")]
        if name == "specialty":  # the trigger form's dropdown shows names, sends ids
            spec["values_display"] = {s.id: s.label for s in SPECIALTIES}
        out[name] = spec
    return out
