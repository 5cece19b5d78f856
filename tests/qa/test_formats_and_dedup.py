"""The reference QA JSONL format both ways, and deduplication."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from kisa_tasks.artefacts import ArtefactStore, Partition
from kisa_tasks.qa.dedup import deduplicate
from kisa_tasks.qa.formats import read_jsonl, write_jsonl
from kisa_tasks.qa.records import QAItem, to_table
from kisa_tasks.qa.stage import export_qa, import_qa
from kisa_tasks.settings import KisaSettings

REFERENCE = (
    Path(__file__).parent.parent / "fixtures" / "reference" / "medresearcher_qa_sample.jsonl"
)


def _item(question: str, accuracy: float | None = 0.0, seed: str = "mesh:S") -> QAItem:
    return QAItem(
        seed=seed,
        seed_name="Seedosis",
        specialty="cardiology",
        strategy="max_chain",
        subgraph_id="sg1",
        question=question,
        answer="Gammatoxin",
        answer_id="chem:T",
        answer_aliases=("gamma toxin",),
        reasoning_path="1. Identify Entity_A.\n2. Target_Entity.",
        entity_mapping=(("Entity_A", "Seedosis"), ("Target_Entity", "Gammatoxin")),
        path=("mesh:S", "mesh:X", "chem:T"),
        paradigm="multi_hop_chain",
        generator="rules",
        prompt_version="rules-v1",
        solver_accuracy=accuracy,
        solver_answers=1,
    )


def test_our_export_reads_back_identically(tmp_path: Path) -> None:
    items = [_item("A disease (A) causes B. B inhibits which chemical?"), _item("Other?" * 9)]
    path = tmp_path / "qa.jsonl"
    assert write_jsonl(items, path, "run-1", "2026-11-22T00:00:00") == 2
    back, rejected = read_jsonl(path, "cardiology")
    assert back == items and rejected == []
    assert to_table(back).equals(to_table(items))
    row = json.loads(path.read_text().splitlines()[0])
    assert row["entity_mapping"] == {"Entity_A": "Seedosis", "Target_Entity": "Gammatoxin"}
    assert row["source_entity"] == "Seedosis" and row["sampling_algorithm"] == "max_chain"


def test_the_reference_sample_imports_without_invented_fields() -> None:
    [item], rejected = read_jsonl(REFERENCE, "infectious_diseases")
    assert rejected == []
    assert item.answer == "肺炎链球菌" and item.seed_name == "肺炎"
    assert item.strategy == "max_chain" and item.generator == "import:unified_obfuscation_qa"
    assert dict(item.entity_mapping)["Target_Entity"] == "肺炎链球菌"
    # What the row does not say stays empty.
    assert (item.answer_id, item.subgraph_id, item.path) == ("", "", ())


def test_malformed_rows_are_rejected_with_the_line_and_reason(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    good = json.dumps({"question": "Which drug treats X?", "answer": "Y"})
    path.write_text("\n".join([good, "{not json", json.dumps({"question": "Q"}), "[1]"]) + "\n")
    items, rejected = read_jsonl(path, "cardiology")
    assert [i.answer for i in items] == ["Y"]
    assert [r.line for r in rejected] == [2, 3, 4]
    assert "missing or empty ['answer']" in rejected[1].reason


LONG = (
    "A disease (A) is treated with Alphamab and is associated with Neuroflex. "
    "A causes a disease (B). B is treated with a drug (C). C inhibits which chemical?"
)


def test_duplicates_keep_the_hardest_item_whatever_the_order() -> None:
    hard = _item(LONG, accuracy=0.0)
    # The same text from another generator, and an easier near copy.
    easy_copy = dataclasses.replace(hard, solver_accuracy=0.5, generator="llm:x", qa_id="")
    near = dataclasses.replace(
        hard,
        question=LONG.replace("chemical?", "chemical compound?"),
        solver_accuracy=0.3,
        qa_id="",
    )
    other = _item("Which chemical does a drug used for gout inhibit?", accuracy=0.0)
    for order in ([hard, easy_copy, near, other], [other, near, easy_copy, hard]):
        kept, dropped = deduplicate(order)
        assert {i.qa_id for i in kept} == {hard.qa_id, other.qa_id}
        reasons = sorted(r.split(":")[0] for _, r in dropped)
        assert reasons == ["duplicate", "near_duplicate"]


def test_an_outside_qa_set_enters_as_a_qa_partition_and_leaves_again(
    settings: KisaSettings, tmp_path: Path
) -> None:
    lines = REFERENCE.read_text(encoding="utf-8").splitlines()
    source = tmp_path / "outside.jsonl"
    source.write_text("\n".join([*lines, "{broken"]) + "\n", encoding="utf-8")
    store = ArtefactStore.from_settings(settings)
    result = import_qa(store, source, specialty="pulmonology", run_id="import-1")
    assert (result["items"], result["rejected"]) == (1, 1)
    partition = Partition("qa", "pulmonology", "import-1")
    [rejected] = store.read_rejected(partition).to_pylist()
    assert rejected["record_key"] == "line 2" and "JSONDecodeError" in rejected["reason"]
    out = tmp_path / "out.jsonl"
    assert export_qa(store, out, specialty="pulmonology", run_id="import-1") == 1
    items, _ = read_jsonl(out, "pulmonology")
    assert items == [QAItem.from_row(r) for r in store.read(partition).to_pylist()]
    assert items[0].answer == "肺炎链球菌"
