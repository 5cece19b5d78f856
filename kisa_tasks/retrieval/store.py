"""Search indexes on S3 with a local cache, built only when the corpus changed.

An index lives at ``s3://BUCKET/indexes/corpus/FINGERPRINT/`` (the fingerprint
of the abstracts it covers) and is published by a ``_COMMITTED.json`` marker
written after its files, so a reader never loads half an index. Locally it is
cached under ``KISA_HOME/index-cache/FINGERPRINT``. The same abstracts
therefore build an index once per platform, whichever run asks first.

``indexes/corpus/LATEST.json`` names the index used last; a new build starts
from a copy of it (see ``retrieval.index``), so adding an update file to the
corpus indexes only the new and changed abstracts. What changed is decided
document by document (pmid and text digest), so whichever index LATEST names,
the new one holds the same documents as a full build. The corpus is read a
part at a time, twice (digests, then documents), never whole.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import overload

import pyarrow as pa

from kisa_tasks.artefacts import ArtefactStore, Partition
from kisa_tasks.retrieval.index import (
    DIGESTS_FILE,
    INDEXED_COLUMNS,
    PARAMS_FILE,
    CorpusIndex,
    digest_table,
    fingerprint,
)

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


class PartitionParts(Sequence[pa.Table]):
    """A partition's parts as a sequence that reads a part when asked: an
    index build walks the corpus twice without holding it."""

    def __init__(self, store: ArtefactStore, partition: Partition) -> None:
        self.store, self.partition = store, partition
        self.names = store.part_names(partition)

    def __len__(self) -> int:
        return len(self.names)

    @overload
    def __getitem__(self, i: int) -> pa.Table: ...
    @overload
    def __getitem__(self, i: slice) -> list[pa.Table]: ...
    def __getitem__(self, i: int | slice) -> pa.Table | list[pa.Table]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return self.store.read_part(self.partition, self.names[i], INDEXED_COLUMNS)


def ensure_index(store: ArtefactStore, abstracts: Partition, cache_dir: Path) -> LoadedIndex:
    """The search index over a committed abstracts partition."""
    parts = PartitionParts(store, abstracts)
    digests = digest_table(parts)
    fp = fingerprint(digests)
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
    previous = previous_index(store, cache_dir)
    _install(
        local,
        lambda tmp: CorpusIndex.build(parts, tmp, previous=previous, digests=digests),
    )
    index = CorpusIndex.load(local)
    store.upload_dir(local, key)
    store.put_json(f"{key}/{MARKER}", {"fingerprint": fp, "documents": index.params.documents})
    _remember(store, fp)
    reused = index.reused
    log.info(
        "search index %s built over %d abstracts (%d indexed, %d kept from the previous index)",
        fp, index.params.documents, index.params.documents - reused, reused,
    )  # fmt: skip
    return LoadedIndex(index, "incremental" if reused else "built", store.uri(key))


def _remember(store: ArtefactStore, fp: str) -> None:
    """Point LATEST at the index just used: the next corpus is most likely
    this one plus an update, so its documents are the ones worth keeping."""
    if not store.exists(LATEST) or store.get_json(LATEST).get("fingerprint") != fp:
        store.put_json(LATEST, {"fingerprint": fp})


def previous_index(store: ArtefactStore, cache_dir: Path) -> Path | None:
    """The directory of the index used last, from the local cache or S3;
    None when there is none (or it predates digest files)."""
    if not store.exists(LATEST):
        return None
    fp = str(store.get_json(LATEST)["fingerprint"])
    local = cache_dir / fp
    if not (local / DIGESTS_FILE).is_file():
        key = index_key(fp)
        if not (store.exists(f"{key}/{MARKER}") and store.exists(f"{key}/{DIGESTS_FILE}")):
            return None
        _install(local, lambda tmp: store.download_dir(key, tmp))
    return local


def _install(local: Path, fill: Callable[[Path], object]) -> None:
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
