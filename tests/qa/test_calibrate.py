"""The offline retrieval solver on a real BM25 index: it answers what the
literature makes easy, and never with an entity the question names."""

from __future__ import annotations

import pyarrow as pa
from records import citation

from kisa_tasks.ingest.abstracts import to_tables
from kisa_tasks.qa.calibrate import RetrievalSolver, accuracy, is_correct
from kisa_tasks.retrieval.index import CorpusIndex

from .test_formats_and_dedup import _item

ABSTRACTS = {
    "1": ("Gammatoxin poisoning", "Betanib inhibits gammatoxin in rat liver."),
    "2": ("Xitis care", "Xitis was treated with betanib in a small trial."),
    "3": ("Unrelated", "Deltoid levels were measured in sheep."),
}
MENTIONS = {"1": ["db:D2", "chem:T"], "2": ["mesh:X", "db:D2"], "3": ["chem:U"]}
INFO = {
    "db:D2": ("Betanib", "drug"),
    "chem:T": ("Gammatoxin", "chemical"),
    "mesh:X": ("Xitis", "disease"),
    "chem:U": ("Deltoid", "chemical"),
}


def _solver() -> RetrievalSolver:
    cites = [citation(p, t, a) for p, (t, a) in ABSTRACTS.items()]
    index = CorpusIndex.build(pa.concat_tables(list(to_tables(cites))))
    return RetrievalSolver(index, lambda pmid: MENTIONS.get(pmid, []), INFO.__getitem__, k=2)


def test_an_easy_question_is_answered_from_the_top_hits() -> None:
    solver = _solver()
    assert solver.answer("Which chemical does betanib inhibit in the liver?", "chemical") == (
        "Gammatoxin"
    )
    # An entity the question names is a clue, not an answer.
    assert solver.answer("Betanib inhibits Gammatoxin; which drug?", "drug") is None


def test_answers_are_compared_whole() -> None:
    item = _item("Which chemical?")  # answer Gammatoxin, alias "gamma toxin"
    assert is_correct("GAMMA-TOXIN", item) and is_correct(" gammatoxin ", item)
    assert not is_correct("A", item) and not is_correct("", item)
    assert accuracy(item, ["Gammatoxin", "Deltoid", ""]) == 1 / 3
    assert accuracy(item, []) is None
