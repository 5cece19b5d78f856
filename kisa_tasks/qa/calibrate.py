"""Difficulty calibration: solvers try each question; a question that they
answer correctly more than half the time is too easy and is regenerated.

Solvers answer many questions at once (``answer_all``), ``attempts`` times
each. An answer is judged by the judge the trajectories, the GRPO reward
and evaluation use (``kisa_tasks.judge.Judge``): the rules first (the answer
or an alias named as a whole mention, without listing or hedging between
candidates, so "vitamin A" is never read as option "A"), then, with a model
configured, the LLM judge for what the rules reject (a synonym the corpus
does not list), trusted only if it refuses the item's decoy. An exact-match
judge would call a right answer in other words wrong, and pass easy
questions as hard.

- ``RetrievalSolver`` (offline): a BM25 search on the question text; the
  answer is the entity of the asked type that the top hits mention most
  (weighted by score), not counting entities the question itself names.
- ``LLMSolver`` (prompt ``solve-v2``): an OpenAI-compatible endpoint asked
  for its reasoning, then its answer (JSON, reasoning first, a budget of
  ``qa.solver_max_tokens``), with a different sampling seed per attempt.
  The paper calibrates with o3 and GPT-4 and their browsing; ``agent`` (the
  tool-using researcher, ``qa.stage.make_solvers``) is the solver with tools.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from kisa_tasks.judge import Judge, decoy
from kisa_tasks.qa.records import QAItem
from kisa_tasks.qa.text import mentions
from kisa_tasks.retrieval.index import CorpusIndex

SOLVER_PROMPT_VERSION = "solve-v2"
SOLVER_PROMPT = (
    f"You answer hard medical questions ({SOLVER_PROMPT_VERSION}). Work the question out "
    "step by step in reasoning: what each description points to, and why. Then give the "
    "name of one entity as the answer. "
    'Reply with JSON: {"reasoning": "...", "answer": "<name>"}.'
)
ANSWER_SCHEMA = {
    "type": "object",
    # Reasoning first: the answer is written after the work, not before it.
    "properties": {
        "reasoning": {"type": "string", "maxLength": 8000},
        "answer": {"type": "string", "maxLength": 200},
    },
    "required": ["reasoning", "answer"],
    "additionalProperties": False,
}


class Solver(Protocol):
    name: str

    def answer_all(
        self, items: Sequence[QAItem], answer_types: Mapping[str, str]
    ) -> dict[str, list[str]]:
        """qa_id -> the answers given (one per attempt; failures left out)."""
        ...


def is_correct(given: str, item: QAItem, judge: Judge | None = None) -> bool:
    """The judge's verdict on ``given`` against the answer and its aliases
    (the rules alone without a judge)."""
    probe = decoy(item.question, item.accepted, item.named)
    return (judge or Judge()).verdict(item.question, item.accepted, given, probe).correct


def accuracy(item: QAItem, answers: Sequence[str], judge: Judge | None = None) -> float | None:
    if not answers:
        return None
    return sum(is_correct(a, item, judge) for a in answers) / len(answers)


@dataclass
class RetrievalSolver:
    """Answers with the most-mentioned entity of the asked type in the top hits.

    ``entities_in(pmid)`` gives the canonical ids mentioned in an abstract,
    ``info(id)`` their (name, type).
    """

    index: CorpusIndex
    entities_in: Callable[[str], Sequence[str]]
    info: Callable[[str], tuple[str, str]]
    k: int = 10
    name: str = "retrieval-bm25"

    def answer(self, question: str, answer_type: str) -> str | None:
        scores: dict[str, float] = {}
        for hit in self.index.search(question, k=self.k):
            for entity in set(self.entities_in(hit.doc_id)):
                entity_name, entity_type = self.info(entity)
                if entity_type != answer_type:
                    continue
                if mentions(question, entity_name):
                    continue  # the question names it: a clue, not the answer
                scores[entity] = scores.get(entity, 0.0) + hit.score
        if not scores:
            return None
        best = min(scores, key=lambda e: (-round(scores[e], 6), e))
        return self.info(best)[0]

    def answer_all(
        self, items: Sequence[QAItem], answer_types: Mapping[str, str]
    ) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for item in items:
            given = self.answer(item.question, answer_types[item.qa_id])
            # Deterministic: one try. Finding nothing is a wrong answer, not a
            # failed call (that would leave the item uncalibrated).
            out[item.qa_id] = [given or ""]
        return out


@dataclass
class LLMSolver:
    """One OpenAI-compatible model, asked ``attempts`` times per question."""

    make_client: Callable[[], object]
    attempts: int = 3
    temperature: float = 0.7
    name: str = "llm"
    max_tokens: int = 1536

    def answer_all(
        self, items: Sequence[QAItem], answer_types: Mapping[str, str]
    ) -> dict[str, list[str]]:
        from kisa_tasks.llm.batch import LLMRequest, run_all
        from kisa_tasks.llm.client import LLMClient, Sampling

        client = self.make_client()
        assert isinstance(client, LLMClient)
        requests = []
        for item in items:
            messages = [
                {"role": "system", "content": SOLVER_PROMPT},
                {"role": "user", "content": item.question},
            ]
            requests.append(LLMRequest(item.qa_id, messages, ANSWER_SCHEMA))
        out: dict[str, list[str]] = {item.qa_id: [] for item in items}
        for attempt in range(self.attempts):
            sampling = Sampling(
                temperature=self.temperature, max_tokens=self.max_tokens, seed=attempt
            )
            client = self.make_client() if attempt else client
            assert isinstance(client, LLMClient)
            for outcome in run_all(client, requests, sampling=sampling, label=f"solve {attempt}"):
                if outcome.ok:
                    out[outcome.key].append(str(outcome.data["answer"]))
        return out
