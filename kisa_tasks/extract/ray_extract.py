"""Lexicon extraction scaled out on Ray Data, with output identical to the
single-process path.

Each worker is an actor that builds the Aho-Corasick automaton once (about
4 s of dictionary loading) and then maps batches of abstracts to mentions.
Extraction is per abstract, so batch boundaries cannot change the result;
``preserve_order`` keeps the rows in input order, and the stage writes the
concatenated table in fixed-size parts, so the committed Parquet is byte for
byte the same with 1, 2 or N workers, or none.

On a cluster the whole stage runs as a Ray job (``python -m
kisa_tasks.extract.ray_extract``): the driver then lives on the cluster, next
to its workers, and reads and writes S3 itself.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Mapping

import pyarrow as pa

from kisa_tasks.extract.lexicon import LexiconEntry, automaton_with
from kisa_tasks.extract.mentions import MENTIONS_SCHEMA, extract_table


class LexiconBatchExtractor:
    """A Ray Data callable class: one automaton per worker, reused per batch."""

    def __init__(self, extra: Mapping[str, LexiconEntry] | None = None) -> None:
        self.auto = automaton_with(extra or {})

    def __call__(self, batch: pa.Table) -> pa.Table:
        return extract_table(batch, self.auto)


def ray_extract(
    abstracts: pa.Table,
    workers: int,
    *,
    extra: Mapping[str, LexiconEntry] | None = None,
    rows_per_batch: int = 1000,
) -> pa.Table:
    """Mentions of ``abstracts`` computed by ``workers`` Ray actors (Ray must be
    initialised: in-process ``ray.init`` or a cluster driver)."""
    import ray
    from ray.data import ActorPoolStrategy, DataContext

    if abstracts.num_rows == 0:
        return MENTIONS_SCHEMA.empty_table()
    DataContext.get_current().execution_options.preserve_order = True
    # Blocks cut here, not by ``repartition``: a repartition task would wait
    # for a CPU that the worker actors already hold.
    blocks = [
        abstracts.slice(i, rows_per_batch) for i in range(0, abstracts.num_rows, rows_per_batch)
    ]
    dataset = ray.data.from_arrow(blocks)
    mapped = dataset.map_batches(
        LexiconBatchExtractor,
        fn_constructor_kwargs={"extra": dict(extra or {})},
        batch_format="pyarrow",
        batch_size=rows_per_batch,
        compute=ActorPoolStrategy(size=workers),
        num_cpus=1,
    )
    tables = [t for t in ray.get(mapped.to_arrow_refs()) if t.num_rows]
    if not tables:
        return MENTIONS_SCHEMA.empty_table()
    return pa.concat_tables(tables).cast(MENTIONS_SCHEMA)


def job_entrypoint(specialty: str, run_id: str, workers: int) -> str:
    """The shell command of the Ray job that runs this stage on a cluster."""
    import shlex

    return " ".join(
        shlex.quote(a)
        for a in (
            "python",
            "-m",
            "kisa_tasks.extract.ray_extract",
            "--specialty",
            specialty,
            "--run-id",
            run_id,
            "--workers",
            str(workers),
        )
    )


def main(argv: list[str] | None = None) -> None:
    """Run the lexicon extraction stage as a Ray job driver; prints the stage
    result as JSON on the last line."""
    import ray

    from kisa_tasks.extract.stage import run_extract
    from kisa_tasks.settings import load_settings

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--specialty", required=True)
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    ray.init()  # the cluster this job runs on
    # On the cluster the stage runs here; submitting another job would recurse.
    settings = load_settings(ray={"address": None})
    result = run_extract(
        settings,
        specialty=args.specialty,
        run_id=args.run_id,
        ray_workers=args.workers,
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
