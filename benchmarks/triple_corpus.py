"""Triples of a whole committed corpus, by extractor, for the precision
benchmark (issue 18): the same abstracts, mentions and canonical ids the
pipeline's graphs stage reads, run through today's ``rules`` extractor and
the pre-issue-18 baseline (``baselines.cue_window``).
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from baselines import cue_window


def triple_id(head: str, relation_type: str, tail: str, pmid: str) -> str:
    return hashlib.sha256("|".join((head, relation_type, tail, pmid)).encode()).hexdigest()[:12]


def split_of(pmid: str) -> str:
    """``holdout`` (about a third, never looked at while tuning) or ``dev``."""
    digest = hashlib.sha256(f"triples|{pmid}".encode()).digest()
    return "holdout" if digest[0] < 86 else "dev"


@dataclass
class Corpus:
    run: str
    evidence: Any  # kisa_tasks.triples.evidence.EvidenceCorpus
    specialties: dict[str, list[str]]  # pmid -> specialties

    @property
    def pmids(self) -> list[str]:
        return sorted(self.specialties)


def load_corpus(idmap_specialty: str) -> Corpus:
    """The whole corpus of the latest committed run of ``idmap_specialty``,
    with that specialty's canonical ids."""
    from kisa_tasks.artefacts import ArtefactStore, Partition
    from kisa_tasks.settings import load_settings
    from kisa_tasks.specialties import WHOLE_CORPUS
    from kisa_tasks.triples.evidence import EvidenceCorpus

    store = ArtefactStore.from_settings(load_settings())
    run = store.latest_run("entities", idmap_specialty)
    if run is None:
        raise SystemExit(f"no committed run for {idmap_specialty}: kisa demo --no-train first")
    abstracts = store.read(Partition("abstracts", WHOLE_CORPUS, run))
    mentions = store.read(Partition("mentions", WHOLE_CORPUS, run))
    entities = store.read(Partition("entities", idmap_specialty, run)).to_pylist()
    idmap = {i: e["canonical_id"] for e in entities for i in e["identifiers"]}
    specialties = {
        r["pmid"]: list(r["specialties"] or ())
        for r in abstracts.select(["pmid", "specialties"]).to_pylist()
    }
    return Corpus(run, EvidenceCorpus(abstracts, mentions, idmap), specialties)


def baseline_extractor(record: Any) -> list[Any]:
    out = []
    for name in ("title", "abstract"):
        spans = record.spans.get(name)
        if spans:
            out.extend(
                cue_window.sentence_triples(
                    record.pmid, record.texts[name], spans, record.qualifiers
                )
            )
    return out


def rules_extractor(record: Any) -> list[Any]:
    from kisa_tasks.triples.evidence import rules_triples

    return rules_triples(record)


EXTRACTORS: dict[str, Callable[[Any], list[Any]]] = {
    "rules": rules_extractor,
    cue_window.EXTRACTOR: baseline_extractor,
}


def corpus_rows(corpus: Corpus, extractor: str) -> Iterator[dict[str, Any]]:
    """One row per (head, relation type, tail, pmid) the extractor finds."""
    extract = EXTRACTORS[extractor]
    evidence = corpus.evidence
    for pmid in corpus.pmids:
        record = evidence.record(pmid)
        if record is None:
            continue
        for t in extract(record):
            yield {
                "id": triple_id(t.head, t.relation_type, t.tail, pmid),
                "pmid": pmid,
                "head": t.head,
                "head_name": evidence.name(t.head),
                "relation": t.relation_type,
                "words": t.relation,
                "tail": t.tail,
                "tail_name": evidence.name(t.tail),
                "sentence": t.sentence,
                "support": getattr(t, "support", "sentence"),
                "extractor": extractor,
                "split": split_of(pmid),
                "specialties": corpus.specialties.get(pmid, []),
            }
