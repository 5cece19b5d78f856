"""The pipeline, declared once: every stage of ``kisa_pipeline`` in order,
with what the platform needs to know about it.

The DAG (``dags/kisa_common/pipeline_dag.py``), the quality gates, the run
manifest's backends, the demo's artefact table and the review UI's report
order are all read from ``PIPELINE``; adding a stage is a module with its
runner plus one ``Stage`` here (``tests/test_pipeline.py`` adds a toy stage
that way).

This module is imported when Airflow parses the DAG file, so it only names
runners (``"package.module:function"``) and imports nothing heavy.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kisa_tasks.vocabulary import BACKENDS

Params = Callable[[Mapping[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Reference:
    """A suite parameter: the values of ``column`` in ``partition`` of the
    same run and specialty (an empty set when it is not committed)."""

    partition: str
    column: str


@dataclass(frozen=True)
class Suite:
    """A Great Expectations suite over one partition the stage commits.
    ``derive`` names a function adding the columns the suite checks across
    columns (``kisa_tasks.quality.frames``); ``directory`` holds
    ``<partition>.json`` (the repo's suites when None)."""

    partition: str
    references: Mapping[str, Reference] = field(default_factory=dict)
    derive: str | None = None
    directory: Path | None = None


@dataclass(frozen=True)
class Shards:
    """A stage fanned out over mapped tasks: ``plan`` returns
    ``{"shards": [0, 1, ...]}``, ``run`` does one shard (given ``shard`` and
    ``shards`` plus the stage's parameters), and the stage's own runner
    merges them (given ``shard_counts``)."""

    plan: str
    run: str
    max_active: int = 2  # keeps LLM and graph-store load bounded whatever the shard count


def no_params(config: Mapping[str, Any]) -> dict[str, Any]:
    return {}


def from_config(**keys: str) -> Params:
    """Runner keyword -> run configuration key."""

    def params(config: Mapping[str, Any]) -> dict[str, Any]:
        return {arg: config[key] for arg, key in keys.items()}

    return params


@dataclass(frozen=True)
class Stage:
    """One pipeline stage.

    - ``name``: its task, its receipt and its metrics' prefix (``name.*``):
      the name of the partition it writes (``graphs`` writes two);
    - ``run``: ``"module:function"``, called as ``run(settings, specialty=,
      run_id=, **params)``, returning ``{"counts": {...}, ...}``;
    - ``writes``: the partitions it commits, in order, each with where its
      Arrow schema is defined (``"module:CONSTANT"``, imported on first use);
    - ``backends``: what the run's backend choice (``offline``/``llm``)
      means for it, passed as ``backend=``;
    - ``params``: its other keyword arguments, from the run configuration;
    - ``suites``: its quality gate (none: the next stage does not wait for one);
    - ``asset``: the Airflow Asset a passed gate updates.
    """

    name: str
    run: str
    writes: Mapping[str, str]
    backends: Mapping[str, str] = field(default_factory=dict)
    params: Params = no_params
    suites: tuple[Suite, ...] = ()
    shards: Shards | None = None
    asset: str | None = None

    def __post_init__(self) -> None:
        if self.backends and set(self.backends) != set(BACKENDS):
            raise ValueError(f"stage {self.name!r} must map every run backend {BACKENDS}")

    def backend(self, run_backend: str) -> str | None:
        """This stage's backend for the run's choice; None where it has none."""
        return self.backends.get(run_backend) if self.backends else None

    def kwargs(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """The runner's keyword arguments for a run configuration."""
        backend = self.backend(config["backend"])
        return self.params(config) | ({"backend": backend} if backend else {})


def resolve(ref: str) -> Any:
    """``"package.module:name"`` -> what it names (a runner, a schema, a value
    set), imported only when needed."""
    module, _, name = ref.partition(":")
    if not module or not name:
        raise ValueError(f"{ref!r} must read 'package.module:name'")
    return getattr(importlib.import_module(module), name)


def _seeds_params(config: Mapping[str, Any]) -> dict[str, Any]:
    # The rules extractor is cheap enough to ask which rare entities any
    # abstract relates; a model is asked in the graphs stage only.
    rules = GRAPHS.backend(config["backend"]) == "rules"
    return {"max_seeds": config["max_seeds"], "require_relation": rules}


# The agent exploring a question, QA's calibration solver 'agent': handed to
# the QA stage here, since the agent package itself reads QA items.
EXPLORER = "kisa_tasks.agent.stage:explore_solver"


def _qa_params(config: Mapping[str, Any]) -> dict[str, Any]:
    return {"qa_per_seed": config["qa_per_seed"], "rng_seed": config["random_seed"],
            "explorer": EXPLORER}  # fmt: skip


def _same_everywhere(backend: str) -> dict[str, str]:
    return {"offline": backend, "llm": "llm"}


SEEDS_REF = Reference("seeds", "canonical_id")

GRAPHS = Stage(
    "graphs",
    "kisa_tasks.subgraphs.stage:merge_graphs",
    writes={
        "triples": "kisa_tasks.subgraphs.stage:TRIPLES_SCHEMA",
        "subgraphs": "kisa_tasks.subgraphs.stage:SUBGRAPHS_SCHEMA",
    },
    backends=_same_everywhere("rules"),
    params=from_config(strategy="sampling_strategy", rng_seed="random_seed"),
    suites=(
        Suite("triples", {"seed_ids": SEEDS_REF}, "kisa_tasks.quality.frames:triples_checks"),
        Suite("subgraphs", {"seed_ids": SEEDS_REF}, "kisa_tasks.quality.frames:subgraph_checks"),
    ),
    shards=Shards(
        "kisa_tasks.subgraphs.stage:prepare_graphs", "kisa_tasks.subgraphs.stage:run_graph_shard"
    ),
)

PIPELINE: tuple[Stage, ...] = (
    Stage(
        "abstracts",
        "kisa_tasks.ingest.stage:run_ingest",
        writes={"abstracts": "kisa_tasks.ingest.abstracts:ABSTRACTS_SCHEMA"},
        params=from_config(
            max_abstracts="max_abstracts", corpus="corpus", window="publication_window"
        ),
        suites=(Suite("abstracts"),),
    ),
    Stage(
        "mentions",
        "kisa_tasks.extract.stage:run_extract",
        writes={"mentions": "kisa_tasks.extract.mentions:MENTIONS_SCHEMA"},
        backends=_same_everywhere("lexicon"),
        suites=(Suite("mentions", {"abstract_pmids": Reference("abstracts", "pmid")}),),
    ),
    Stage(
        "entities",
        "kisa_tasks.stats.stages:run_canonicalise",
        writes={"entities": "kisa_tasks.stats.stages:ENTITIES_SCHEMA"},
        backends=_same_everywhere("rules"),
        suites=(Suite("entities"),),
    ),
    Stage(
        "entity_stats",
        "kisa_tasks.stats.stages:run_stats",
        writes={"entity_stats": "kisa_tasks.stats.stages:STATS_SCHEMA"},
    ),
    Stage(
        "seeds",
        "kisa_tasks.stats.stages:run_seeds",
        writes={"seeds": "kisa_tasks.stats.stages:SEEDS_SCHEMA"},
        params=_seeds_params,
    ),
    GRAPHS,
    Stage(
        "qa",
        "kisa_tasks.qa.stage:run_qa",
        writes={"qa": "kisa_tasks.qa.records:QA_SCHEMA"},
        backends=_same_everywhere("rules"),
        params=_qa_params,
        suites=(Suite("qa", {"subgraph_seeds": Reference("subgraphs", "seed")}),),
    ),
    Stage(
        "trajectories",
        "kisa_tasks.agent.stage:run_trajectories",
        writes={"trajectories": "kisa_tasks.agent.stage:TRAJECTORIES_SCHEMA"},
        backends=_same_everywhere("rules"),
        params=from_config(rng_seed="random_seed"),
        suites=(
            Suite(
                "trajectories",
                {"qa_ids": Reference("qa", "qa_id")},
                "kisa_tasks.quality.frames:accept_rate",
            ),
        ),
    ),
    Stage(
        "sft",
        "kisa_tasks.sft.stage:run_sft_export",
        writes={"sft": "kisa_tasks.sft.stage:SFT_SCHEMA"},
        params=from_config(rng_seed="random_seed"),
        suites=(
            Suite(
                "sft",
                {"trajectory_ids": Reference("trajectories", "trajectory_id")},
                "kisa_tasks.quality.frames:sft_checks",
            ),
        ),
        asset="kisa_sft_dataset",  # what kisa_train waits for
    ),
)


def stage_named(name: str, stages: tuple[Stage, ...] = PIPELINE) -> Stage:
    for stage in stages:
        if stage.name == name:
            return stage
    raise KeyError(f"no stage {name!r}; the pipeline has {[s.name for s in stages]}")


def partitions(stages: tuple[Stage, ...] = PIPELINE) -> list[str]:
    """Every partition the pipeline commits, in pipeline order."""
    return [p for stage in stages for p in stage.writes]


def schema_ref(partition: str, stages: tuple[Stage, ...] = PIPELINE) -> str | None:
    """Where the schema of a partition the pipeline writes is defined."""
    return next((s.writes[partition] for s in stages if partition in s.writes), None)


def gated_suites(stages: tuple[Stage, ...] = PIPELINE) -> list[str]:
    """Every suite a gate runs, in pipeline order."""
    return [s.partition for stage in stages for s in stage.suites]


def stage_backends(run_backend: str, stages: tuple[Stage, ...] = PIPELINE) -> dict[str, str]:
    """Stage -> its backend, for the stages that have one."""
    return {s.name: b for s in stages if (b := s.backend(run_backend)) is not None}
