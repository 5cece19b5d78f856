"""Running the ingest stage: corpus files -> committed ``abstracts`` partition."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kisa_tasks.artefacts import ArtefactStore, Partition
from kisa_tasks.ingest.abstracts import select_abstracts, to_tables
from kisa_tasks.ingest.corpus import corpus_files
from kisa_tasks.ingest.medline import Event, MedlineReader
from kisa_tasks.settings import KisaSettings

log = logging.getLogger(__name__)


def read_events(files: list[Path]) -> Iterator[Event]:
    for i, path in enumerate(files, start=1):
        log.info("reading %s (%d/%d)", path.name, i, len(files))
        yield from MedlineReader(path)


def run_ingest(
    settings: KisaSettings,
    *,
    specialty: str,
    run_id: str,
    max_abstracts: int | None,
    corpus: str = "embedded",
) -> dict[str, Any]:
    store = ArtefactStore.from_settings(settings)
    files = corpus_files(corpus, cache_dir=settings.home / "corpus-cache", fs=store.fs)
    result = select_abstracts(read_events(files), specialty, max_abstracts)
    partition = Partition("abstracts", specialty, run_id)
    marker = store.write(partition, list(to_tables(result.kept)), result.rejections)
    counts = dict(result.counts)
    log.info("ingest %s: %s", specialty, counts)
    return {
        "uri": store.uri(partition.prefix),
        "rows": marker.rows,
        "rejected": marker.rejected_rows,
        "counts": counts,
        "files": [p.name for p in files],
    }
