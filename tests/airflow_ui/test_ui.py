"""The daily path through the UI, in headless Chromium (Debian's, driven by
Playwright): log in to a real Airflow 3 (api-server, scheduler and
dag-processor), trigger kisa_pipeline from its form for neurology, watch it
succeed, read its data-quality report and the linked Data Docs page, explore
a seed's graph, accept a QA item, and compare two runs in MLflow.
Screenshots go to ``tests/airflow_ui/output/`` (or ``$KISA_BROWSER_OUTPUT``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kisa_tasks.artefacts import ArtefactStore
from kisa_tasks.qa.decisions import decisions
from kisa_tasks.services.airflow_local import ui_password
from kisa_tasks.settings import KisaSettings, load_settings

from .conftest import DAG, Backfill, api_for

# The first test waits for the backfill and a triggered run under a real scheduler.
pytestmark = [pytest.mark.browser, pytest.mark.timeout(1200)]
OUTPUT = Path(os.environ.get("KISA_BROWSER_OUTPUT", Path(__file__).parent / "output"))


def chromium() -> str | None:
    return os.environ.get("KISA_CHROMIUM") or shutil.which("chromium")


@pytest.fixture(scope="module")
def airflow_url(local_airflow: str) -> str:
    return local_airflow


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    binary = chromium()
    if binary is None:
        pytest.skip("no Chromium: `apt-get install chromium` (.ci/run does) or set KISA_CHROMIUM")
    from playwright.sync_api import sync_playwright

    OUTPUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=binary, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def page(browser: Any, airflow_url: str, kisa_home: Path) -> Iterator[Any]:
    """Logged in through Airflow's own login page, with the password
    generated for this installation."""
    settings = load_settings(home=kisa_home)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    tab.goto(f"{airflow_url}/dags/{DAG}")
    tab.wait_for_url(re.compile(r".*/auth/login.*"))
    tab.fill("input[name=username]", "admin")
    tab.fill("input[name=password]", ui_password(settings, "admin"))
    tab.click("button[type=submit]")
    tab.wait_for_url(re.compile(rf".*/dags/{DAG}$"), timeout=60_000)
    shot(tab, "01-logged-in")
    yield tab
    context.close()


def shot(tab: Any, name: str) -> None:
    tab.screenshot(path=str(OUTPUT / f"{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def runs(
    page: Any, airflow_url: str, neurology_backfill: Backfill, kisa_home: Path
) -> dict[str, str]:
    """A run triggered from the form, done, and an earlier one (of the backfill)."""
    api = api_for(airflow_url, kisa_home)
    [earlier, *_] = sorted(neurology_backfill.runs, key=lambda r: r["logical_date"])
    page.get_by_test_id("trigger-dag-button").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("combobox").first.click()
    page.get_by_role("option", name="Neurology").click()  # a dropdown of the 12 specialties
    assert page.get_by_role("option").count() == 0  # closed after the choice
    page.fill("input[name=element_max_abstracts]", "300")
    page.fill("input[name=element_max_seeds]", "10")  # enough for every page, in less time
    shot(page, "02-trigger-form")
    with page.expect_response(
        lambda r: r.url.endswith("/dagRuns") and r.request.method == "POST"
    ) as sent:
        page.get_by_test_id("trigger-dag-submit").click()
    triggered = sent.value.json()
    assert sent.value.status == 200 and triggered["conf"]["specialty"] == "neurology"
    page.goto("about:blank")  # the UI polls while open: two cores are better spent on the run
    assert api.wait(triggered["dag_run_id"]) == "success"
    assert earlier["state"] == "success"
    page.goto(f"{airflow_url}/dags/{DAG}/runs/{triggered['dag_run_id']}")
    page.get_by_text("success").first.wait_for()
    shot(page, "03-run-succeeded")
    return {"run": triggered["dag_run_id"], "earlier": earlier["dag_run_id"]}


def test_the_data_quality_report_and_its_data_docs(
    page: Any, airflow_url: str, runs: dict[str, str]
) -> None:
    page.goto(f"{airflow_url}/kisa/quality")
    page.get_by_role("link", name=runs["run"], exact=True).click()
    page.get_by_role("heading", name=re.compile("abstracts")).wait_for()
    for suite in (
        "abstracts",
        "mentions",
        "entities",
        "triples",
        "subgraphs",
        "qa",
        "trajectories",
        "sft",
    ):
        assert page.locator(f"h2#{suite}").count() == 1, suite
    assert page.locator("h2 .fail").count() == 0  # every gate passed
    shot(page, "04-quality-report")
    with page.expect_navigation():
        page.get_by_role("link", name="Data Docs report").first.click()
    assert "/kisa/docs/" in page.url and "abstracts" in page.content()
    shot(page, "05-data-docs")


def test_the_knowledge_graph_of_a_seed(page: Any, airflow_url: str, runs: dict[str, str]) -> None:
    page.goto(f"{airflow_url}/kisa/graph")
    page.get_by_role("link", name=runs["run"], exact=True).click()
    page.locator("table a").first.click()  # the first seed
    page.locator("svg#graph circle").first.wait_for()
    assert page.locator("svg#graph circle").count() >= 2
    assert page.locator("svg#graph line.on-path").count() >= 1  # the longest path, highlighted
    # A click while the force layout still moves can land beside the line.
    page.locator("svg#graph[data-settled=true]").wait_for()
    page.locator("svg#graph line.on-path").first.click(force=True)
    assert "PMID" in page.inner_text("#details")  # the relation's evidence
    shot(page, "06-knowledge-graph")


def test_accepting_a_qa_item_persists(
    page: Any, airflow_url: str, runs: dict[str, str], settings: KisaSettings
) -> None:
    page.goto(f"{airflow_url}/kisa/qa/neurology/{urllib.parse.quote(runs['run'], safe='')}")
    first = page.locator("form.review").first
    qa_id = page.locator("[data-qa-id]").first.get_attribute("data-qa-id")
    first.locator("input[name=note]").fill("clear and well calibrated")
    first.get_by_role("button", name="Accept").click()
    page.get_by_text("accepted").first.wait_for()
    shot(page, "07-qa-accepted")
    decided = decisions(ArtefactStore.from_settings(settings), "neurology")[qa_id]
    assert (decided.decision, decided.note) == ("accept", "clear and well calibrated")


def test_two_runs_side_by_side_in_mlflow(
    page: Any, runs: dict[str, str], settings: KisaSettings
) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(settings.mlflow_uri())
    experiment = client.get_experiment_by_name(f"kisa/{DAG}")
    found = {
        r.data.tags["airflow.run_id"]: r.info.run_id
        for r in client.search_runs([experiment.experiment_id], max_results=100)
    }
    ids = [found[runs["run"]], found[runs["earlier"]]]
    query = urllib.parse.urlencode(
        {"runs": json.dumps(ids), "experiments": json.dumps([experiment.experiment_id])}
    )
    page.goto(f"{settings.mlflow_uri()}/#/compare-runs?{query}")
    page.get_by_text(runs["earlier"]).first.wait_for(timeout=60_000)
    # The page renders the first rows of the metrics table (by name) only.
    page.get_by_text("abstracts.kept").first.wait_for(state="attached", timeout=60_000)
    body = page.inner_text("body")
    assert runs["run"] in body and runs["earlier"] in body  # both runs, as columns
    # The same metric names, one row each with both runs' values.
    assert "abstracts.kept" in body and "entities." in body
    shot(page, "08-mlflow-compare")
