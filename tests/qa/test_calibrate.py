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


def test_an_answer_its_own_clue_finds_is_a_shortcut() -> None:
    """The answer's clue alone ("Which chemical is increased by Omegacillin?")
    is searched: where the literature gives Gammatoxin for it, the path in
    front is decoration and the item is refused; where Omegacillin is mostly
    written about with Deltoid, the clue only narrows the last hop down."""
    from qa_world import SEED, Corpus, subgraph

    from kisa_tasks.qa.generate import Candidate, GenTask, RulesGenerator, clue_probe, shortcuts

    [candidate] = RulesGenerator(Corpus()).generate(
        [GenTask(SEED, "cardiology", subgraph(), "sg1", rng_seed=0)]
    )
    assert isinstance(candidate, Candidate)
    probe = clue_probe(candidate.plan, Corpus())
    assert probe == "Which chemical is increased by Omegacillin?"
    info = {**INFO, "db:D3": ("Omegacillin", "drug")}

    def searcher(abstracts: dict[str, str], mentions: dict[str, list[str]]) -> RetrievalSolver:
        cites = [citation(p, "Omegacillin", a) for p, a in abstracts.items()]
        index = CorpusIndex.build(pa.concat_tables(list(to_tables(cites))))
        return RetrievalSolver(index, lambda pmid: mentions.get(pmid, []), info.__getitem__, k=3)

    famous = searcher({"1": "Omegacillin increases gammatoxin levels."}, {"1": ["db:D3", "chem:T"]})
    [(qa_id, reason)] = shortcuts([candidate], Corpus(), [famous]).items()
    assert qa_id == candidate.item.qa_id and reason.startswith("shortcut: a search for")
    shared = searcher(
        {"1": "Omegacillin increases deltoid.", "2": "Omegacillin raised deltoid and gammatoxin."},
        {"1": ["db:D3", "chem:U"], "2": ["db:D3", "chem:U", "chem:T"]},
    )
    assert shortcuts([candidate], Corpus(), [shared]) == {}
