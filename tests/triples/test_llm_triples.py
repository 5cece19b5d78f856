"""The ``llm`` triple extractor: grounding rules, and the graphs stage against
a real local OpenAI-compatible server that can fail."""

from __future__ import annotations

import json
import re
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

TEXT = "Digoxin treats heart failure. Nausea was frequent."


def _record() -> EvidenceRecord:
    def span(surface: str, entity: str, name: str, type_: str) -> EntitySpan:
        start = TEXT.index(surface)
        return EntitySpan(entity, name, type_, start, start + len(surface))

    spans = [
        span("Digoxin", "drugbank:DB00390", "Digoxin", "drug"),
        span("heart failure", "mesh:D006333", "Heart Failure", "disease"),
        span("Nausea", "mesh:D009325", "Nausea", "disease"),
    ]
    return EvidenceRecord("42", {"title": "", "abstract": TEXT}, {"title": [], "abstract": spans})


def _triple(head: str, relation_type: str, tail: str) -> dict[str, str]:
    return {"head": head, "relation": "treats", "relation_type": relation_type, "tail": tail}


def test_answers_are_grounded_in_the_abstract() -> None:
    record = _record()
    entities = record_entities(record)
    triples, dropped = ground_triples(
        record,
        {
            "triples": [
                _triple("digoxin", "treats", "Heart Failure"),  # names match normalised
                _triple("Digoxin", "treats", "Unicornitis"),  # not an entity of this abstract
                _triple("Digoxin", "causes", "Nausea"),  # different sentences: no evidence
                _triple("Heart Failure", "treats", "Digoxin"),  # a disease treats nothing
                _triple("Digoxin", "treats", "heart failure"),  # a duplicate
            ]
        },
        entities,
    )
    assert [(t.head, t.relation_type, t.tail) for t in triples] == [
        ("drugbank:DB00390", "treats", "mesh:D006333")
    ]
    assert triples[0].sentence == "Digoxin treats heart failure." and triples[0].pmid == "42"
    assert dropped == 4


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
