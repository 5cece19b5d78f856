"""Running the extraction stage: committed abstracts -> committed mentions.

Backends: ``lexicon`` (offline, deterministic) and ``llm`` (the configured
OpenAI-compatible endpoint). Lexicon extraction runs on Ray Data when asked
for workers, and as a Ray job on the cluster when ``KISA_RAY__ADDRESS`` names
one; every path commits the same Parquet.

The corpus-wide mentions (``specialty=all``) are the reference for rarity.
With the ``llm`` backend they come from the lexicon matcher extended with
every surface the model found in the specialty, so the model's entities are
counted over the whole corpus without sending the whole corpus to a model.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import pyarrow as pa

from kisa_tasks.artefacts import ArtefactStore, BufferedWriter, Partition, Rejection
from kisa_tasks.extract.lexicon import LexiconEntry, automaton_with
from kisa_tasks.extract.mentions import (
    MENTIONS_SCHEMA,
    count_by_type,
    extract_all,
    llm_extract_table,
    surface_lexicon,
)
from kisa_tasks.fanout import fan_out_ordered
from kisa_tasks.settings import KisaSettings
from kisa_tasks.specialties import WHOLE_CORPUS

log = logging.getLogger(__name__)

EXTRACTION_BACKENDS = ("lexicon", "llm")
ROWS_PER_PART = 250_000


def lexicon_table(
    abstracts: pa.Table,
    *,
    extra: dict[str, LexiconEntry] | None = None,
    ray_workers: int | None = None,
) -> pa.Table:
    """Lexicon mentions in input order, in process or on ``ray_workers`` Ray actors."""
    if ray_workers:
        from kisa_tasks.extract.ray_extract import ray_extract

        return ray_extract(abstracts, ray_workers, extra=extra)
    tables = extract_all(abstracts, auto=automaton_with(extra or {}))
    return pa.concat_tables(tables) if tables else MENTIONS_SCHEMA.empty_table()


def parts(table: pa.Table, rows: int = ROWS_PER_PART) -> list[pa.Table]:
    """Fixed-size parts, so how the rows were computed never shows in the files."""
    return [table.slice(i, rows) for i in range(0, table.num_rows, rows)] or [table]


def run_extract(
    settings: KisaSettings,
    *,
    specialty: str,
    run_id: str,
    backend: str = "lexicon",
    ray_workers: int | None = None,
) -> dict[str, Any]:
    if backend not in EXTRACTION_BACKENDS:
        raise ValueError(
            f"unknown extraction backend {backend!r}; accepted: {', '.join(EXTRACTION_BACKENDS)}"
        )
    if backend == "lexicon" and ray_workers is None and settings.ray.address:
        return run_extract_as_ray_job(settings, specialty=specialty, run_id=run_id)
    store = ArtefactStore.from_settings(settings)
    abstracts = store.read(Partition("abstracts", specialty, run_id))
    counts: dict[str, int] = {"abstracts": abstracts.num_rows}
    rejections: list[Rejection] = []
    extra: dict[str, LexiconEntry] | None = None
    if backend == "llm":
        from kisa_tasks.llm.client import client_from_settings

        result = llm_extract_table(abstracts, client_from_settings(settings))
        mentions, rejections = result.table, result.rejections
        counts |= result.counts
        extra = surface_lexicon([mentions])
    else:
        mentions = lexicon_table(abstracts, ray_workers=ray_workers)
    partition = Partition("mentions", specialty, run_id)
    marker = store.write(partition, parts(mentions), rejections)
    counts |= {"mentions": marker.rows, **count_by_type([mentions])}
    corpus = Partition("abstracts", WHOLE_CORPUS, run_id)
    if specialty != WHOLE_CORPUS and store.is_committed(corpus):
        counts["corpus_mentions"] = extract_corpus(settings, store, corpus, extra)
    log.info("extract %s (%s): %s", specialty, backend, counts)
    return {"uri": store.uri(partition.prefix), "counts": counts}


def corpus_part_mentions(
    settings: KisaSettings,
    corpus: Partition,
    extra: dict[str, LexiconEntry] | None,
    part: str,
) -> pa.Table:
    """Lexicon mentions of one part of the corpus abstracts (a fan-out item)."""
    abstracts = ArtefactStore.from_settings(settings).read_part(corpus, part)
    return lexicon_table(abstracts, extra=extra)


def extract_corpus(
    settings: KisaSettings,
    store: ArtefactStore,
    corpus: Partition,
    extra: dict[str, LexiconEntry] | None,
) -> int:
    """The corpus-wide mentions, a part of the corpus at a time: in worker
    processes here, as Ray tasks in a Ray job; committed in input order, in
    fixed-size parts, so the files are the same either way."""
    work = functools.partial(corpus_part_mentions, settings, corpus, extra)
    with store.open_partition(Partition("mentions", WHOLE_CORPUS, corpus.run)) as writer:
        out = BufferedWriter(writer, ROWS_PER_PART)
        for mentions in fan_out_ordered(work, store.part_names(corpus), what="corpus parts"):
            out.add(mentions)
        out.flush()
    assert writer.marker is not None
    return writer.marker.rows


def run_extract_as_ray_job(
    settings: KisaSettings, *, specialty: str, run_id: str, workers: int = 2
) -> dict[str, Any]:
    """Submit the lexicon stage to the configured Ray cluster and wait for it.

    The job gets the S3 settings in its runtime environment (workers in
    production usually have their own credentials; these are never logged).
    """
    from kisa_tasks.extract.ray_extract import job_entrypoint
    from kisa_tasks.ray_jobs import run_stage_job

    result = run_stage_job(
        settings,
        f"extract {specialty}",
        job_entrypoint(specialty, run_id, workers),
        settings.as_env("s3"),
    )
    result["counts"]["ray_workers"] = workers
    return result
