"""The paper's "new entity or an existing one?" decision, for names that no
identifier anchors (a model's free-text entities, dictionary drugs without
DrugBank or MeSH ids).

Entities are visited in a fixed order; each unanchored one is compared with
the entities before it. Candidates are found through a character-trigram
index and scored with difflib's ratio on normalised names. Two deciders
answer the same ``MergeQuestion``s:

- ``rules_decisions`` (deterministic fallback): the best candidate when its
  similarity reaches the threshold and the numbers in both names agree
  ("type 1 diabetes" is never "type 2 diabetes");
- ``llm_decisions``: the configured model picks a candidate or "new".

Identifiers always win over strings: two entities anchored to different MeSH
or DrugBank ids are different things however alike their names are
("hyperthyroidism", "hypothyroidism"), so anchored entities are only ever
candidates, never questions.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kisa_tasks.llm.batch import LLMRequest, run_all, usage_counts
from kisa_tasks.llm.client import LLMClient, Sampling

ANCHOR_SCHEMES = frozenset({"mesh", "drugbank"})
CANDIDATE_FLOOR = 0.75  # worth asking about
MERGE_THRESHOLD = 0.9  # the rules backend merges from here
MAX_CANDIDATES = 3
_NUMBER = re.compile(r"\b(?:\d+|i{1,3}|iv|vi{0,3}|ix|x)\b")


def is_anchored(identifiers: Sequence[str]) -> bool:
    return any(i.split(":", 1)[0] in ANCHOR_SCHEMES for i in identifiers)


@dataclass(frozen=True)
class EntityName:
    ident: str  # the group's root identifier
    key: str  # normalised name
    name: str
    kind: str  # name-matching namespace (diseases, substances, ...)
    anchored: bool


@dataclass(frozen=True)
class MergeQuestion:
    ident: str
    name: str
    kind: str
    candidates: tuple[tuple[str, str, float], ...]  # (ident, name, similarity), best first


def similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def numbers_agree(a: str, b: str) -> bool:
    return set(_NUMBER.findall(a)) == set(_NUMBER.findall(b))


def _trigrams(key: str) -> set[str]:
    padded = f"  {key} "
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


def merge_questions(
    entities: Sequence[EntityName],
    floor: float = CANDIDATE_FLOOR,
    max_candidates: int = MAX_CANDIDATES,
) -> list[MergeQuestion]:
    """For each unanchored entity, the earlier entities of its kind it may name."""
    index: dict[tuple[str, str], list[int]] = {}
    questions = []
    for pos, entity in enumerate(entities):
        grams = _trigrams(entity.key)
        if not entity.anchored:
            shared: dict[int, int] = {}
            for gram in grams:
                for other in index.get((entity.kind, gram), ()):
                    shared[other] = shared.get(other, 0) + 1
            scored = []
            for other, n in shared.items():
                # A ratio >= floor needs a good part of the trigrams in common.
                if n < floor * 0.5 * len(grams):
                    continue
                score = similarity(entity.key, entities[other].key)
                if score >= floor:
                    scored.append((entities[other].ident, entities[other].name, round(score, 4)))
            scored.sort(key=lambda c: (-c[2], c[0]))
            if scored:
                questions.append(
                    MergeQuestion(
                        entity.ident, entity.name, entity.kind, tuple(scored[:max_candidates])
                    )
                )
        for gram in grams:
            index.setdefault((entity.kind, gram), []).append(pos)
    return questions


def rules_decisions(
    questions: Sequence[MergeQuestion],
    names: Mapping[str, str],
    threshold: float = MERGE_THRESHOLD,
) -> dict[str, str]:
    """Entity -> the existing entity it is, by similarity and equal numbers."""
    out = {}
    for q in questions:
        for ident, _, score in q.candidates:
            if score >= threshold and numbers_agree(names[q.ident], names[ident]):
                out[q.ident] = ident
                break
    return out


DECISION_PROMPT = """\
You maintain the entity list of a biomedical knowledge graph (merge-v1).
A new name was found in PubMed abstracts. Decide whether it names the same
real-world entity as one of the numbered existing entries (a spelling
variant, typo, plural, synonym or abbreviation of it) or a different entity
(another subtype, stage, dose form, organism, gene or drug). When unsure,
it is a different entity.
Answer with one JSON object: {"match": N} with N the number of the entry it
is the same as, or {"match": 0} if it is a new entity."""


DECISION_SAMPLING = Sampling(temperature=0.0, max_tokens=16, seed=0)


def decision_messages(q: MergeQuestion) -> list[dict[str, str]]:
    lines = [f"New name: {q.name} ({q.kind})", "Existing entries:"]
    lines += [f"{i}. {name}" for i, (_, name, _) in enumerate(q.candidates, start=1)]
    return [
        {"role": "system", "content": DECISION_PROMPT},
        {"role": "user", "content": "\n".join(lines)},
    ]


def decision_schema(q: MergeQuestion) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"match": {"type": "integer", "minimum": 0, "maximum": len(q.candidates)}},
        "required": ["match"],
    }


@dataclass
class LLMDecisions:
    merges: dict[str, str]
    failures: dict[str, str]  # entity -> reason; it stays its own entity this run
    counts: dict[str, int]


def llm_decisions(questions: Sequence[MergeQuestion], client: LLMClient) -> LLMDecisions:
    """The model's decisions. A failed question leaves the entity unmerged
    (nothing is guessed for it) and is asked again on the next run."""
    merges: dict[str, str] = {}
    failures: dict[str, str] = {}
    outcomes = run_all(
        client,
        [LLMRequest(q.ident, decision_messages(q), decision_schema(q)) for q in questions],
        sampling=DECISION_SAMPLING,
        label="canonicalise llm",
    )
    questions_by_id = {q.ident: q for q in questions}
    for outcome in outcomes:
        if not outcome.ok:
            failures[outcome.key] = outcome.error or "unknown failure"
            continue
        choice = int(outcome.data["match"])
        if choice > 0:
            merges[outcome.key] = questions_by_id[outcome.key].candidates[choice - 1][0]
    counts = {"decisions": len(questions), "decisions_failed": len(failures)}
    return LLMDecisions(merges, failures, counts | usage_counts(client))
