"""The ``llm`` extraction backend: prompts, grounding of answers in the text,
and the stage against a real local OpenAI-compatible server that can fail."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
from fakes.openai_server import FakeOpenAI
from hypothesis import given
from hypothesis import strategies as st
from records import citation

from kisa_tasks.artefacts import ArtefactStore, Partition
from kisa_tasks.extract.lexicon import LexiconEntry
from kisa_tasks.extract.llm_extract import (
    SYSTEM_PROMPT,
    Chunk,
    extraction_messages,
    ground_answer,
    text_chunks,
)
from kisa_tasks.extract.mentions import MENTIONS_SCHEMA
from kisa_tasks.extract.stage import run_extract
from kisa_tasks.ingest.abstracts import to_tables
from kisa_tasks.settings import KisaSettings
from kisa_tasks.specialties import WHOLE_CORPUS


def _answer(*items: tuple[str, str]) -> dict[str, Any]:
    return {"entities": [{"surface": s, "type": t} for s, t in items]}


def test_answers_are_grounded_with_exact_spans_and_dictionary_ids() -> None:
    text = "Digoxin helped. Heart failure patients on DIGOXIN and zorbamab did well."
    chunk = Chunk("9", "abstract", 100, text)
    grounded = ground_answer(
        chunk,
        _answer(
            ("digoxin", "drug"),
            ("heart failure", "disease"),
            ("zorbamab", "drug"),
            ("unicorn fever", "disease"),  # not in the text: a model must not add it
            ("in", "concept"),  # generic
        ),
        {},
    )
    by_surface = {(m.surface, m.start): m for m in grounded.mentions}
    for (surface, start), m in by_surface.items():
        assert text[start - 100 : m.end - 100] == surface  # offsets in the field
    digoxins = [m for m in grounded.mentions if m.surface.lower() == "digoxin"]
    assert len(digoxins) == 2 and {m.entity_id for m in digoxins} == {digoxins[0].entity_id}
    assert digoxins[0].entity_id.startswith(("drugbank:", "mesh:"))  # the dictionary's id
    [hf] = [m for m in grounded.mentions if m.surface == "Heart failure"]
    assert hf.entity_id == "mesh:D006333" and hf.type == "disease"
    [new] = [m for m in grounded.mentions if m.surface == "zorbamab"]
    assert new.entity_id == "name:zorbamab" and new.backend == "llm"
    assert grounded.unsupported == 1 and grounded.generic == 1


def test_record_mesh_wins_over_dictionary_and_overlaps_keep_the_longest() -> None:
    chunk = Chunk("1", "title", 0, "Acute heart failure in zebra syndrome")
    record = {"zebra syndrome": LexiconEntry("mesh:D999999", "Zebra Syndrome", "disease")}
    grounded = ground_answer(
        chunk,
        _answer(("heart failure", "disease"), ("acute heart failure", "disease"),
                ("zebra syndrome", "disease")),
        record,
    )  # fmt: skip
    surfaces = [(m.surface, m.entity_id) for m in grounded.mentions]
    assert surfaces[0][0] == "Acute heart failure"
    assert ("zebra syndrome", "mesh:D999999") in surfaces
    assert not any(s == "heart failure" for s, _ in surfaces)


PIECES = st.sampled_from(["Aspirin helps.", "A b c d e.", "x" * 30, " ", "Ok! "])


@given(st.lists(PIECES, max_size=60))
def test_chunks_cover_the_text_in_order_within_the_limit(pieces: list[str]) -> None:
    text = " ".join(pieces)
    chunks = text_chunks("1", "abstract", text, max_chars=80)
    assert all(len(c.text) <= 80 for c in chunks)
    assert all(text[c.offset : c.offset + len(c.text)] == c.text for c in chunks)
    assert "".join(c.text for c in chunks).split() == text.split()


def test_prompt_carries_its_version_and_the_text_only() -> None:
    messages = extraction_messages(Chunk("1", "abstract", 0, "Aspirin in stroke."))
    assert messages[0]["content"] == SYSTEM_PROMPT and "extract-v1" in SYSTEM_PROMPT
    assert messages[1] == {"role": "user", "content": "Aspirin in stroke."}


def _responder(broken: set[str]) -> Any:
    """Entities the text really contains, plus one it does not; a 500 for any
    text containing a word in ``broken``."""

    def answer(body: dict[str, Any]) -> tuple[str, Any]:
        text = body["messages"][-1]["content"]
        if any(word in text for word in broken):
            return ("status", 500)
        items = [("unicorn fever", "disease")]
        for surface, type_ in (("Digoxin", "drug"), ("heart failure", "disease"),
                               ("Warfarin", "drug"), ("zorbamab", "drug")):  # fmt: skip
            if surface.lower() in text.lower():
                items.append((surface, type_))
        return ("answer", json.dumps(_answer(*items)))

    return answer


def _llm_settings(settings: KisaSettings, server: FakeOpenAI, home: Path) -> KisaSettings:
    return settings.model_copy(
        update={
            "home": home,
            "llm": settings.llm.model_copy(
                update={
                    "base_url": server.base_url,
                    "model": "fake",
                    "timeout_s": 5.0,
                    "max_attempts": 2,
                }
            ),
        }
    )


def test_llm_stage_rejects_failed_abstracts_and_a_rerun_resumes(
    settings: KisaSettings, tmp_path: Path
) -> None:
    store = ArtefactStore.from_settings(settings)
    run = "llm_extract_t1"
    records = [
        citation("1", "Digoxin in heart failure", "Digoxin was given; zorbamab was not."),
        citation("2", "Warfarin", "Warfarin and stroke."),
        citation("3", "Zorbamab trial", "In heart failure zorbamab failed."),
    ]
    abstracts = pa.concat_tables(list(to_tables(records)))
    store.write(Partition("abstracts", "cardiology", run), [abstracts])
    corpus = pa.concat_tables(
        list(to_tables([*records, citation("4", "Other", "Zorbamab again, alone.")]))
    )
    store.write(Partition("abstracts", WHOLE_CORPUS, run), [corpus])

    with FakeOpenAI() as server:
        server.responder = _responder(broken={"Warfarin"})
        llm_settings = _llm_settings(settings, server, tmp_path)
        first = run_extract(llm_settings, specialty="cardiology", run_id=run, backend="llm")
        mentions = store.read(Partition("mentions", "cardiology", run))
        rejected = store.read_rejected(Partition("mentions", "cardiology", run)).to_pylist()
        assert mentions.schema.equals(MENTIONS_SCHEMA)
        assert set(mentions.column("pmid").to_pylist()) == {"1", "3"}
        assert set(mentions.column("backend").to_pylist()) == {"llm"}
        made_by = {json.loads(p)["prompt"] + " " + json.loads(p)["endpoint"]
                   for p in mentions.column("provenance").to_pylist()}  # fmt: skip
        assert made_by == {f"extract-v1 {server.base_url}"}
        assert [(r["record_key"], r["reason"][:11]) for r in rejected] == [("2", "llm_failed:")]
        assert "HTTP 500" in rejected[0]["reason"]
        counts = first["counts"]
        assert counts["failed"] == 1 and counts["unsupported_surfaces"] >= 4
        assert counts["llm_failures"] >= 1 and counts["llm_prompt_tokens"] > 0
        # The model's own entity is counted over the whole corpus, pmid 4 included.
        corpus_mentions = store.read(Partition("mentions", WHOLE_CORPUS, run)).to_pylist()
        assert {m["pmid"] for m in corpus_mentions if m["entity_id"] == "name:zorbamab"} == {
            "1",
            "3",
            "4",
        }

        # The endpoint recovers: the rerun asks only for what failed.
        server.responder = _responder(broken=set())
        calls_before = len(server.requests)
        again = run_extract(llm_settings, specialty="cardiology", run_id=run, backend="llm")
        new_calls = server.requests[calls_before:]
        assert {m["messages"][-1]["content"] for m in new_calls} <= {
            "Warfarin",
            "Warfarin and stroke.",
        }
        assert again["counts"]["failed"] == 0 and again["counts"]["llm_cache_hits"] >= 4
        redone = store.read(Partition("mentions", "cardiology", run))
        assert set(redone.column("pmid").to_pylist()) == {"1", "2", "3"}
        assert store.read_rejected(Partition("mentions", "cardiology", run)).num_rows == 0
