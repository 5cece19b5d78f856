"""Running the ingest stage: corpus files -> committed ``abstracts`` partitions.

Two steps, neither holding the corpus: each file parsed to staged Parquet on
its own (``ingest.files``, in parallel: processes here, one Ray task per file
when the stage runs as a Ray job on ``KISA_RAY__ADDRESS``), then versions
and deletions resolved over the staged key columns and the partitions
written a PMID range at a time (``ingest.resolve``).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from kisa_tasks.artefacts import ArtefactStore, BufferedWriter, Partition
from kisa_tasks.fanout import fan_out, in_ray_driver
from kisa_tasks.ingest.corpus import corpus_inputs
from kisa_tasks.ingest.files import CorpusFile, stage_file
from kisa_tasks.ingest.medline import Event, MedlineReader
from kisa_tasks.ingest.resolve import (
    CHUNK_ROWS,
    PartitionSelector,
    live_chunks,
    live_citations,
    malformed_rejections,
)
from kisa_tasks.settings import KisaSettings
from kisa_tasks.specialties import WHOLE_CORPUS

log = logging.getLogger(__name__)


def read_events(files: list[Path]) -> Iterator[Event]:
    for i, path in enumerate(files, start=1):
        log.info("reading %s (%d/%d)", path.name, i, len(files))
        yield from MedlineReader(path)


def stage_one(settings: KisaSettings, file: CorpusFile) -> dict[str, int]:
    """One file parsed and staged (a fan-out item: builds its own store)."""
    return stage_file(ArtefactStore.from_settings(settings), file)


def run_ingest(
    settings: KisaSettings,
    *,
    specialty: str,
    run_id: str,
    max_abstracts: int | None,
    corpus: str = "embedded",
    window: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """Commit the specialty's abstracts (up to ``max_abstracts``; with a
    publication ``window``, only those published in it) and, as the reference
    for entity frequencies, every usable abstract of the corpus (partition
    ``specialty=all``, never windowed)."""
    if settings.ray.address and not in_ray_driver():
        from kisa_tasks.ray_jobs import run_stage_function

        return run_stage_function(
            settings,
            f"ingest {specialty}",
            run_ingest,
            {"specialty": specialty, "run_id": run_id, "max_abstracts": max_abstracts,
             "corpus": corpus, "window": list(window) if window else None},
        )  # fmt: skip
    store = ArtefactStore.from_settings(settings)
    files = corpus_inputs(corpus, store.fs)
    staged = fan_out(functools.partial(stage_one, settings), files, what="files staged")
    key_columns = ["pmid_int", "version", "position"]
    live = live_citations(
        [store.read_file(f.key("citations"), columns=key_columns) for f in files],
        [store.read_file(f.key("deletions")) for f in files],
    )
    malformed = malformed_rejections([store.read_file(f.key("malformed")) for f in files])

    def read_range(file: int, lo: int, hi: int) -> pa.Table:
        key = files[file].key("citations")
        return store.read_file(key, filters=[("pmid_int", ">=", lo), ("pmid_int", "<=", hi)])

    whole = PartitionSelector(None)
    mine = PartitionSelector(specialty, max_abstracts, window)
    for selector in (whole, mine):
        selector.counts.update({"citations_live": len(live), "malformed": len(malformed)})
    whole_partition = Partition("abstracts", WHOLE_CORPUS, run_id)
    partition = Partition("abstracts", specialty, run_id)
    with (
        store.open_partition(whole_partition) as whole_writer,
        store.open_partition(partition) as writer,
    ):
        outputs = [
            (whole, BufferedWriter(whole_writer, CHUNK_ROWS)),
            (mine, BufferedWriter(writer, CHUNK_ROWS)),
        ]
        for _, out in outputs:
            out.writer.reject(malformed)
        for done, chunk in enumerate(live_chunks(live, read_range), start=1):
            for selector, out in outputs:
                out.add(*selector.take(chunk))
            log.info("ingest: %d/%d live citations placed", min(done * CHUNK_ROWS, len(live)),
                     len(live))  # fmt: skip
        for _, out in outputs:
            out.flush()
    assert writer.marker is not None
    counts = dict(mine.counts) | {"corpus_kept": whole.counts["kept"]}
    log.info("ingest %s: %s", specialty, counts)
    return {
        "uri": store.uri(partition.prefix),
        "rows": writer.marker.rows,
        "rejected": writer.marker.rejected_rows,
        "counts": counts,
        "files": [f.name for f in files],
        "parsed_records": sum(s["citations"] for s in staged),
    }
