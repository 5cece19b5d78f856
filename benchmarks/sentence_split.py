"""Sentence splitters on the labelled boundaries of real abstracts (issue 19:
libraries for what libraries do).

Scores each splitter at the labelled positions (``tests/fixtures/sentences/
labelled.jsonl``, see its LABELLING.md), per split, with false splits (a
sentence cut inside) and missed boundaries (two sentences read as one) apart,
and its throughput on 1,000 abstracts of the 2021 file. Contenders: the
platform's (``kisa_tasks.extract.sentences``, Bling Fire), the regex it
replaced (``benchmarks/baselines/regex_sentences.py``), and pySBD, syntok,
Bling Fire and nupunkt when installed (not project dependencies):

    uv pip install --target /tmp/sbd pysbd syntok nupunkt
    PYTHONPATH=/tmp/sbd .venv/bin/python benchmarks/sentence_split.py
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from baselines.regex_sentences import sentence_spans as regex_spans

from kisa_tasks.extract.sentences import sentence_spans
from kisa_tasks.ingest.corpus import embedded_baseline_files
from kisa_tasks.ingest.medline import Citation, MedlineReader

ROOT = Path(__file__).resolve().parents[1]
LABELLED = ROOT / "tests" / "fixtures" / "sentences" / "labelled.jsonl"
RESULT = ROOT / "benchmarks" / "results" / "sentence_split.md"
Splitter = Callable[[str], Sequence[tuple[int, int]]]


def syntok_spans(text: str) -> list[tuple[int, int]]:
    import syntok.segmenter as segmenter

    spans = []
    for paragraph in segmenter.analyze(text):
        for sentence in paragraph:
            tokens = list(sentence)
            end = tokens[-1].offset + len(tokens[-1].value)
            spans.append((tokens[0].offset, end))
    return spans


def blingfire_spans(text: str) -> list[tuple[int, int]]:
    import blingfire

    return list(blingfire.text_to_sentences_and_offsets(text)[1]) if text.strip() else []


def pysbd_spans(text: str) -> list[tuple[int, int]]:
    import pysbd

    segmenter = pysbd.Segmenter(language="en", clean=False, char_span=True)
    return [(s.start, len(text[: s.end].rstrip())) for s in segmenter.segment(text)]


def nupunkt_spans(text: str) -> list[tuple[int, int]]:
    import nupunkt

    return list(nupunkt.sent_spans(text))


def contenders() -> dict[str, Splitter]:
    found: dict[str, Splitter] = {"platform": sentence_spans, "regex (before)": regex_spans}
    for name, spans in (("pysbd", pysbd_spans), ("syntok", syntok_spans),
                        ("blingfire", blingfire_spans), ("nupunkt", nupunkt_spans)):  # fmt: skip
        try:
            __import__(name)
        except ImportError:
            continue
        found[name] = spans
    return found


def ends(spans: Splitter, text: str) -> set[int]:
    """Where sentences end, trailing closers included, as the labels count them."""
    return {end for _, end in list(spans(text))[:-1]}


def main() -> None:
    rows = [json.loads(line) for line in LABELLED.read_text().splitlines()]
    wanted = {r["pmid"] for r in rows}
    texts: dict[str, str] = {}
    sample: list[str] = []
    for path in embedded_baseline_files():
        for event in MedlineReader(path):
            if isinstance(event, Citation):
                if event.pmid in wanted:
                    texts[event.pmid] = event.abstract
                if "21n" in path.name and len(sample) < 1000 and event.abstract:
                    sample.append(event.abstract)
    lines = [
        "# Sentence splitters on labelled boundaries",
        "",
        f"`{LABELLED.relative_to(ROOT)}` ({len(rows)} labelled positions). Made by "
        "`benchmarks/sentence_split.py`. Accuracy at the labelled positions; dev rows "
        "where the splitters disagree and the fresh holdout are where they differ.",
        "",
        "| splitter | split | n | accuracy | false splits | missed | abstracts/s |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for name, spans in contenders().items():
        clear = getattr(spans, "cache_clear", None)
        if clear:  # time the splitter, not its cache
            clear()
        start = time.perf_counter()
        for text in sample:
            spans(text)
        rate = len(sample) / (time.perf_counter() - start)
        for split in ("dev", "holdout"):
            chosen = [r for r in rows if r["split"] == split and r["sample"] == "disagree"]
            said = [r["pos"] in ends(spans, texts[r["pmid"]]) for r in chosen]
            truth = [r["boundary"] for r in chosen]
            right = sum(s == t for s, t in zip(said, truth, strict=True))
            false = sum(s and not t for s, t in zip(said, truth, strict=True))
            missed = sum(t and not s for s, t in zip(said, truth, strict=True))
            lines.append(
                f"| {name} | {split} (disagreements) | {len(chosen)} | {right / len(chosen):.3f} "
                f"| {false} | {missed} | {rate:,.0f} |"
            )
    RESULT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
