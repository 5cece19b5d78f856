"""The ``llm`` triple extractor: the configured model reads an abstract with
the entities already found in it (as the paper does, so names stay those of
the graph) and lists typed relations between them.

Every answer is grounded before it becomes evidence: both ends must be
entities of that abstract (by normalised name), the relation type must be in
the vocabulary (the schema enforces it), the pair must share a sentence (the
sentence is the evidence) that passes the checks of the ``rules`` patterns:
the relation's signature, usable mentions (no unlinked short form or
compound), no negation or hedge in the clause, and the direction where a
pattern reads the pair the other way round. Anything else is dropped and
counted. A failed request is a failure of that PMID with its reason, never
an empty success.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kisa_tasks.extract.canonical import normalise
from kisa_tasks.extract.sentences import sentence_spans
from kisa_tasks.llm.batch import LLMRequest, run_all, usage_counts
from kisa_tasks.llm.client import LLMClient, Sampling
from kisa_tasks.triples.evidence import EvidenceRecord, Extracted
from kisa_tasks.triples.rules import (
    RELATION_TYPES,
    EntitySpan,
    TripleEvidence,
    claim_problem,
)
from kisa_tasks.vocabulary import TEXT_FIELDS

EXTRACTOR = "llm"
PROMPT_VERSION = "triples-v1"
MAX_TRIPLES = 12
MAX_ENTITIES = 40
ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "triples": {
            "type": "array",
            "maxItems": MAX_TRIPLES,
            "items": {
                "type": "object",
                "properties": {
                    "head": {"type": "string", "minLength": 1, "maxLength": 80},
                    "relation": {"type": "string", "minLength": 1, "maxLength": 40},
                    "relation_type": {"type": "string", "enum": list(RELATION_TYPES)},
                    "tail": {"type": "string", "minLength": 1, "maxLength": 80},
                },
                "required": ["head", "relation", "relation_type", "tail"],
            },
        }
    },
    "required": ["triples"],
}
SYSTEM_PROMPT = f"""\
You extract facts for a biomedical knowledge graph ({PROMPT_VERSION}).
The user gives a PubMed abstract and the numbered list of entities found in it.
List the relations the text states between two of those entities, as
head -relation-> tail, using the entity names exactly as listed. relation is
the few words of the text that state it; relation_type is one of:
{", ".join(RELATION_TYPES)}.
Only relations the text states; no vague co-occurrence, no outside knowledge.
Answer with one JSON object: {{"triples": [{{"head": "...", "relation": "...",
"relation_type": "treats", "tail": "..."}}]}}"""
SAMPLING = Sampling(temperature=0.0, max_tokens=768, seed=0)


def record_entities(record: EvidenceRecord) -> list[EntitySpan]:
    """One span per distinct entity of the record, in text order."""
    first: dict[str, EntitySpan] = {}
    for name in TEXT_FIELDS:
        for span in sorted(record.spans.get(name, []), key=lambda s: s.start):
            first.setdefault(span.entity_id, span)
    return list(first.values())[:MAX_ENTITIES]


def triple_messages(record: EvidenceRecord, entities: Sequence[EntitySpan]) -> list[dict[str, str]]:
    listed = "\n".join(f"{i}. {e.name} ({e.type})" for i, e in enumerate(entities, start=1))
    text = "\n".join(record.texts[name] for name in TEXT_FIELDS if record.texts.get(name))
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": f"Entities:\n{listed}\n\nAbstract:\n{text}"},
    ]


def _checked_sentence(
    record: EvidenceRecord, head: str, relation_type: str, tail: str
) -> str | None:
    """The first sentence that mentions both ends and passes the checks the
    ``rules`` patterns make (signature, usable mentions, asserted, direction)."""
    for name in TEXT_FIELDS:
        text = record.texts.get(name, "")
        spans = record.spans.get(name, [])
        for start, end in sentence_spans(text):
            inside = [s for s in spans if s.start >= start and s.end <= end]
            heads = [s for s in inside if s.entity_id == head]
            tails = [s for s in inside if s.entity_id == tail]
            for h in heads:
                for t in tails:
                    if claim_problem(text, start, h, relation_type, t) is None:
                        return text[start:end]
    return None


def ground_triples(
    record: EvidenceRecord, answer: Mapping[str, Any], entities: Sequence[EntitySpan]
) -> tuple[list[TripleEvidence], int]:
    """Grounded evidence from one answer, and how many answered triples were dropped."""
    by_name: dict[str, EntitySpan] = {}
    for e in entities:
        by_name.setdefault(normalise(e.name), e)
    out: list[TripleEvidence] = []
    seen: set[tuple[str, str, str]] = set()
    dropped = 0
    for item in answer.get("triples", []):
        head = by_name.get(normalise(item["head"]))
        tail = by_name.get(normalise(item["tail"]))
        relation_type = item["relation_type"]
        if head is None or tail is None or head.entity_id == tail.entity_id:
            dropped += 1
            continue
        sentence = _checked_sentence(record, head.entity_id, relation_type, tail.entity_id)
        key = (head.entity_id, relation_type, tail.entity_id)
        if sentence is None or key in seen:
            dropped += 1
            continue
        seen.add(key)
        relation = " ".join(str(item["relation"]).lower().split())
        out.append(
            TripleEvidence(
                head.entity_id,
                relation,
                relation_type,
                tail.entity_id,
                record.pmid,
                sentence,
                "llm",
            )
        )
    return out, dropped


class LLMTripleExtractor:
    """A ``BatchExtractor`` over the shared client; ``counts`` accumulates
    calls, tokens, failures and dropped answers for the stage's metrics."""

    def __init__(self, client_factory: Callable[[], LLMClient]) -> None:
        self.client_factory = client_factory
        self.counts: Counter[str] = Counter()

    def __call__(self, records: Sequence[EvidenceRecord]) -> Extracted:
        result = Extracted({})
        asked: dict[str, tuple[EvidenceRecord, list[EntitySpan]]] = {}
        requests = []
        for record in records:
            entities = record_entities(record)
            if len(entities) < 2:
                result.triples[record.pmid] = ()  # nothing to relate: no call
                continue
            asked[record.pmid] = (record, entities)
            requests.append(LLMRequest(record.pmid, triple_messages(record, entities)))
        if not requests:
            return result
        client = self.client_factory()
        outcomes = run_all(
            client, requests, schema=ANSWER_SCHEMA, sampling=SAMPLING, label="triples llm"
        )
        self.counts.update(usage_counts(client))
        for outcome in outcomes:
            if not outcome.ok:
                result.failures[outcome.key] = f"llm_failed: {outcome.error}"
                self.counts["failed_abstracts"] += 1
                continue
            record, entities = asked[outcome.key]
            triples, dropped = ground_triples(record, outcome.data, entities)
            result.triples[outcome.key] = tuple(triples)
            self.counts["dropped_triples"] += dropped
        return result
