"""Search indexes on S3 with a local cache, built only when the corpus changed.

An index lives at ``s3://BUCKET/indexes/corpus/FINGERPRINT/`` (the fingerprint
of the abstracts it covers) and is published by a ``_COMMITTED.json`` marker
written after its files, so a reader never loads half an index. Locally it is
cached under ``KISA_HOME/index-cache/FINGERPRINT``. The same abstracts
therefore build an index once per platform, whichever run asks first.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kisa_tasks.artefacts import ArtefactStore, Partition
from kisa_tasks.retrieval.index import PARAMS_FILE, CorpusIndex, fingerprint

log = logging.getLogger(__name__)

INDEX_PREFIX = "indexes/corpus"
MARKER = "_COMMITTED.json"


@dataclass(frozen=True)
class LoadedIndex:
    index: CorpusIndex
    origin: str  # "cache", "s3" or "built"
    uri: str


def index_key(fp: str) -> str:
    return f"{INDEX_PREFIX}/{fp}"


def ensure_index(store: ArtefactStore, abstracts: Partition, cache_dir: Path) -> LoadedIndex:
    """The search index over a committed abstracts partition."""
    table = store.read(abstracts).sort_by("pmid")
    fp = fingerprint(table)
    key = index_key(fp)
    local = cache_dir / fp
    if (local / PARAMS_FILE).is_file():
        return LoadedIndex(CorpusIndex.load(local), "cache", store.uri(key))
    if store.exists(f"{key}/{MARKER}"):
        _install(local, lambda tmp: store.download_dir(key, tmp))
        log.info("search index %s loaded from %s", fp, store.uri(key))
        return LoadedIndex(CorpusIndex.load(local), "s3", store.uri(key))
    index = CorpusIndex.build(table)
    _install(local, index.save)
    store.upload_dir(local, key)
    store.put_json(f"{key}/{MARKER}", {"fingerprint": fp, "documents": index.params.documents})
    log.info("search index %s built over %d abstracts", fp, index.params.documents)
    return LoadedIndex(index, "built", store.uri(key))


def _install(local: Path, fill: Callable[[Path], None]) -> None:
    """Fill a temporary directory, then move it into place in one rename."""
    local.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=local.parent, prefix=".tmp-"))
    try:
        fill(tmp)
        if local.exists():  # another process finished first: keep theirs
            shutil.rmtree(tmp)
        else:
            tmp.rename(local)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
