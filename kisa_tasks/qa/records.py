"""The QA item: one question, its answer, reasoning path and entity mapping,
as both backends write it (the ``qa`` stage's Parquet schema)."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow as pa

from kisa_tasks.artefacts import register_stage

QA_SCHEMA = register_stage(
    "qa",
    pa.schema(
        [
            pa.field("qa_id", pa.string(), nullable=False),
            pa.field("seed", pa.string(), nullable=False),
            pa.field("seed_name", pa.string(), nullable=False),
            pa.field("specialty", pa.string(), nullable=False),
            pa.field("strategy", pa.string(), nullable=False),
            pa.field("subgraph_id", pa.string(), nullable=False),
            pa.field("question", pa.string(), nullable=False),
            pa.field("answer", pa.string(), nullable=False),
            pa.field("answer_id", pa.string(), nullable=False),
            pa.field("answer_aliases", pa.list_(pa.string()), nullable=False),
            pa.field("reasoning_path", pa.string(), nullable=False),
            pa.field(
                "entity_mapping",
                pa.list_(
                    pa.struct(
                        [
                            pa.field("placeholder", pa.string(), nullable=False),
                            pa.field("value", pa.string(), nullable=False),
                        ]
                    )
                ),
                nullable=False,
            ),
            pa.field("path", pa.list_(pa.string()), nullable=False),
            pa.field("hops", pa.int32(), nullable=False),
            pa.field("paradigm", pa.string(), nullable=False),
            pa.field("generator", pa.string(), nullable=False),
            pa.field("prompt_version", pa.string(), nullable=False),
            pa.field("rng_seed", pa.int32(), nullable=False),
            pa.field("attempt", pa.int32(), nullable=False),
            pa.field("solver_accuracy", pa.float64(), nullable=True),
            pa.field("solver_answers", pa.int32(), nullable=False),
            # diagnosis, treatment, guidelines or rare_disease (``qa.kinds``); "" if unknown.
            pa.field("question_type", pa.string(), nullable=False),
            # train or test, decided per seed when the item is made (``qa.kinds``).
            pa.field("split", pa.string(), nullable=False),
            # The weakest hop's relation confidence (``triples.support``); null
            # for items made elsewhere (imported), whose hops we cannot weigh.
            pa.field("min_hop_confidence", pa.float64(), nullable=True),
            # The names the question gives as clues (off the path): the LLM
            # judge must refuse them as answers (the decoy probe).
            pa.field("clue_names", pa.list_(pa.string()), nullable=True),
            # Where an LLM-made row came from (``llm.client.provenance``: prompt
            # and version, model, endpoint, weights); null for rows no model wrote.
            pa.field("provenance", pa.string(), nullable=True),
        ]
    ),
)


@dataclass(frozen=True)
class QAItem:
    seed: str
    seed_name: str
    specialty: str
    strategy: str
    subgraph_id: str
    question: str
    answer: str
    answer_id: str
    answer_aliases: tuple[str, ...]
    reasoning_path: str
    entity_mapping: tuple[tuple[str, str], ...]  # (placeholder, value), in order
    path: tuple[str, ...]
    paradigm: str
    generator: str
    prompt_version: str
    rng_seed: int = 0
    attempt: int = 0
    solver_accuracy: float | None = None  # None until calibrated
    solver_answers: int = 0
    question_type: str = ""
    split: str = ""
    min_hop_confidence: float | None = None
    clue_names: tuple[str, ...] = ()
    provenance: str | None = None
    qa_id: str = field(default="")

    def __post_init__(self) -> None:
        if not self.qa_id:
            object.__setattr__(
                self,
                "qa_id",
                qa_id(self.subgraph_id, self.generator, self.prompt_version, self.question),
            )

    @property
    def accepted(self) -> list[str]:
        """The answers a judge accepts: the answer and its aliases."""
        return [self.answer, *self.answer_aliases]

    @property
    def named(self) -> list[str]:
        """Names the question may give that are not the answer: its clues'
        neighbours, then (items made before clue names were kept) the
        mapping's names."""
        return [*self.clue_names, *(v for _, v in self.entity_mapping if v)]

    @property
    def hops(self) -> int:
        return max(0, len(self.path) - 1)

    def row(self) -> dict[str, Any]:
        out = asdict(self)
        out["answer_aliases"] = list(self.answer_aliases)
        out["path"] = list(self.path)
        out["clue_names"] = list(self.clue_names)
        out["entity_mapping"] = [{"placeholder": k, "value": v} for k, v in self.entity_mapping]
        out["hops"] = self.hops
        return out

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> QAItem:
        # Rows committed before question types and splits existed lack them.
        values = {k: row[k] for k in cls.__dataclass_fields__ if k in row}
        values["answer_aliases"] = tuple(row["answer_aliases"])
        values["path"] = tuple(row["path"])
        values["clue_names"] = tuple(row.get("clue_names") or ())
        values["entity_mapping"] = tuple(
            (m["placeholder"], m["value"]) for m in row["entity_mapping"]
        )
        return cls(**values)


def qa_id(subgraph_id: str, generator: str, prompt_version: str, question: str) -> str:
    """Deterministic: the same sub-graph, generator and text give the same id."""
    key = "\x1f".join((subgraph_id, generator, prompt_version, question))
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def to_table(items: list[QAItem]) -> pa.Table:
    return pa.Table.from_pylist([item.row() for item in items], schema=QA_SCHEMA)
