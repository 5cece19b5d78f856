"""The ``llm`` extraction backend: an OpenAI-compatible model lists the
entities of an abstract; we ground every answer in the text.

Two pure halves around the shared client (as distilabel splits its tasks):
``extraction_requests`` turns a record into prompts, ``ground_answer`` turns
the model's JSON into mentions with exact spans. A surface the text does not
contain is dropped and counted (a model must not put words into an abstract);
a surface is linked to the record's own MeSH headings and chemicals, then to
the dictionaries, so both backends share entity ids; anything else gets a
deterministic ``name:`` id from its normalised form.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kisa_tasks.extract.canonical import normalise
from kisa_tasks.extract.lexicon import (
    LexiconEntry,
    Mention,
    dictionary_entries,
    leftmost_longest,
    lower_same_length,
    occurrences,
    usable_surface,
)
from kisa_tasks.extract.sentences import sentence_spans
from kisa_tasks.llm.batch import LLMRequest
from kisa_tasks.vocabulary import ENTITY_TYPES

BACKEND = "llm"
PROMPT_VERSION = "extract-v1"
# Small chunks keep prompts inside a small model's context and answers short.
MAX_CHUNK_CHARS = 1500
# The answer's bounds are part of the grammar a constrained decoder follows,
# so an answer always closes within EXTRACT_SAMPLING.max_tokens.
MAX_ENTITIES = 20
ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "entities": {
            "type": "array",
            "maxItems": MAX_ENTITIES,
            "items": {
                "type": "object",
                "properties": {
                    "surface": {"type": "string", "minLength": 2, "maxLength": 60},
                    "type": {"type": "string", "enum": list(ENTITY_TYPES)},
                },
                "required": ["surface", "type"],
            },
        }
    },
    "required": ["entities"],
}
SYSTEM_PROMPT = f"""\
You annotate biomedical text for a knowledge graph ({PROMPT_VERSION}).
List every named medical entity in the text the user gives you:
- disease: diseases, syndromes, disorders, symptoms with a name, pathogens causing disease;
- drug: medicines and therapeutic agents, by generic or brand name;
- chemical: other chemicals, genes, proteins, hormones, biomarkers;
- concept: other specific medical concepts (procedures, anatomy, devices).
Copy each entity exactly as it is written in the text, one entry per distinct
spelling. Do not list generic words (patients, disease, treatment, study), do
not explain, do not add anything the text does not say.
Answer with one JSON object: {{"entities": [{{"surface": "...", "type": "disease"}}]}}"""


@dataclass(frozen=True)
class Chunk:
    """A slice of one field of a record, the unit one prompt covers."""

    pmid: str
    field: str
    offset: int
    text: str

    @property
    def key(self) -> str:
        return f"{self.pmid}/{self.field}/{self.offset}"


def text_chunks(pmid: str, field: str, text: str, max_chars: int = MAX_CHUNK_CHARS) -> list[Chunk]:
    """Sentence-aligned slices of at most ``max_chars`` (a longer sentence is cut
    hard), so a long abstract never overflows a small model's context."""
    chunks: list[Chunk] = []
    start = 0
    cuts = [end for _, end in sentence_spans(text)[:-1]] + [len(text)]
    last_cut = 0
    for cut in cuts:
        if cut - start > max_chars and last_cut > start:
            chunks.append(Chunk(pmid, field, start, text[start:last_cut]))
            start = last_cut
        while cut - start > max_chars:
            chunks.append(Chunk(pmid, field, start, text[start : start + max_chars]))
            start += max_chars
        last_cut = cut
    if start < len(text):
        chunks.append(Chunk(pmid, field, start, text[start:]))
    return [c for c in chunks if c.text.strip()]


def record_chunks(row: Mapping[str, Any]) -> list[Chunk]:
    out = []
    for field in ("title", "abstract"):
        out.extend(text_chunks(row["pmid"], field, row.get(field) or ""))
    return out


def extraction_messages(chunk: Chunk) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": chunk.text},
    ]


def extraction_requests(chunks: Sequence[Chunk]) -> list[LLMRequest]:
    return [LLMRequest(c.key, extraction_messages(c)) for c in chunks]


def _slug(text: str) -> str:
    return normalise(text).replace(" ", "_")


def resolve_entry(
    surface: str, type_: str, record: Mapping[str, LexiconEntry]
) -> LexiconEntry | None:
    """The entity a surface names: the record's own MeSH/chemicals, then the
    dictionaries, else a ``name:`` id; None for generic or unusable words."""
    key = surface.lower()
    if not usable_surface(key) or not _slug(surface):
        return None
    found = record.get(key) or dictionary_entries().get(key)
    if found is not None:
        return found
    return LexiconEntry(f"name:{_slug(surface)}", surface, type_)


@dataclass(frozen=True)
class Grounded:
    mentions: list[Mention]
    unsupported: int  # surfaces the text does not contain
    generic: int  # stoplisted or too short


def ground_answer(
    chunk: Chunk, answer: Mapping[str, Any], record: Mapping[str, LexiconEntry]
) -> Grounded:
    """Mentions with exact spans in the chunk's field for every answered surface
    the text really contains (word-bounded, case-insensitive; leftmost-longest
    where two answers overlap)."""
    lowered = lower_same_length(chunk.text)
    candidates: list[tuple[int, int, LexiconEntry]] = []
    unsupported = generic = 0
    seen: set[str] = set()
    for item in answer.get("entities", []):
        surface = " ".join(str(item["surface"]).split())
        if surface.lower() in seen:
            continue
        seen.add(surface.lower())
        entry = resolve_entry(surface, item["type"], record)
        if entry is None:
            generic += 1
            continue
        spans = occurrences(lowered, lower_same_length(surface))
        if not spans:
            unsupported += 1
            continue
        candidates.extend((s, e, entry) for s, e in spans)
    mentions = [
        Mention(
            chunk.pmid,
            chunk.field,
            chunk.offset + start,
            chunk.offset + end,
            chunk.text[start:end],
            entry.type,
            entry.entity_id,
            entry.name,
            backend=BACKEND,
        )
        for start, end, entry in leftmost_longest(candidates)
    ]
    return Grounded(mentions, unsupported, generic)
