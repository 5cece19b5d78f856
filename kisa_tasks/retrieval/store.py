"""Search indexes on S3 with a local cache, built only when the corpus changed.

An index lives at ``s3://BUCKET/indexes/corpus/FINGERPRINT/`` (the fingerprint
of the abstracts it covers) and is published by a ``_COMMITTED.json`` marker
written after its files, so a reader never loads half an index. Locally it is
cached under ``KISA_HOME/index-cache/FINGERPRINT``. The same abstracts
therefore build an index once per platform, whichever run asks first.

``indexes/corpus/LATEST.json`` names the index used last; a new build reuses
its per-document tokens (see ``retrieval.index``), so adding an update file
to the corpus tokenises only the new and changed abstracts. Reuse is checked
document by document (pmid and text digest), so whichever index LATEST names,
the result equals a full build.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from kisa_tasks.artefacts import ArtefactStore, Partition
from kisa_tasks.retrieval.index import PARAMS_FILE, TOKENS_FILE, CorpusIndex, fingerprint

log = logging.getLogger(__name__)

INDEX_PREFIX = "indexes/corpus"
MARKER = "_COMMITTED.json"
LATEST = f"{INDEX_PREFIX}/LATEST.json"


@dataclass(frozen=True)
class LoadedIndex:
    index: CorpusIndex
    origin: str  # "cache", "s3", "built" or "incremental" (tokens reused)
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
        _remember(store, fp)
        return LoadedIndex(CorpusIndex.load(local), "cache", store.uri(key))
    if store.exists(f"{key}/{MARKER}"):
        _install(local, lambda tmp: store.download_dir(key, tmp))
        log.info("search index %s loaded from %s", fp, store.uri(key))
        _remember(store, fp)
        return LoadedIndex(CorpusIndex.load(local), "s3", store.uri(key))
    index = CorpusIndex.build(table, previous_tokens=previous_tokens(store, cache_dir))
    _install(local, index.save)
    store.upload_dir(local, key)
    store.put_json(f"{key}/{MARKER}", {"fingerprint": fp, "documents": index.params.documents})
    _remember(store, fp)
    log.info(
        "search index %s built over %d abstracts (%d tokenised, %d reused from the previous index)",
        fp, index.params.documents, index.params.documents - index.reused, index.reused,
    )  # fmt: skip
    return LoadedIndex(index, "incremental" if index.reused else "built", store.uri(key))


def _remember(store: ArtefactStore, fp: str) -> None:
    """Point LATEST at the index just used: the next corpus is most likely
    this one plus an update, so its tokens are the ones worth reusing."""
    if not store.exists(LATEST) or store.get_json(LATEST).get("fingerprint") != fp:
        store.put_json(LATEST, {"fingerprint": fp})


def previous_tokens(store: ArtefactStore, cache_dir: Path) -> pa.Table | None:
    """The token table of the index built last, from the local cache or S3;
    None when there is none (or it predates token tables)."""
    if not store.exists(LATEST):
        return None
    fp = store.get_json(LATEST)["fingerprint"]
    local = cache_dir / fp / TOKENS_FILE
    if local.is_file():
        return pq.read_table(local)
    key = f"{index_key(fp)}/{TOKENS_FILE}"
    if store.exists(f"{index_key(fp)}/{MARKER}") and store.exists(key):
        return store.read_file(key)
    return None


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
