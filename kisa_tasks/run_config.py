"""What one pipeline run was asked to do: the Airflow trigger form, validated.

The DAG's ``Param`` JSON-schema is built from this model, so the form and the
validation cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema

from kisa_tasks.specialties import SPECIALTIES, SPECIALTY_IDS, get_specialty
from kisa_tasks.vocabulary import RunBackend, SamplingStrategy


def _known_specialty(value: str) -> str:
    get_specialty(value)  # a ValueError naming the choices
    return value


# A specialty id, checked against the specialty table and offered by the
# form as its values (no copy of the list here: a new specialty is one row).
SpecialtyId = Annotated[
    str,
    AfterValidator(_known_specialty),
    WithJsonSchema({"type": "string", "enum": list(SPECIALTY_IDS)}),
]


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
    backend: RunBackend = Field(
        default="offline",
        description="offline: deterministic rules on real data; llm: the configured "
        "OpenAI-compatible endpoint.",
    )
    sampling_strategy: SamplingStrategy = Field(
        default="max_chain", description="Sub-graph sampling strategy."
    )
    random_seed: int = Field(
        default=0,
        ge=0,
        le=2**31 - 1,
        description="Random seed of sampling, splits and rollouts (not a seed entity).",
    )
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
    if "seed" in params and "random_seed" in model.model_fields:
        # Runs triggered before the rename called the random seed "seed".
        known.setdefault("random_seed", params["seed"])
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
