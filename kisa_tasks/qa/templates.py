"""The ``rules`` question generator: English templates over a ``QuestionPlan``.

Path entities are never named: each is introduced by its type and a letter
("a drug (A)") and described by its clues, the relations to named neighbours
off the path. The reasoning path uses the reference format's placeholders
(``Entity_A`` ... ``Target_Entity``, ``Clue_1`` ...) and the entity mapping
resolves them. Deterministic: the same plan gives the same text.
"""

from __future__ import annotations

from dataclasses import dataclass

from kisa_tasks.qa.plan import QuestionPlan, Step, placeholders

PROMPT_VERSION = "rules-v1"
PARADIGM = "multi_hop_chain"

# relation type -> (source is the edge's head, source is its tail)
PHRASES: dict[str, tuple[str, str]] = {
    "treats": ("treats", "is treated with"),
    "prevents": ("prevents", "is prevented by"),
    "causes": ("causes", "is caused by"),
    "inhibits": ("inhibits", "is inhibited by"),
    "increases": ("increases", "is increased by"),
    "decreases": ("decreases", "is decreased by"),
    "diagnoses": ("is used to diagnose", "is diagnosed with"),
    "associated_with": ("is associated with", "is associated with"),
    "risk_factor_for": ("is a risk factor for", "has as a risk factor"),
    "complication_of": ("is a complication of", "has as a complication"),
    "interacts_with": ("interacts with", "interacts with"),
}
TYPE_NOUNS = {"concept": "biomedical concept"}


def phrase(step: Step) -> str:
    active, passive = PHRASES.get(step.relation, ("is related to", "is related to"))
    return active if step.outgoing else passive


def noun(entity_type: str) -> str:
    return TYPE_NOUNS.get(entity_type, entity_type)


def article(word: str) -> str:
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


@dataclass(frozen=True)
class RenderedQA:
    question: str
    reasoning_path: str
    entity_mapping: dict[str, str]


def _clue_texts(plan: QuestionPlan) -> dict[tuple[str, int], tuple[str, str]]:
    """(entity, i) -> (placeholder ``Clue_n``, clue text with the neighbour named)."""
    out: dict[tuple[str, int], tuple[str, str]] = {}
    n = 0
    for node in plan.path:
        for i, step in enumerate(plan.clues.get(node, ())):
            n += 1
            out[(node, i)] = (f"Clue_{n}", f"{phrase(step)} {plan.name(step.target)}")
    return out


def also(clue: str) -> str:
    """``which also`` before a clue, with "is" kept in front: "which is also
    caused by X", "which also causes X"."""
    if clue.startswith("is "):
        return "which is also " + clue[3:]
    return "which also " + clue


def _joined(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def render(plan: QuestionPlan) -> RenderedQA:
    letters = {node: chr(ord("A") + i) for i, node in enumerate(plan.path)}
    holders = placeholders(plan.path)
    clue_texts = _clue_texts(plan)

    def clues_of(node: str) -> list[str]:
        return [clue_texts[(node, i)][1] for i in range(len(plan.clues.get(node, ())))]

    anchor = plan.path[0]
    sentences = [
        f"{article(noun(plan.type_of(anchor))).capitalize()} ({letters[anchor]}) "
        f"{_joined(clues_of(anchor))}."
    ]
    for hop in plan.hops[:-1]:
        target = hop.target
        text = (
            f"{letters[hop.source]} {phrase(hop)} {article(noun(plan.type_of(target)))} "
            f"({letters[target]})"
        )
        extra = clues_of(target)
        if extra:
            text += ", " + also(_joined(extra))
        sentences.append(text + ".")
    last = plan.hops[-1]
    narrowing = clues_of(last.target)
    suffix = f" (one that {_joined(narrowing)})" if narrowing else ""
    sentences.append(
        f"{letters[last.source]} {phrase(last)} which {noun(plan.type_of(last.target))}{suffix}?"
    )

    steps = []
    anchor_clues = [clue_texts[(anchor, i)][0] for i in range(len(plan.clues[anchor]))]
    steps.append(
        f"1. Identify {holders[anchor]}: the {noun(plan.type_of(anchor))} that satisfies "
        f"{_joined(anchor_clues)}; search for entities with each clue and intersect."
    )
    for i, hop in enumerate(plan.hops, start=2):
        target = hop.target
        line = (
            f"{i}. From {holders[hop.source]}, follow '{phrase(hop)}' to the "
            f"{noun(plan.type_of(target))} {holders[target]}"
        )
        extra = [clue_texts[(target, j)][0] for j in range(len(plan.clues.get(target, ())))]
        if extra:
            line += f", confirmed by {_joined(extra)}"
        if target == plan.answer:
            line += "; this is the answer"
        steps.append(line + ".")
    mapping = {holders[node]: plan.name(node) for node in plan.path}
    mapping.update({holder: text for holder, text in clue_texts.values()})
    return RenderedQA(" ".join(sentences), "\n".join(steps), mapping)
