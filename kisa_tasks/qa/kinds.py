"""What a QA item is about and which side of the train/test split it is on.

Question types follow the paper's training mix (diagnosis 30%, treatment
25%, guidelines 25%, rare diseases 20%), read off the item's path: the
relations its hops walk and what kind of entity the answer is.

- ``treatment``: a hop is a ``treats`` or ``prevents`` relation;
- ``rare_disease``: the answer is a disease and the rare seed is a disease on
  the path (every seed is rare by construction; the question then leads to
  or from the rare disease itself);
- ``diagnosis``: the answer is a disease (identified from its causes,
  complications, risk factors or associations);
- ``guidelines``: every other item: a drug, chemical or concept reached by
  pharmacology (interactions, what a substance increases, decreases or
  inhibits), the knowledge prescribing guidance is made of.

The split is decided per seed entity, by a seeded hash of its id: every item
of one seed is on the same side, so the model is never tested on a seed's
graph it was trained on, and a seed's side does not depend on the others
(except in a run of so few seeds that the hash put them all on one side:
then the seed nearest the boundary crosses, so both sides exist).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

PAPER_MIX = {"diagnosis": 0.30, "treatment": 0.25, "guidelines": 0.25, "rare_disease": 0.20}
TREATMENT_RELATIONS = frozenset({"treats", "prevents"})


def question_type(relations: Iterable[str], answer_type: str, seed_on_path_type: str | None) -> str:
    """The item's type from its hops' relations, its answer's entity type and
    the type of the seed when the seed is on the path (else None).

    >>> question_type(["causes", "treats"], "drug", None)
    'treatment'
    >>> question_type(["causes", "associated_with"], "disease", "disease")
    'rare_disease'
    >>> question_type(["causes", "complication_of"], "disease", "drug")
    'diagnosis'
    >>> question_type(["inhibits", "increases"], "chemical", "drug")
    'guidelines'
    """
    if TREATMENT_RELATIONS & set(relations):
        return "treatment"
    if answer_type == "disease":
        return "rare_disease" if seed_on_path_type == "disease" else "diagnosis"
    return "guidelines"


def split_keys(seeds: Sequence[str], test_share: float, split_seed: int = 0) -> dict[str, str]:
    """``split_of`` for each seed, except that a set of two or more seeds with
    a share strictly between 0 and 1 always has both sides: a small run would
    otherwise evaluate nothing, or train on nothing. The seed whose draw lies
    nearest the boundary changes side.

    >>> split_keys(["a", "b"], 0.3)
    {'a': 'test', 'b': 'train'}
    >>> sorted(split_keys([f"s{i}" for i in range(3)], 0.01).values())
    ['test', 'train', 'train']
    """
    sides = {s: split_of(s, test_share, split_seed) for s in seeds}
    if len(sides) >= 2 and 0.0 < test_share < 1.0 and len(set(sides.values())) == 1:
        lacking = "train" if "test" in sides.values() else "test"
        nearest = min(sides, key=lambda s: (abs(_draw(s, split_seed) - test_share), s))
        sides[nearest] = lacking
    return sides


def _draw(seed: str, split_seed: int) -> float:
    digest = hashlib.sha256(f"{split_seed}|{seed}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_of(seed: str, test_share: float, split_seed: int = 0) -> str:
    """``train`` or ``test`` for every item of ``seed``.

    >>> split_of("mesh:D001", 0.0), split_of("mesh:D001", 1.0)
    ('train', 'test')
    >>> sides = [split_of(f"mesh:D{i:04}", 0.3) for i in range(1000)]
    >>> 250 < sides.count("test") < 350
    True
    """
    if not 0.0 <= test_share <= 1.0:
        raise ValueError(f"test_share must be between 0 and 1, got {test_share}")
    return "test" if _draw(seed, split_seed) < test_share else "train"
