"""The ``llm`` triple extractor: grounding rules, and the graphs stage against
a real local OpenAI-compatible server that can fail."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

from fakes.openai_server import FakeOpenAI

from kisa_tasks.llm.client import LLMClient
from kisa_tasks.triples.evidence import EvidenceRecord
from kisa_tasks.triples.llm_triples import (
    PROMPT_VERSION,
    LLMTripleExtractor,
    ground_triples,
    record_entities,
    triple_messages,
)
from kisa_tasks.triples.rules import EntitySpan

TEXT = (
    "Digoxin treats heart failure. Nausea was frequent. "
    "Digoxin did not prevent nausea. Digoxin may cause arrhythmia."
)


def _record() -> EvidenceRecord:
    def span(surface: str, entity: str, name: str, type_: str, at: int = 0) -> EntitySpan:
        start = TEXT.index(surface, at)
        return EntitySpan(entity, name, type_, start, start + len(surface))

    negated = TEXT.index("Digoxin did not")
    hedged = TEXT.index("Digoxin may")
    spans = [
        span("Digoxin", "drugbank:DB00390", "Digoxin", "drug"),
        span("heart failure", "mesh:D006333", "Heart Failure", "disease"),
        span("Nausea", "mesh:D009325", "Nausea", "disease"),
        span("Digoxin", "drugbank:DB00390", "Digoxin", "drug", negated),
        span("nausea", "mesh:D009325", "Nausea", "disease", negated),
        span("Digoxin", "drugbank:DB00390", "Digoxin", "drug", hedged),
        span("arrhythmia", "mesh:D001145", "Arrhythmias, Cardiac", "disease", hedged),
    ]
    return EvidenceRecord("42", {"title": "", "abstract": TEXT}, {"title": [], "abstract": spans})


def _triple(
    head: str,
    relation_type: str,
    tail: str,
    evidence: str = "Digoxin treats heart failure",
    relation: str = "treats",
) -> dict[str, str]:
    return {
        "evidence": evidence,
        "head": head,
        "relation": relation,
        "relation_type": relation_type,
        "tail": tail,
    }


REFUSED = [
    # (the answer, the reason it is refused)
    (_triple("Digoxin", "treats", "Unicornitis"), "unknown_entity"),
    (_triple("Digoxin", "treats", "Digoxin"), "self_relation"),
    (_triple("Heart Failure", "treats", "Digoxin"), "signature"),  # a disease treats nothing
    (_triple("digoxin", "treats", "heart failure"), "duplicate"),
    (_triple("Digoxin", "treats", "Heart Failure", "Digoxin cures heart failure"),
     "evidence_not_in_abstract"),  # not the abstract's words
    (_triple("Digoxin", "causes", "Nausea", "Nausea was frequent"), "relation_not_in_evidence"),
    (_triple("Digoxin", "causes", "Heart Failure", relation="heart failure"),
     "type_not_in_evidence"),  # the evidence says treats
    (_triple("Digoxin", "treats", "Nausea"), "ends_not_in_evidence"),
    (_triple("Digoxin", "prevents", "Nausea", "Digoxin did not prevent nausea", "prevent"),
     "not_asserted"),  # negated
    (_triple("Digoxin", "causes", "Arrhythmias, Cardiac", "Digoxin may cause arrhythmia",
             "cause"), "not_asserted"),  # hedged
]  # fmt: skip


def test_answers_are_grounded_in_the_abstract() -> None:
    record = _record()
    entities = record_entities(record)
    answer = {"triples": [_triple("digoxin", "treats", "Heart Failure"), *(t for t, _ in REFUSED)]}
    triples, refused = ground_triples(record, answer, entities)
    assert [(t.head, t.relation_type, t.tail) for t in triples] == [
        ("drugbank:DB00390", "treats", "mesh:D006333")
    ]
    assert triples[0].sentence == "Digoxin treats heart failure." and triples[0].pmid == "42"
    assert refused == Counter(reason for _, reason in REFUSED)
    # Spaces are not words: evidence copied across a line break still counts.
    spaced = _triple("Digoxin", "treats", "Heart Failure", "Digoxin  treats\nheart failure")
    assert len(ground_triples(record, {"triples": [spaced]}, entities)[0]) == 1


def test_negated_and_hedged_answers_of_the_server_are_refused(tmp_path: Path) -> None:
    """The scripted server answers with a negated and a hedged triple beside a
    true one: only the true one becomes evidence, the refusals are counted by
    reason, and the request asked for the evidence first."""
    answer = {
        "triples": [
            _triple("Digoxin", "prevents", "Nausea", "Digoxin did not prevent nausea", "prevent"),
            _triple("Digoxin", "causes", "Arrhythmias, Cardiac", "Digoxin may cause arrhythmia",
                    "cause"),
            _triple("Digoxin", "treats", "Heart Failure"),
        ]
    }  # fmt: skip
    with FakeOpenAI() as server:
        server.responder = lambda body: ("answer", json.dumps(answer))
        extractor = LLMTripleExtractor(lambda: LLMClient(base_url=server.base_url, model="fake"))
        result = extractor([_record()])
        [request] = server.requests
    assert [(t.relation_type, t.tail) for t in result.triples["42"]] == [("treats", "mesh:D006333")]
    assert extractor.counts["refused_not_asserted"] == 2
    assert extractor.counts["dropped_triples"] == 2
    schema = request["response_format"]["json_schema"]["schema"]["properties"]["triples"]["items"]
    assert next(iter(schema["properties"])) == "evidence" and "evidence" in schema["required"]


def test_prompt_lists_the_abstracts_entities() -> None:
    record = _record()
    messages = triple_messages(record, record_entities(record))
    assert PROMPT_VERSION in messages[0]["content"]
    assert "1. Digoxin (drug)" in messages[1]["content"] and TEXT in messages[1]["content"]


def test_extractor_batches_records_and_keeps_failures_apart(tmp_path: Path) -> None:
    other = EvidenceRecord(
        "43",
        {"title": "", "abstract": TEXT},
        {"title": [], "abstract": _record().spans["abstract"]},
    )
    lonely = EvidenceRecord(
        "44", {"title": "", "abstract": "Digoxin."}, {"title": [], "abstract": []}
    )

    def answer(body: dict[str, Any]) -> tuple[str, Any]:
        return ("answer", json.dumps({"triples": [_triple("Digoxin", "treats", "Heart Failure")]}))

    with FakeOpenAI() as server:
        calls = iter(range(100))

        def flaky(body: dict[str, Any]) -> tuple[str, Any]:
            # The second request of the batch fails for good.
            return ("status", 500) if next(calls) == 1 else answer(body)

        server.responder = flaky
        extractor = LLMTripleExtractor(
            lambda: LLMClient(base_url=server.base_url, model="fake", max_attempts=1)
        )
        result = extractor([_record(), other, lonely])
    assert len(server.requests) == 2  # the record without entities costs no call
    assert result.triples["44"] == ()
    [(failed_pmid, reason)] = result.failures.items()
    assert re.match(r"llm_failed: .*HTTP 500", reason)
    [ok] = [p for p in ("42", "43") if p != failed_pmid]
    assert [t.relation_type for t in result.triples[ok]] == ["treats"]
    assert extractor.counts["failed_abstracts"] == 1 and extractor.counts["llm_calls"] == 2
