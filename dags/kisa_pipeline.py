"""
### KISA pipeline

Turns PubMed abstracts into training data for medical deep-research agents
(MedResearcher-R1's KISA method), one specialty per run.

What runs today (the stages land one by one; nothing here pretends):

1. **resolve_config** validates the trigger form into a `RunConfig`. What a
   logical date selects: a manual run reads the whole corpus; a backfill
   run reads the abstracts published in its month (its data interval), so
   `airflow backfill create --dag-id kisa_pipeline --from-date 1979-01-01
   --to-date 1979-03-01 --dag-run-conf '{"specialty": "neurology"}'` (or
   `kisa backfill`, or the Trigger button's Backfill tab) builds one
   partition per month. The schedule never starts a run on its own.
2. **check_platform** writes and reads a probe object on S3, applies the graph
   schema and queries the graph store, and asks MLflow for its experiments.
   It fails with the component and the setting to fix if any is down.
3. **open_tracking** creates (or, on a retry, finds) the MLflow run of this
   DAG run, tagged with dag_id, run_id, specialty, backend and git sha, and
   writes the run manifest to `s3://BUCKET/runs/kisa_pipeline/run=RUN/manifest.json`.
4. **ingest** streams the PubMed corpus (MEDLINE XML), applies update files
   (newer versions replace, DeleteCitation withdraws), keeps the specialty's
   English abstracts and commits them to
   `s3://BUCKET/abstracts/specialty=S/run=RUN/`, and every usable abstract to
   `abstracts/specialty=all/run=RUN/` (the reference for rarity); malformed,
   empty, non-English and oversized records go to `rejected/abstracts/...`
   with their reason.
   Counts go to the task log and to MLflow as `ingest.*`.
5. **extract** finds entity mentions in those abstracts and commits them to
   `s3://BUCKET/mentions/specialty=S/run=RUN/` (and `specialty=all`); counts
   as `extract.*`. Backend `offline`: the `lexicon` matcher (Aho-Corasick over
   the drug and disease dictionaries plus each record's own MeSH headings and
   chemicals), on Ray Data as a Ray job when `KISA_RAY__ADDRESS` is set.
   Backend `llm`: the configured model lists entities, grounded in the text;
   failed abstracts go to `rejected/mentions/` and are retried by a rerun;
   token usage as `extract.llm_*`.
   Abbreviations defined in an abstract ("heart failure (HF)") bind their
   short form to the long form's entity.
6. **canonicalise** merges identifiers naming the same thing (a drug's DrugBank
   and MeSH ids), equal normalised names and, for names no identifier
   anchors, "new entity or an existing one?" decisions (string similarity, or
   the model with the `llm` backend) into `entities/`.
7. **stats** counts document and mention frequency per entity with DuckDB
   (`sql/duckdb/entity_stats.sql`), in the specialty and over the whole
   corpus, into `entity_stats/`.
8. **seeds** picks entities rare in the whole corpus with at least two
   abstracts of evidence in the specialty (`sql/duckdb/rare_seeds.sql`) and,
   with the offline backend, that start a chain of two trusted relations in
   the corpus (up to `max_seeds`) into `seeds/`.
9. **plan_graphs / graph_shard / graphs** build a knowledge graph per seed
   (seeds in up to 4 shards, mapped tasks, at most 2 at a time; `graphs`
   merges the shards): BM25 search over the corpus
   (index on S3, built once per corpus), triples from the hits (`offline`:
   the `rules` extractor, relation phrases between adjacent entities checked
   for direction, negation, properties and signatures, plus MeSH claims;
   `llm`: the model, given the abstract's entities, under the same checks),
   iterative expansion; the relations at `graph.min_confidence` replace the
   seed's graph in the graph store (batched MERGE); the longest path in Cypher
   (`sql/cypher/seed_longest_path.cypher`, exact in-memory fallback); one
   sub-graph per seed with the run's `sampling_strategy`. Triples go to
   `triples/`, sub-graphs to `subgraphs/`, seeds without evidence to
   `rejected/subgraphs/` with the reason; the hop histogram as `graphs.hops_*`.

10. **qa** writes multi-hop questions over the sub-graphs (`offline`: English
   templates over the path, every path entity described by its relations to
   named neighbours, never by name; `llm`: the model, given the sub-graph),
   `qa_per_seed` per seed. Each passes the validators (at least 2 hops, no
   leak of a path entity or alias, a real answer, length bounds, and a unique
   answer in the seed's graph, checked hop by hop in Cypher) and calibration
   (solvers, the agent's explore rollouts among them; a question some solver
   answers correctly more than half the time is too easy), else it is
   regenerated from another sub-graph of the seed's graph (up to
   `KISA_QA__MAX_REGENERATIONS` times). Near duplicates are dropped. Each item
   gets a question type and a train/test split (per seed). Items go to `qa/`,
   every refused candidate to `rejected/qa/` with its reason, the reference
   JSONL export to `exports/qa/`; counts as `qa.*`.

11. **trajectories** rolls out an agent `KISA_AGENT__ROLLOUTS_PER_ITEM` times
   on every train QA item (test items never), guided by the masked reasoning
   path or exploring from the question alone (7:3), with real tool calls
   (`search`, `medical_search`, `visit`) on the corpus search engine, 5 % of
   which fail during the rollout (`offline`: a scripted researcher that
   searches again; `llm`: the model writing ReAct turns); judged, filtered
   with recorded reasons, and the best passing rollout per item kept, with
   the question alone as its user turn. The item's pass rate is its agent
   difficulty. Kept rollouts go to `trajectories/`, the others to
   `rejected/trajectories/`; counts as `trajectories.*`.

12. **sft_export** turns kept trajectories of train items into SFT examples
   (`sft/`), balanced to the question-type mix (`KISA_SFT__QUESTION_MIX`):
   ReAct messages exactly as the agent saw them with a token-level loss mask
   under the training tokenizer (SmolLM2's, from the bundled GGUF) and the
   OpenAI tool-call form; counts as `sft.*`.

13. **gate_<stage>** after ingest, extract, canonicalise, graphs, qa,
   trajectories and sft_export validates what the stage committed with the
   repo's Great Expectations suites (`kisa_tasks/quality/suites/*.json`:
   schema, nulls, ranges, uniqueness, allowed sets, referential checks,
   distributions), publishes the Data Docs and a JSON summary to
   `s3://BUCKET/quality/dag=kisa_pipeline/run=RUN/<suite>/` and to the MLflow
   run (`gate.<suite>.*`), and fails the DAG run, naming the suite and each
   failed expectation, when a critical expectation fails (warnings are
   recorded, never fatal). The next stage waits for the gate.

14. **close_tracking** (a teardown: it runs even after a failure) ends the
   MLflow run FINISHED, or FAILED with the failed tasks in the `failed_tasks`
   tag.

A passed SFT gate updates the `kisa_sft_dataset` Asset, which schedules
`kisa_train` (SFT then GRPO on Ray), whose model Asset schedules
`kisa_evaluate`.

Endpoints come from the KISA settings: `kisa_*` Airflow connections if defined
(`kisa_s3`, `kisa_neo4j`, `kisa_falkordb`, `kisa_llm`, `kisa_mlflow`), else
`KISA_*` environment variables, else the embedded services' endpoints file.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import dag, get_current_context, task
from kisa_common.assets import SFT_DATASET
from kisa_common.forms import form_params
from kisa_common.stages import close_tracking_after

from kisa_tasks.run_config import RunConfig
from kisa_tasks.timetable import OnDemandMonthly


@dag(
    dag_id="kisa_pipeline",
    doc_md=__doc__,
    # Monthly windows that run only on demand: a trigger reads the whole corpus,
    # a backfill one run per month of publications (kisa_tasks.schedule).
    schedule=OnDemandMonthly(),
    start_date=datetime(1970, 1, 1),
    catchup=False,
    tags=["kisa"],
    max_active_runs=2,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=30)},
    params=form_params(RunConfig),
)
def kisa_pipeline() -> None:
    @task
    def resolve_config() -> dict[str, Any]:
        from kisa_tasks.run_config import RunConfig
        from kisa_tasks.schedule import publication_window

        ctx = get_current_context()
        config = RunConfig.from_params(ctx["params"]).model_dump()
        run = ctx["dag_run"]
        window = publication_window(run.run_type, run.data_interval_start, run.data_interval_end)
        return config | {"publication_window": window}

    @task
    def check_platform() -> list[dict[str, Any]]:
        from kisa_common.settings import task_settings

        from kisa_tasks.platform_check import as_dicts, check_platform

        return as_dicts(check_platform(task_settings()))

    @task
    def open_tracking(config: dict[str, Any], checks: list[dict[str, Any]]) -> dict[str, str]:
        from kisa_common.settings import task_settings

        from kisa_tasks.run_manifest import open_run

        ctx = get_current_context()
        return open_run(
            dag_id=ctx["dag"].dag_id,
            run_id=ctx["run_id"],
            config=config,
            checks=checks,
            settings=task_settings(),
        )

    # Stage tasks take the upstream result only to order themselves after it.
    @task
    def ingest(config: dict[str, Any], tracking: dict[str, str]) -> dict[str, Any]:
        from kisa_common.stages import run_stage

        from kisa_tasks.ingest.stage import run_ingest

        return run_stage(
            "ingest",
            run_ingest,
            config,
            tracking,
            max_abstracts=config["max_abstracts"],
            corpus=config["corpus"],
            window=config["publication_window"],
        )

    @task
    def extract(
        config: dict[str, Any], tracking: dict[str, str], upstream: dict[str, Any]
    ) -> dict[str, Any]:
        from kisa_common.stages import run_stage

        from kisa_tasks.extract.stage import run_extract
        from kisa_tasks.run_config import stage_backend

        backend = stage_backend(config["backend"], "extract")
        return run_stage("extract", run_extract, config, tracking, backend=backend)

    @task
    def canonicalise(
        config: dict[str, Any], tracking: dict[str, str], upstream: dict[str, Any]
    ) -> dict[str, Any]:
        from kisa_common.stages import run_stage

        from kisa_tasks.run_config import stage_backend
        from kisa_tasks.stats.stages import run_canonicalise

        backend = stage_backend(config["backend"], "canonicalise")
        return run_stage("canonicalise", run_canonicalise, config, tracking, backend=backend)

    @task
    def stats(
        config: dict[str, Any], tracking: dict[str, str], upstream: dict[str, Any]
    ) -> dict[str, Any]:
        from kisa_common.stages import run_stage

        from kisa_tasks.stats.stages import run_stats

        return run_stage("stats", run_stats, config, tracking)

    @task
    def seeds(
        config: dict[str, Any], tracking: dict[str, str], upstream: dict[str, Any]
    ) -> dict[str, Any]:
        from kisa_common.stages import run_stage

        from kisa_tasks.run_config import stage_backend
        from kisa_tasks.stats.stages import run_seeds

        # The rules extractor is cheap enough to ask which rare entities any
        # abstract relates; a model is asked in the graphs stage only.
        rules = stage_backend(config["backend"], "graphs") == "rules"
        return run_stage(
            "seeds", run_seeds, config, tracking, max_seeds=config["max_seeds"],
            require_relation=rules,
        )  # fmt: skip

    @task
    def plan_graphs(
        config: dict[str, Any], tracking: dict[str, str], upstream: dict[str, Any]
    ) -> list[dict[str, int]]:
        from kisa_common.stages import run_stage

        from kisa_tasks.subgraphs.stage import prepare_graphs

        plan = run_stage("graphs", prepare_graphs, config, tracking, track=False)
        shards = len(plan["shards"])
        return [{"shard": k, "shards": shards} for k in plan["shards"]]

    # Seeds are sharded across mapped tasks; the cap keeps LLM and graph-store
    # load bounded whatever the number of shards.
    @task(max_active_tis_per_dag=2)
    def graph_shard(
        spec: dict[str, int], config: dict[str, Any], tracking: dict[str, str]
    ) -> dict[str, Any]:
        from kisa_common.stages import run_stage

        from kisa_tasks.run_config import stage_backend
        from kisa_tasks.subgraphs.stage import run_graph_shard

        return run_stage(
            "graphs",
            run_graph_shard,
            config,
            tracking,
            track=False,
            shard=spec["shard"],
            shards=spec["shards"],
            strategy=config["sampling_strategy"],
            rng_seed=config["seed"],
            backend=stage_backend(config["backend"], "graphs"),
        )

    @task
    def graphs(
        config: dict[str, Any], tracking: dict[str, str], shards: list[dict[str, Any]]
    ) -> dict[str, Any]:
        from kisa_common.stages import run_stage

        from kisa_tasks.subgraphs.stage import merge_graphs

        # One slice is one request; iterating asks shard by shard until the
        # one past the end, which Airflow logs as an error ("XCom not found").
        counts = [s["counts"] for s in sorted(shards[:], key=lambda s: s["shard"])]
        return run_stage("graphs", merge_graphs, config, tracking, shard_counts=counts)

    @task
    def qa(
        config: dict[str, Any], tracking: dict[str, str], upstream: dict[str, Any]
    ) -> dict[str, Any]:
        from kisa_common.stages import run_stage

        from kisa_tasks.qa.stage import run_qa
        from kisa_tasks.run_config import stage_backend

        return run_stage(
            "qa",
            run_qa,
            config,
            tracking,
            backend=stage_backend(config["backend"], "qa"),
            qa_per_seed=config["qa_per_seed"],
            rng_seed=config["seed"],
        )

    @task
    def trajectories(
        config: dict[str, Any], tracking: dict[str, str], upstream: dict[str, Any]
    ) -> dict[str, Any]:
        from kisa_common.stages import run_stage

        from kisa_tasks.agent.stage import run_trajectories
        from kisa_tasks.run_config import stage_backend

        return run_stage(
            "trajectories",
            run_trajectories,
            config,
            tracking,
            backend=stage_backend(config["backend"], "trajectories"),
            rng_seed=config["seed"],
        )

    @task
    def sft_export(
        config: dict[str, Any], tracking: dict[str, str], upstream: dict[str, Any]
    ) -> dict[str, Any]:
        from kisa_common.stages import run_stage

        from kisa_tasks.sft.stage import run_sft_export

        return run_stage("sft", run_sft_export, config, tracking, rng_seed=config["seed"])

    # Retried like every task (S3 can blip); a failed expectation fails each try alike.
    @task
    def gate(
        stage: str, config: dict[str, Any], tracking: dict[str, str], upstream: dict[str, Any]
    ) -> dict[str, Any]:
        from kisa_common.assets import event_extra
        from kisa_common.stages import run_gate_task

        result = run_gate_task(stage, config, tracking)
        if stage == "sft":  # a passed SFT dataset is what kisa_train waits for
            ctx = get_current_context()
            extra = event_extra(config["specialty"], ctx["run_id"])
            ctx["outlet_events"][SFT_DATASET].extra = extra
        return result

    def gated(stage: str, result: Any) -> Any:
        """The stage's quality gate; the next stage waits for it."""
        outlets = [SFT_DATASET] if stage == "sft" else []
        return gate.override(task_id=f"gate_{stage}", outlets=outlets)(
            stage, config, tracking, result
        )

    config = resolve_config()
    tracking = open_tracking(config, check_platform())
    ingested = gated("ingest", ingest(config, tracking))
    extracted = gated("extract", extract(config, tracking, ingested))
    canonical = gated("canonicalise", canonicalise(config, tracking, extracted))
    planned = plan_graphs(
        config, tracking, seeds(config, tracking, stats(config, tracking, canonical))
    )
    built = graph_shard.partial(config=config, tracking=tracking).expand(spec=planned)
    graphed = gated("graphs", graphs(config, tracking, built))
    questions = gated("qa", qa(config, tracking, graphed))
    rolled = gated("trajectories", trajectories(config, tracking, questions))
    close_tracking_after(gated("sft", sft_export(config, tracking, rolled)), tracking)


pipeline = kisa_pipeline()
