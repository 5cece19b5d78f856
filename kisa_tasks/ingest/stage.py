"""Running the ingest stage: corpus files -> committed ``abstracts`` partition."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kisa_tasks.artefacts import ArtefactStore, Partition
from kisa_tasks.ingest.abstracts import latest_citations, partition_citations, to_tables
from kisa_tasks.ingest.corpus import corpus_files
from kisa_tasks.ingest.medline import Event, MedlineReader
from kisa_tasks.settings import KisaSettings
from kisa_tasks.specialties import WHOLE_CORPUS

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
    window: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """Commit the specialty's abstracts (up to ``max_abstracts``; with a
    publication ``window``, only those published in it) and, as the reference
    for entity frequencies, every usable abstract of the corpus (partition
    ``specialty=all``, never windowed)."""
    store = ArtefactStore.from_settings(settings)
    files = corpus_files(corpus, cache_dir=settings.home / "corpus-cache", fs=store.fs)
    live, malformed = latest_citations(read_events(files))
    whole = partition_citations(live, malformed, None)
    store.write(
        Partition("abstracts", WHOLE_CORPUS, run_id), list(to_tables(whole.kept)), whole.rejections
    )
    result = partition_citations(live, malformed, specialty, max_abstracts, window)
    partition = Partition("abstracts", specialty, run_id)
    marker = store.write(partition, list(to_tables(result.kept)), result.rejections)
    counts = dict(result.counts) | {"corpus_kept": whole.counts["kept"]}
    log.info("ingest %s: %s", specialty, counts)
    return {
        "uri": store.uri(partition.prefix),
        "rows": marker.rows,
        "rejected": marker.rejected_rows,
        "counts": counts,
        "files": [p.name for p in files],
    }
