"""The ``llm`` triple extractor: the configured model reads an abstract with
the entities already found in it (as the paper does, so names stay those of
the graph) and lists typed relations between them, each with the verbatim
words of the abstract that state it.

Nothing the model writes is trusted: every triple is refused, with its
reason counted, unless all of these hold:

- both ends are entities of that abstract (by normalised name), and two;
- ``evidence`` is a verbatim piece of one sentence of the abstract (spaces
  aside), and that piece mentions both ends;
- the relation's own words (``relation``) are in the evidence, and so is a
  word of its type (``rules.RELATION_CUES``: "associated with" is not
  ``causes``);
- the sentence passes the checks the ``rules`` patterns make (shared with
  the offline extractor): the relation's signature, usable mentions (no
  unlinked short form), no negation or hedge in the clause ("did not
  reduce" is not ``decreases``), and the direction where a pattern reads
  the pair the other way round.

A failed request is a failure of that PMID with its reason, never an empty
success.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kisa_tasks.extract.canonical import normalise
from kisa_tasks.extract.sentences import sentence_spans
from kisa_tasks.llm.batch import LLMRequest, run_all, usage_counts
from kisa_tasks.llm.client import LLMClient, Sampling
from kisa_tasks.triples.evidence import EvidenceRecord, Extracted
from kisa_tasks.triples.rules import (
    RELATION_CUES,
    RELATION_TYPES,
    EntitySpan,
    TripleEvidence,
    claim_problem,
)
from kisa_tasks.vocabulary import TEXT_FIELDS

EXTRACTOR = "llm"
PROMPT_VERSION = "triples-v2"
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
                # The evidence first: the model quotes before it concludes.
                "properties": {
                    "evidence": {"type": "string", "minLength": 1, "maxLength": 400},
                    "head": {"type": "string", "minLength": 1, "maxLength": 80},
                    "relation": {"type": "string", "minLength": 1, "maxLength": 40},
                    "relation_type": {"type": "string", "enum": list(RELATION_TYPES)},
                    "tail": {"type": "string", "minLength": 1, "maxLength": 80},
                },
                "required": ["evidence", "head", "relation", "relation_type", "tail"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["triples"],
    "additionalProperties": False,
}
# What each type means, in the direction head -> tail.
DEFINITIONS: dict[str, str] = {
    "treats": "a drug, chemical or procedure (head) is given for a disease (tail) and helps it",
    "prevents": "a drug, chemical or procedure (head) keeps a disease (tail) from occurring",
    "causes": "a substance, organism or disease (head) brings about a disease (tail)",
    "inhibits": "a substance (head) blocks the activity of another substance (tail)",
    "increases": "a substance (head) raises the amount or activity of another (tail)",
    "decreases": "a substance (head) lowers the amount or activity of another (tail)",
    "diagnoses": "a test, marker or procedure (head) detects a disease (tail)",
    "associated_with": "two substances or diseases occur together, with no direction stated",
    "risk_factor_for": "a substance or disease (head) makes a disease (tail) more likely",
    "complication_of": "a disease (head) arises from another disease or a procedure (tail)",
    "interacts_with": "two substances act on each other",
}
_DEFINED = "\n".join(f"- {name}: {text}" for name, text in DEFINITIONS.items())
SYSTEM_PROMPT = f"""\
You extract facts for a biomedical knowledge graph ({PROMPT_VERSION}).
The user gives a PubMed abstract and the numbered list of entities found in it.
List the relations the text states as findings between two of those entities, as
head -relation-> tail, using the entity names exactly as listed.

For each relation write, in this order:
- evidence: the words of ONE sentence of the abstract that state it, copied
  exactly, naming both entities;
- head and tail: the entity names as listed, in the direction the type defines;
- relation: the few words of the evidence that state the relation;
- relation_type: one of these, read head -> tail:
{_DEFINED}

Never list:
- negated findings: "Digoxin did not reduce mortality" states no relation;
- hedges, hypotheses and aims: "X may cause Y", "we asked whether X treats Y",
  "to determine if X prevents Y" state no relation;
- comparator arms and background: "X was compared with placebo";
- co-occurrence in one sentence without a stated relation, or outside knowledge.

Example. Text: "Metformin reduced HbA1c in type 2 diabetes. Aspirin did not
prevent stroke." Answer: {{"triples": [{{"evidence": "Metformin reduced HbA1c
in type 2 diabetes", "head": "Metformin", "relation": "reduced",
"relation_type": "decreases", "tail": "HbA1c"}}]}} (the aspirin sentence is
negated, so it gives nothing).
Answer with one JSON object."""
SAMPLING = Sampling(temperature=0.0, max_tokens=1024, seed=0)
_WORD = re.compile(r"[a-z0-9]+")


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


def _collapsed(text: str) -> tuple[str, list[int]]:
    """``text`` with runs of spaces made one, and each kept character's offset."""
    out: list[str] = []
    offsets: list[int] = []
    for i, ch in enumerate(text):
        if ch.isspace():
            if out and out[-1] == " ":
                continue
            ch = " "
        out.append(ch)
        offsets.append(i)
    return "".join(out), offsets


def _evidence_place(record: EvidenceRecord, evidence: str) -> tuple[str, int, int, int] | None:
    """(field, sentence start, evidence start, evidence end) of the sentence
    that holds ``evidence`` verbatim (spaces aside), or None."""
    wanted = " ".join(evidence.split())
    if not wanted:
        return None
    for name in TEXT_FIELDS:
        text = record.texts.get(name, "")
        for start, end in sentence_spans(text):
            collapsed, offsets = _collapsed(text[start:end])
            at = collapsed.find(wanted)
            if at >= 0:
                first = start + offsets[at]
                last = start + offsets[at + len(wanted) - 1] + 1
                return name, start, first, last
    return None


def relation_words_missing(relation: str, relation_type: str, evidence: str) -> str | None:
    """Why the evidence does not carry the relation, or None: every word of
    ``relation`` must be in it, and a word of the type's cue.

    >>> relation_words_missing("reduced", "decreases", "X reduced Y") is None
    True
    >>> relation_words_missing("causes", "causes", "X was associated with Y")
    "relation_not_in_evidence: 'causes' is not in the evidence"
    >>> relation_words_missing("associated with", "causes", "X was associated with Y")
    'type_not_in_evidence: no word of causes in the evidence'
    """
    said = set(_WORD.findall(evidence.lower()))
    if not set(_WORD.findall(relation.lower())) <= said:
        return f"relation_not_in_evidence: {relation!r} is not in the evidence"
    if RELATION_CUES[relation_type].search(evidence) is None:
        return f"type_not_in_evidence: no word of {relation_type} in the evidence"
    return None


def check_triple(
    record: EvidenceRecord, item: Mapping[str, Any], head: EntitySpan, tail: EntitySpan
) -> tuple[str, str | None]:
    """(the evidence sentence, why the triple is refused or None)."""
    relation_type = item["relation_type"]
    place = _evidence_place(record, str(item["evidence"]))
    if place is None:
        return "", "evidence_not_in_abstract"
    name, sentence_start, first, last = place
    text = record.texts[name]
    sentence_end = next(e for s, e in sentence_spans(text) if s == sentence_start)
    sentence = text[sentence_start:sentence_end]
    missing = relation_words_missing(str(item["relation"]), relation_type, text[first:last])
    if missing:
        return sentence, missing.split(":")[0]
    inside = [s for s in record.spans.get(name, []) if s.start >= first and s.end <= last]
    heads = [s for s in inside if s.entity_id == head.entity_id]
    tails = [s for s in inside if s.entity_id == tail.entity_id]
    if not heads or not tails:
        return sentence, "ends_not_in_evidence"
    problems = [
        claim_problem(text, sentence_start, h, relation_type, t) for h in heads for t in tails
    ]
    if None in problems:
        return sentence, None
    # The shared checks name the problem (signature, not_asserted, ...).
    return sentence, str(problems[0]).split(":")[0]


def ground_triples(
    record: EvidenceRecord,
    answer: Mapping[str, Any],
    entities: Sequence[EntitySpan],
    provenance: str | None = None,
) -> tuple[list[TripleEvidence], Counter[str]]:
    """Grounded evidence from one answer, and the refused triples by reason."""
    by_name: dict[str, EntitySpan] = {}
    for e in entities:
        by_name.setdefault(normalise(e.name), e)
    out: list[TripleEvidence] = []
    seen: set[tuple[str, str, str]] = set()
    refused: Counter[str] = Counter()
    for item in answer.get("triples", []):
        head = by_name.get(normalise(item["head"]))
        tail = by_name.get(normalise(item["tail"]))
        if head is None or tail is None:
            refused["unknown_entity"] += 1
            continue
        if head.entity_id == tail.entity_id:
            refused["self_relation"] += 1
            continue
        sentence, problem = check_triple(record, item, head, tail)
        key = (head.entity_id, item["relation_type"], tail.entity_id)
        if problem is None and key in seen:
            problem = "duplicate"
        if problem is not None:
            refused[problem] += 1
            continue
        seen.add(key)
        out.append(
            TripleEvidence(
                head.entity_id,
                " ".join(str(item["relation"]).lower().split()),
                item["relation_type"],
                tail.entity_id,
                record.pmid,
                sentence,
                "llm",
                provenance,
            )
        )
    return out, refused


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
            triples, refused = ground_triples(
                record, outcome.data, entities, client.provenance(PROMPT_VERSION)
            )
            result.triples[outcome.key] = tuple(triples)
            self.counts["dropped_triples"] += sum(refused.values())
            self.counts.update({f"refused_{reason}": n for reason, n in refused.items()})
        return result
