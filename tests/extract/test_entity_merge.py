"""'New entity or an existing one?': similarity fallback and the LLM decider."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pyarrow as pa
from fakes.openai_server import FakeOpenAI

from kisa_tasks.extract.canonical import canonicalise
from kisa_tasks.extract.entity_merge import (
    EntityName,
    merge_questions,
    numbers_agree,
    rules_decisions,
)
from kisa_tasks.extract.mentions import MENTIONS_SCHEMA
from kisa_tasks.llm.client import LLMClient, ResponseCache
from kisa_tasks.stats.stages import canonicalise_mentions


def _m(surface: str, entity_id: str, name: str, type_: str = "disease") -> dict[str, Any]:
    return {
        "pmid": "1",
        "field": "abstract",
        "start": 0,
        "end": len(surface),
        "surface": surface,
        "type": type_,
        "entity_id": entity_id,
        "name": name,
        "backend": "llm",
    }


MENTIONS = [
    _m("Hypertension", "mesh:D006973", "Hypertension"),
    _m("hypertenson", "name:hypertenson", "hypertenson"),  # a typo a model copied
    _m("Hyperthyroidism", "mesh:D006980", "Hyperthyroidism"),
    _m("Hypothyroidism", "mesh:D007037", "Hypothyroidism"),
    _m("type 1 diabetes", "name:type_1_diabetes", "type 1 diabetes"),
    _m("type 2 diabetes", "name:type_2_diabetes", "type 2 diabetes"),
    _m("zorbamab", "name:zorbamab", "zorbamab", "drug"),
    _m("zorbamabs", "name:zorbamabs_x", "zorbamabs", "drug"),  # plural: equal normalised names
]


def _groups(mentions: list[dict[str, Any]], **kw: Any) -> dict[str, str]:
    _, mapping = canonicalise(mentions, (), **kw)
    return mapping


def test_rules_merge_a_typo_into_the_anchored_entity_but_not_numbers_or_anchors() -> None:
    mapping = _groups(MENTIONS)
    assert mapping["name:hypertenson"] == "mesh:D006973"
    assert mapping["mesh:D006980"] != mapping["mesh:D007037"]  # identifiers win
    assert mapping["name:type_1_diabetes"] != mapping["name:type_2_diabetes"]
    assert mapping["name:zorbamabs_x"] == mapping["name:zorbamab"]


def test_without_the_decider_the_typo_stays_apart() -> None:
    mapping = _groups(MENTIONS, decide=lambda questions, names: {})
    assert mapping["name:hypertenson"] == "name:hypertenson"


def test_questions_only_for_unanchored_names_and_only_earlier_candidates() -> None:
    entities = [
        EntityName("mesh:D1", "hypertension", "Hypertension", "disease", True),
        EntityName("mesh:D2", "hypotension", "Hypotension", "disease", True),
        EntityName("name:a", "hypertenson", "hypertenson", "disease", False),
        EntityName("name:b", "hypertension", "hypertension", "substance", False),
    ]
    [q] = merge_questions(entities)
    assert q.ident == "name:a"
    assert q.candidates[0][:2] == ("mesh:D1", "Hypertension")
    assert all(c[0] != "name:b" for c in q.candidates)  # another kind
    names = {e.ident: e.name for e in entities}
    assert rules_decisions([q], names) == {"name:a": "mesh:D1"}
    assert rules_decisions([q], names, threshold=0.99) == {}


def test_numbers_must_agree() -> None:
    assert numbers_agree("type 2 diabetes", "type 2 diabete")
    assert not numbers_agree("type 1 diabetes", "type 2 diabetes")
    assert not numbers_agree("stage iii", "stage ii")


def _decider(body: dict[str, Any]) -> tuple[str, Any]:
    """Says 'same as entry 1' for names starting with 'hyper', 'new' for the
    rest, and fails for 'type 2'."""
    text = body["messages"][-1]["content"]
    name = re.search(r"New name: (.*) \(", text)
    assert name is not None
    if "type 2" in name.group(1):
        return ("status", 500)
    return ("answer", json.dumps({"match": 1 if name.group(1).startswith("hyper") else 0}))


def test_llm_decider_merges_what_the_model_says_and_records_failures(tmp_path: Path) -> None:
    table = pa.Table.from_pylist(MENTIONS, schema=MENTIONS_SCHEMA)
    with FakeOpenAI() as server:
        server.responder = _decider
        client = LLMClient(
            base_url=server.base_url,
            model="fake",
            max_attempts=1,
            cache=ResponseCache(tmp_path / "c.sqlite"),
        )
        result = canonicalise_mentions(table, "llm", client)
        asked = [json.dumps(r["messages"]) for r in server.requests]
    entities = {e["canonical_id"]: e for e in result.table.to_pylist()}
    assert "name:hypertenson" in entities["mesh:D006973"]["identifiers"]
    assert set(result.table.column("backend").to_pylist()) == {"llm"}
    # type 2 diabetes was asked (candidate: type 1) and failed: kept apart, recorded.
    assert [r.record_key for r in result.rejections] == ["name:type_2_diabetes"]
    assert "HTTP 500" in result.rejections[0].reason
    assert result.counts["decisions_failed"] == 1
    assert result.counts["merged_by_llm"] == 1
    assert len(asked) == 2  # only the unanchored names with candidates were asked
