"""One settings object owns every endpoint the platform talks to.

Precedence, highest first: explicit keyword arguments (the Airflow side passes
values it read from Airflow connections), ``KISA_*`` environment variables,
the endpoints file that ``kisa services up`` writes for the embedded services,
then defaults. The same code therefore runs embedded, under docker-compose or
against managed services; only the settings change.

Nested groups use ``__`` in variable names: ``KISA_S3__ENDPOINT_URL``,
``KISA_GRAPH__BACKEND``, ``KISA_NEO4J__URI`` and so on. docs/operations.md lists them all.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from kisa_tasks.vocabulary import QuestionType

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENDPOINTS_FILE = "endpoints.json"
# Airflow UI roles (SimpleAuthManager): a viewer reads, a user and above may
# also edit DAGs, and deciding on QA items counts as editing kisa_pipeline.
UIRole = Literal["viewer", "user", "op", "admin"]


class S3Settings(BaseModel):
    endpoint_url: str | None = Field(
        default=None, description="S3 endpoint; empty means AWS S3 itself."
    )
    bucket: str = Field(default="kisa", min_length=3)
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None


class GraphSettings(BaseModel):
    backend: Literal["falkordb", "neo4j"] = "falkordb"
    name: str = Field(
        default="kisa",
        description="FalkorDB graph key or Neo4j database the platform writes to.",
    )
    query_timeout_ms: int = Field(default=30_000, gt=0)
    longest_path_timeout_ms: int = Field(
        default=200,
        gt=0,
        description="Budget of the Cypher longest-path query; past it the same exact "
        "search runs in memory over the seed graph's fetched relations.",
    )
    min_confidence: float = Field(
        default=0.8,
        ge=0.0,
        le=1.0,
        description="The graph, so sub-graphs and questions, holds only relations at least "
        "this confident (kisa_tasks/triples/support.py, measured per relation type). At 0.8 "
        "one abstract suffices for a type the rules read well (treats, causes, ...); an "
        "'inhibits', 'increases', 'prevents' or 'complication_of' needs a second abstract or "
        "a MeSH claim.",
    )


class FalkorDBSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int | None = Field(default=None, gt=0, lt=65536)
    password: SecretStr | None = None


class Neo4jSettings(BaseModel):
    uri: str | None = Field(default=None, description="bolt:// or neo4j:// URI")
    user: str = "neo4j"
    password: SecretStr | None = None


class MLflowSettings(BaseModel):
    tracking_uri: str | None = None


class RaySettings(BaseModel):
    address: str | None = Field(
        default=None,
        description="Ray cluster address for job submission (http://host:8265); "
        "empty means an in-process local Ray.",
    )
    auth_token: SecretStr | None = Field(
        default=None, description="Ray token (RAY_AUTH_MODE=token clusters)."
    )


class SolverEndpoint(BaseModel):
    """One more OpenAI-compatible model for difficulty calibration."""

    base_url: str
    model: str
    api_key: SecretStr | None = None


class QASettings(BaseModel):
    solvers: list[Literal["retrieval", "agent", "llm"]] = Field(
        default=["retrieval", "agent"],
        description="Difficulty calibration solvers: 'retrieval' (offline BM25), 'agent' "
        "(explore-mode rollouts of the offline researcher, solver_attempts each) and/or "
        "'llm' (the configured endpoint). An item is too easy when any one solver "
        "answers it right more often than max_solver_accuracy.",
    )
    llm_solvers: list[SolverEndpoint] = Field(
        default=[],
        description='Further solver models, e.g. KISA_QA__LLM_SOLVERS=\'[{"base_url": '
        '"http://host:8000/v1", "model": "qwen"}]\'; each asked solver_attempts times.',
    )
    solver_attempts: int = Field(default=3, ge=1, le=20, description="Tries per LLM solver.")
    solver_max_tokens: int = Field(
        default=1536,
        ge=64,
        le=32_768,
        description="Token budget of one LLM solver answer: its reasoning comes first, so "
        "a budget of a few tokens would underestimate what a model can solve.",
    )
    max_solver_accuracy: float = Field(
        default=0.5, ge=0.0, le=1.0, description="Above this, a question is too easy."
    )
    max_regenerations: int = Field(default=3, ge=0, le=20)
    min_hops: int = Field(default=2, ge=1, le=10)
    max_hops: int = Field(default=6, ge=1, le=10)
    test_share: float = Field(
        default=0.3,
        ge=0.0,
        le=1.0,
        description="Share of seeds whose QA items are the test split (evaluation only, "
        "never trained on); decided per seed when the items are made.",
    )
    split_seed: int = Field(default=0, description="Seed of the train/test draw per seed.")


class AgentSettings(BaseModel):
    protocol: Literal["react", "tool_calls"] = Field(
        default="react",
        description="How llm rollouts talk to the model: ReAct text turns, or the native "
        "OpenAI tool-call protocol (recorded as ReAct either way).",
    )
    concurrency: int = Field(default=16, ge=1, le=256, description="llm rollouts at once.")
    guided_share: float = Field(
        default=0.7, ge=0.0, le=1.0, description="Share of guided (MTG) rollouts."
    )
    rewrite_thoughts: bool = Field(
        default=True,
        description="llm mode: rewrite kept trajectories' thoughts (prompt rewrite-v1).",
    )
    max_trajectory_tokens: int = Field(
        default=32_768,
        ge=1024,
        description="Longest kept trajectory, in training-tokenizer tokens (the context "
        "of the model it trains).",
    )
    rollouts_per_item: int = Field(
        default=4,
        ge=1,
        le=32,
        description="Rollouts per QA item (guided and explore together, by the guided share).",
    )
    tool_failure_rate: float = Field(
        default=0.05,
        ge=0.0,
        le=0.5,
        description="Share of tool calls that return a blank or failed response during a "
        "rollout (seeded), so kept trajectories teach searching again.",
    )


class SFTSettings(BaseModel):
    balance_mix: bool = Field(
        default=True, description="Balance the SFT examples across question types."
    )
    question_mix: dict[QuestionType, float] = Field(
        default={"diagnosis": 0.30, "treatment": 0.25, "guidelines": 0.25, "rare_disease": 0.20},
        description="Target share of each question type (the paper's mix by default), "
        'e.g. KISA_SFT__QUESTION_MIX=\'{"treatment": 0.5, "diagnosis": 0.5}\'.',
    )


class EvaluationSettings(BaseModel):
    benchmarks_dir: Path = Field(
        default=PROJECT_ROOT / "benchmarks" / "data",
        description="The only local folder kisa_evaluate reads benchmark files from (an "
        "s3:// key in the artefact store is the other way).",
    )


class LLMSettings(BaseModel):
    base_url: str | None = Field(
        default=None, description="Any OpenAI-compatible endpoint (vLLM, hosted API)."
    )
    api_key: SecretStr | None = None
    model: str | None = None
    timeout_s: float = Field(default=60.0, gt=0)
    max_concurrency: int = Field(default=4, gt=0)
    qps: float = Field(default=0.0, ge=0, description="Call starts per second; 0 = no limit.")
    max_attempts: int = Field(
        default=5, ge=1, le=20, description="Attempts per call (429, 5xx, timeouts)."
    )
    structured_thinking: Literal["model", "off"] = Field(
        default="model",
        description="'off': every structured call (JSON schema: extraction, QA, judges, "
        "merges) asks the chat template to skip its reasoning block "
        "(chat_template_kwargs.enable_thinking=false, Qwen3 on vLLM); 'model': the "
        "model's default.",
    )


class SourceSettings(BaseModel):
    """Where the agent searches, and the public search APIs' keys (optional:
    they raise the rate limits)."""

    medical_search: Literal["corpus", "pubmed"] = Field(
        default="corpus",
        description="What the agent's medical_search tool searches: the run's corpus index "
        "(reproducible, offline) or PubMed through NCBI E-utilities (3 requests/s, 10 with "
        "KISA_SOURCES__NCBI_API_KEY). `search` and `visit` stay on the run's corpus, so a "
        "PubMed hit outside it is read from its snippet.",
    )
    eutils_url: str = Field(
        default="https://eutils.ncbi.nlm.nih.gov/entrez/eutils",
        description="NCBI E-utilities base URL (a mirror or proxy).",
    )
    ncbi_api_key: SecretStr | None = None
    openfda_api_key: SecretStr | None = None


class AirflowSettings(BaseModel):
    metadata_db: Literal["sqlite", "postgres"] = "sqlite"
    sql_alchemy_conn: SecretStr | None = Field(
        default=None,
        description="Metadata DB URL; filled by `kisa services up` for postgres.",
    )
    api_port: int | None = Field(default=None, gt=0, lt=65536)
    admin_user: str = Field(default="admin", pattern=r"^[A-Za-z0-9_.-]+$")
    admin_password: SecretStr | None = Field(
        default=None,
        description="The admin's UI password. Unset: one is generated per installation, "
        "stored 0600 under the state directory's secrets/ and printed when created.",
    )
    users: dict[str, UIRole] = Field(
        default_factory=dict,
        description="Further UI users, name -> role (viewer, user, op, admin), e.g. "
        'KISA_AIRFLOW__USERS=\'{"ana": "viewer"}\'; each gets a generated password '
        "in the same place. A viewer reads every page; accepting or rejecting QA items "
        "needs user or above.",
    )

    @model_validator(mode="after")
    def _user_names_are_file_names(self) -> AirflowSettings:
        bad = [n for n in self.users if not re.fullmatch(r"[A-Za-z0-9_.-]+", n) or n in (".", "..")]
        if bad:
            raise ValueError(f"KISA_AIRFLOW__USERS: use letters, digits, '_', '.', '-' in {bad}")
        return self


class SettingsError(ValueError):
    """Settings are missing or invalid; the message names the variable to fix."""


class _EndpointsFileSource(PydanticBaseSettingsSource):
    """Endpoints of the embedded services, as written by ``kisa services up``."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        home = Path(self.current_state.get("home") or _env_home() or PROJECT_ROOT / ".kisa")
        path = home / ENDPOINTS_FILE
        if not path.exists():
            return {}
        data: dict[str, Any] = json.loads(path.read_text())
        return data


def _env_home() -> str | None:
    import os

    return os.environ.get("KISA_HOME")


class KisaSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="KISA_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    home: Path = Field(
        default=PROJECT_ROOT / ".kisa",
        description="State of the embedded services: data, logs, PID files.",
    )
    s3: S3Settings = S3Settings()
    graph: GraphSettings = GraphSettings()
    falkordb: FalkorDBSettings = FalkorDBSettings()
    neo4j: Neo4jSettings = Neo4jSettings()
    mlflow: MLflowSettings = MLflowSettings()
    ray: RaySettings = RaySettings()
    llm: LLMSettings = LLMSettings()
    qa: QASettings = QASettings()
    agent: AgentSettings = AgentSettings()
    sft: SFTSettings = SFTSettings()
    evaluation: EvaluationSettings = EvaluationSettings()
    sources: SourceSettings = SourceSettings()
    airflow: AirflowSettings = AirflowSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            _EndpointsFileSource(settings_cls),
        )

    @model_validator(mode="after")
    def _graph_backend_is_reachable(self) -> KisaSettings:
        if self.graph.backend == "neo4j" and not self.neo4j.uri:
            raise ValueError("KISA_GRAPH__BACKEND=neo4j needs KISA_NEO4J__URI (bolt://host:7687)")
        return self

    # Accessors that fail with the variable to set, at the edge where an
    # endpoint is first needed, instead of a connection error deep inside.
    def require(self, value: Any, variable: str, hint: str) -> Any:
        if value in (None, ""):
            raise SettingsError(f"{variable} is not set: {hint}")
        return value

    def s3_endpoint(self) -> str | None:
        return self.s3.endpoint_url

    def mlflow_uri(self) -> str:
        uri: str = self.require(
            self.mlflow.tracking_uri,
            "KISA_MLFLOW__TRACKING_URI",
            "run `kisa services up` or point it at an MLflow server",
        )
        return uri

    def falkordb_port(self) -> int:
        port: int = self.require(
            self.falkordb.port,
            "KISA_FALKORDB__PORT",
            "run `kisa services up` or point it at a FalkorDB server",
        )
        return port

    def as_env(self, *groups: str) -> dict[str, str]:
        """``KISA_GROUP__FIELD`` variables for the set fields of ``groups``, for a
        process this one starts elsewhere (a Ray job's runtime environment).
        Secrets are revealed: hand the result only to that process."""
        env: dict[str, str] = {}
        for group in groups:
            section = getattr(self, group)
            for name in type(section).model_fields:
                value = getattr(section, name)
                if isinstance(value, SecretStr):
                    value = value.get_secret_value()
                if value not in (None, ""):
                    env[f"KISA_{group.upper()}__{name.upper()}"] = str(value)
        return env


def load_settings(**overrides: Any) -> KisaSettings:
    """Build settings, turning pydantic's errors into ones naming the variable."""
    try:
        return KisaSettings(**overrides)
    except ValidationError as exc:
        raise SettingsError(describe_validation_error(exc)) from None


def describe_validation_error(exc: ValidationError) -> str:
    lines = ["invalid KISA settings:"]
    for err in exc.errors():
        loc = [str(part) for part in err["loc"]]
        variable = "KISA_" + "__".join(p.upper() for p in loc) if loc else "KISA_*"
        accepted = ""
        ctx = err.get("ctx") or {}
        if "expected" in ctx:
            accepted = f" (accepted: {ctx['expected']})"
        lines.append(f"  {variable}: {err['msg']}{accepted}")
    return "\n".join(lines)


CONNECTION_IDS = ("kisa_s3", "kisa_neo4j", "kisa_falkordb", "kisa_llm", "kisa_mlflow")


def overrides_from_connections(conns: Mapping[str, Any]) -> dict[str, Any]:
    """Map Airflow connections (duck-typed: host, port, login, password, schema,
    extra_dejson) onto settings overrides. Pure, so it is testable without Airflow.

    Connection ids: ``kisa_s3`` (aws), ``kisa_neo4j`` (neo4j), ``kisa_falkordb``
    (redis-like host/port/password), ``kisa_llm`` (host = base URL, password =
    API key, extra.model), ``kisa_mlflow`` (host = tracking URI).
    """
    out: dict[str, Any] = {}
    if (c := conns.get("kisa_s3")) is not None:
        extra = c.extra_dejson or {}
        out["s3"] = {
            k: v
            for k, v in {
                "endpoint_url": extra.get("endpoint_url"),
                "bucket": extra.get("bucket"),
                "region": extra.get("region_name"),
                "access_key_id": c.login,
                "secret_access_key": c.password,
            }.items()
            if v
        }
    if (c := conns.get("kisa_neo4j")) is not None:
        scheme = (c.extra_dejson or {}).get("scheme", "bolt")
        out["graph"] = {"backend": "neo4j", **({"name": c.schema} if c.schema else {})}
        out["neo4j"] = {
            "uri": f"{scheme}://{c.host}:{c.port or 7687}",
            **({"user": c.login} if c.login else {}),
            **({"password": c.password} if c.password else {}),
        }
    if (c := conns.get("kisa_falkordb")) is not None:
        out["falkordb"] = {
            k: v for k, v in {"host": c.host, "port": c.port, "password": c.password}.items() if v
        }
    if (c := conns.get("kisa_llm")) is not None:
        extra = c.extra_dejson or {}
        out["llm"] = {
            k: v
            for k, v in {
                "base_url": c.host,
                "api_key": c.password,
                "model": extra.get("model"),
            }.items()
            if v
        }
    if (c := conns.get("kisa_mlflow")) is not None and c.host:
        out["mlflow"] = {"tracking_uri": c.host}
    return out
