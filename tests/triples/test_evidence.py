"""The evidence corpus read from committed partitions (a part at a time, the
text memory-mapped) answers exactly as the one built from whole tables."""

from __future__ import annotations

import itertools
from pathlib import Path

import pyarrow as pa
import pytest

from kisa_tasks.artefacts import ArtefactStore, Partition
from kisa_tasks.extract.stage import lexicon_table
from kisa_tasks.ingest.abstracts import latest_citations, partition_citations, to_tables
from kisa_tasks.ingest.corpus import embedded_baseline_files
from kisa_tasks.ingest.medline import MedlineReader
from kisa_tasks.settings import KisaSettings
from kisa_tasks.triples.evidence import EvidenceCorpus, PartitionRows, run_evidence


@pytest.fixture(scope="module")
def real() -> tuple[pa.Table, pa.Table]:
    """2,000 real usable abstracts of the 2021 baseline file and their mentions."""
    [path] = [p for p in embedded_baseline_files() if "21n" in p.name]
    live, malformed = latest_citations(itertools.islice(MedlineReader(path), 3500))
    kept = partition_citations(live, malformed, None).kept[:2000]
    abstracts = pa.concat_tables(list(to_tables(kept)))
    return abstracts, lexicon_table(abstracts)


def test_the_partition_corpus_answers_as_the_table_corpus(
    real: tuple[pa.Table, pa.Table], settings: KisaSettings, tmp_path: Path
) -> None:
    abstracts, mentions = real
    store = ArtefactStore.from_settings(settings)
    run = "evidence_t1"
    # Several parts each, so the scans cross part boundaries.
    store.write(
        Partition("abstracts", "all", run),
        [abstracts.slice(i, 700) for i in range(0, abstracts.num_rows, 700)],
    )
    store.write(
        Partition("mentions", "all", run),
        [mentions.slice(i, 5000) for i in range(0, mentions.num_rows, 5000)],
    )
    idmap = {"mesh:D006333": "mesh:D006333"}
    whole = EvidenceCorpus(abstracts, mentions, idmap)
    parts = run_evidence(store, run, idmap, tmp_path / "cache")
    assert isinstance(parts.abstracts, PartitionRows)

    assert parts.entities == whole.entities and parts.kinds == whole.kinds
    assert parts.mislinked == whole.mislinked
    entities = sorted(whole.entities)
    assert [parts.pmids_of(e) for e in entities] == [whole.pmids_of(e) for e in entities]
    assert [parts.search_terms(e) for e in entities] == [whole.search_terms(e) for e in entities]
    pmids = abstracts.column("pmid").to_pylist()
    assert [parts.entities_in(p) for p in pmids] == [whole.entities_in(p) for p in pmids]
    assert parts.records(pmids[::7]) == whole.records(pmids[::7])
    assert parts.record("1") is None  # not in the corpus
    linked = [parts.trusted_neighbours(e, 0.0) for e in entities[:800]]
    assert linked == [whole.trusted_neighbours(e, 0.0) for e in entities[:800]]
    assert sum(map(len, linked)) > 10  # real relations were compared
    # The text lives in one memory-mapped file, written once per commit.
    assert list((tmp_path / "cache").glob("*.arrow")) == [parts.abstracts.path]
