"""Running the extraction stage: committed abstracts -> committed mentions."""

from __future__ import annotations

import logging
from typing import Any

import kisa_tasks.ingest.abstracts  # noqa: F401 - registers the abstracts schema
from kisa_tasks.artefacts import ArtefactStore, Partition
from kisa_tasks.extract.mentions import count_by_type, extract_all
from kisa_tasks.settings import KisaSettings
from kisa_tasks.specialties import WHOLE_CORPUS

log = logging.getLogger(__name__)


def run_extract(
    settings: KisaSettings, *, specialty: str, run_id: str, backend: str = "lexicon"
) -> dict[str, Any]:
    if backend != "lexicon":
        raise NotImplementedError(
            f"extraction backend {backend!r} is not built yet; use 'lexicon' "
            "(the llm backend arrives with the shared LLM client)"
        )
    store = ArtefactStore.from_settings(settings)
    abstracts = store.read(Partition("abstracts", specialty, run_id))
    tables = extract_all(abstracts)
    partition = Partition("mentions", specialty, run_id)
    marker = store.write(partition, tables)
    counts = {"abstracts": abstracts.num_rows, "mentions": marker.rows, **count_by_type(tables)}
    corpus = Partition("abstracts", WHOLE_CORPUS, run_id)
    if specialty != WHOLE_CORPUS and store.is_committed(corpus):
        # The corpus-wide mentions are the reference for rarity.
        corpus_marker = store.write(
            Partition("mentions", WHOLE_CORPUS, run_id), extract_all(store.read(corpus))
        )
        counts["corpus_mentions"] = corpus_marker.rows
    log.info("extract %s: %s", specialty, counts)
    return {"uri": store.uri(partition.prefix), "counts": counts}
