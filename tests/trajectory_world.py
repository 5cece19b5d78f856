"""A committed run for the trajectories stage: four abstracts, their
mentions and entities, and three QA items a search of them answers."""

from __future__ import annotations

import pyarrow as pa
from records import citation

from kisa_tasks.artefacts import ArtefactStore, Partition
from kisa_tasks.extract.stage import run_extract
from kisa_tasks.ingest.abstracts import to_tables
from kisa_tasks.qa.records import QAItem, to_table
from kisa_tasks.settings import KisaSettings
from kisa_tasks.stats.stages import run_canonicalise

TEXTS = [
    ("Digoxin toxicity", "Arrhythmia caused by digoxin was seen. Digoxin-induced nausea."),
    ("Heart failure care", "Patients with heart failure were treated with digoxin."),
    ("Arrhythmia and warfarin", "Stroke was prevented by warfarin."),
    ("Amiodarone", "Amiodarone-induced hypothyroidism was reported."),
]
QUESTIONS = [
    ("Which drug treats heart failure in these patients?", "Digoxin"),
    ("Which condition is caused by digoxin?", "Arrhythmia"),
    ("Which drug prevents stroke?", "Warfarin"),
]


def extracted_run(
    settings: KisaSettings, run: str, texts: list[tuple[str, str]], first_pmid: int
) -> ArtefactStore:
    """``texts`` (title, abstract) committed as the run's cardiology and whole
    corpus, with their mentions and entities."""
    store = ArtefactStore.from_settings(settings)
    abstracts = pa.concat_tables(
        list(to_tables([citation(str(first_pmid + i), t, a) for i, (t, a) in enumerate(texts)]))
    )
    for specialty in ("cardiology", "all"):
        store.write(Partition("abstracts", specialty, run), [abstracts])
    run_extract(settings, specialty="cardiology", run_id=run)
    run_canonicalise(settings, specialty="cardiology", run_id=run)
    return store


def prepare(settings: KisaSettings, run: str) -> ArtefactStore:
    store = extracted_run(settings, run, TEXTS, 200)
    items = [
        QAItem(
            seed="s",
            seed_name="s",
            specialty="cardiology",
            strategy="max_chain",
            subgraph_id="",
            question=q,
            answer=a,
            answer_id="",
            answer_aliases=(),
            reasoning_path="",
            entity_mapping=(),
            path=(),
            paradigm="which_x_of",
            generator="test",
            prompt_version="",
            split="train",
        )
        for q, a in QUESTIONS
    ]
    store.write(Partition("qa", "cardiology", run), [to_table(items)])
    return store
