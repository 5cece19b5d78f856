"""``kisa_pipeline`` on an S3 prefix of MEDLINE files with a Ray cluster
configured (the local head, 2 worker slots): ingest stages one file per Ray
task, extraction maps the corpus a part per Ray task, and what they commit
equals the same stages run in this process."""

from __future__ import annotations

import gzip
import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import full_conf

from kisa_tasks.artefacts import ArtefactStore, Partition
from kisa_tasks.extract.stage import run_extract
from kisa_tasks.ingest.corpus import embedded_baseline_files
from kisa_tasks.ingest.files import STAGING_PREFIX
from kisa_tasks.ingest.medline import Citation, MedlineReader
from kisa_tasks.ingest.stage import run_ingest
from kisa_tasks.services import ServiceManager
from kisa_tasks.settings import KisaSettings, load_settings

PREFIX = "corpora/ray-test"
CONF = {"specialty": "neurology", "random_seed": 3, "max_abstracts": 400, "max_seeds": 4}


UPDATE = """<?xml version="1.0" encoding="utf-8"?>
<PubmedArticleSet>
<PubmedArticle><MedlineCitation Status="MEDLINE"><PMID Version="2">{corrected}</PMID>
<Article><Journal><JournalIssue><PubDate><Year>2001</Year></PubDate></JournalIssue>
<Title>J Test</Title></Journal><ArticleTitle>Corrected</ArticleTitle>
<Abstract><AbstractText>A corrected abstract.</AbstractText></Abstract>
<Language>eng</Language></Article></MedlineCitation></PubmedArticle>
<DeleteCitation><PMID Version="1">{deleted}</PMID></DeleteCitation>
</PubmedArticleSet>
"""


def cut(data: bytes, records: int) -> bytes:
    """The first ``records`` PubmedArticles of a MEDLINE file, still valid XML."""
    end = 0
    for _ in range(records):
        end = data.index(b"</PubmedArticle>", end) + len(b"</PubmedArticle>")
    return data[:end] + b"\n</PubmedArticleSet>\n"


@pytest.fixture(scope="module")
def s3_corpus(services: ServiceManager, kisa_home: Any) -> str:
    """Two real baseline files cut to 4,000 records each, and an update file
    (a new version, a deletion), under one S3 prefix."""
    store = ArtefactStore.from_settings(load_settings(home=kisa_home))
    for path in embedded_baseline_files():
        data = cut(gzip.decompress(path.read_bytes()), 4000)
        store.put_bytes(f"{PREFIX}/{path.name.removesuffix('.gz')}", data)
    firsts = (e for e in MedlineReader(embedded_baseline_files()[0]) if isinstance(e, Citation))
    pmids = [c.pmid for c in itertools.islice((c for c in firsts if c.abstract), 2)]
    update = UPDATE.format(corrected=pmids[0], deleted=pmids[1])
    store.put_bytes(f"{PREFIX}/pubmed99n9999.xml", update.encode())
    return f"s3://{store.bucket}/{PREFIX}|{pmids[1]}"


@pytest.fixture(scope="module")
def ray_cluster(services: ServiceManager, kisa_home: Any) -> Iterator[KisaSettings]:
    services.up(["ray"])
    settings = load_settings(home=kisa_home)
    assert settings.ray.address
    yield settings
    services.down(["ray"])


def _jobs(settings: KisaSettings) -> list[Any]:
    from kisa_tasks.ray_jobs import job_client

    return list(job_client(settings).list_jobs())


def test_the_pipeline_runs_on_an_s3_prefix_with_ray_doing_the_corpus_work(
    dagbag: Any, s3_corpus: str, ray_cluster: KisaSettings
) -> None:
    s3_corpus, deleted = s3_corpus.split("|")
    before = {j.submission_id for j in _jobs(ray_cluster)}
    run = dagbag.get_dag("kisa_pipeline").test(run_conf=full_conf(CONF | {"corpus": s3_corpus}))
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert str(run.state) == "success", states

    from kisa_tasks.ray_jobs import job_client

    client = job_client(ray_cluster)
    jobs = [j for j in _jobs(ray_cluster) if j.submission_id not in before]
    logs = {j.entrypoint.split()[2]: client.get_job_logs(j.submission_id) for j in jobs}
    assert {j.status.value for j in jobs} == {"SUCCEEDED"}
    ingest = logs["kisa_tasks.ray_jobs"]
    assert "files staged 3/3 (Ray tasks)" in ingest
    assert "(Ray tasks)" in logs["kisa_tasks.extract.ray_extract"]  # corpus parts

    # The same stages in this process commit the same partitions.
    store = ArtefactStore.from_settings(ray_cluster)
    local = ray_cluster.model_copy(update={"ray": ray_cluster.ray.model_copy(
        update={"address": None})})  # fmt: skip
    store.delete_prefix(STAGING_PREFIX)  # parse again, here
    here = "ray-test-local"
    run_ingest(local, specialty="neurology", run_id=here, max_abstracts=400, corpus=s3_corpus)
    run_extract(local, specialty="neurology", run_id=here)
    for stage, specialty in itertools.product(("abstracts", "mentions"), ("neurology", "all")):
        on_ray = store.read(Partition(stage, specialty, run.run_id))
        assert on_ray.num_rows > 0
        assert on_ray.equals(store.read(Partition(stage, specialty, here))), (stage, specialty)
    corrected = store.read(Partition("abstracts", "all", here)).to_pylist()
    assert any(r["abstract"] == "A corrected abstract." for r in corrected)
    assert deleted not in {r["pmid"] for r in corrected}
