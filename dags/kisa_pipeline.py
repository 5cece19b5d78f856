"""
### KISA pipeline

Turns PubMed abstracts into training data for medical deep-research agents
(MedResearcher-R1's KISA method), one specialty per run.

The stages, their order, backends and gates are declared once in
``kisa_tasks/pipeline.py`` (``PIPELINE``); this file only builds the DAG
from that list (``kisa_common.pipeline_dag``).

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
4. **abstracts** (ingest) streams the PubMed corpus (MEDLINE XML), applies update files
   (newer versions replace, DeleteCitation withdraws), keeps the specialty's
   English abstracts and commits them to
   `s3://BUCKET/abstracts/specialty=S/run=RUN/`, and every usable abstract to
   `abstracts/specialty=all/run=RUN/` (the reference for rarity); malformed,
   empty, non-English and oversized records go to `rejected/abstracts/...`
   with their reason.
   Counts go to the task log and to MLflow as `abstracts.*`.
5. **mentions** (extraction) finds entity mentions in those abstracts and commits them to
   `s3://BUCKET/mentions/specialty=S/run=RUN/` (and `specialty=all`); counts
   as `mentions.*`. Backend `offline`: the `lexicon` matcher (Aho-Corasick over
   the drug and disease dictionaries plus each record's own MeSH headings and
   chemicals), on Ray Data as a Ray job when `KISA_RAY__ADDRESS` is set.
   Backend `llm`: the configured model lists entities, grounded in the text;
   failed abstracts go to `rejected/mentions/` and are retried by a rerun;
   token usage as `mentions.llm_*`.
   Abbreviations defined in an abstract ("heart failure (HF)") bind their
   short form to the long form's entity.
6. **entities** (canonicalisation) merges identifiers naming the same thing (a drug's DrugBank
   and MeSH ids), equal normalised names and, for names no identifier
   anchors, "new entity or an existing one?" decisions (string similarity, or
   the model with the `llm` backend) into `entities/`.
7. **entity_stats** counts document and mention frequency per entity with DuckDB
   (`sql/duckdb/entity_stats.sql`), in the specialty and over the whole
   corpus, into `entity_stats/`.
8. **seeds** picks entities rare in the whole corpus with at least two
   abstracts of evidence in the specialty (`sql/duckdb/rare_seeds.sql`) and,
   with the offline backend, that start a chain of two trusted relations in
   the corpus (up to `max_seeds`) into `seeds/`.
9. **plan_graphs / graphs_shard / graphs** build a knowledge graph per seed
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

12. **sft** turns kept trajectories of train items into SFT examples
   (`sft/`), balanced to the question-type mix (`KISA_SFT__QUESTION_MIX`):
   ReAct messages exactly as the agent saw them with a token-level loss mask
   under the training tokenizer (SmolLM2's, from the bundled GGUF) and the
   OpenAI tool-call form; counts as `sft.*`.

13. **gate_<stage>** after abstracts, mentions, entities, graphs, qa,
   trajectories and sft validates what the stage committed with the
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

from kisa_common.pipeline_dag import pipeline_dag

from kisa_tasks.pipeline import PIPELINE

pipeline = pipeline_dag("kisa_pipeline", PIPELINE, __doc__ or "")
