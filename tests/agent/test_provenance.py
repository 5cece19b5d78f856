"""Every row a model wrote says which prompt, model, endpoint and weights
wrote it: trajectories of llm rollouts (and their rewritten thoughts), and
the SFT rows made from them, against the scripted OpenAI-compatible server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fakes.openai_server import FakeOpenAI
from trajectory_world import QUESTIONS, prepare

from kisa_tasks.agent.mtg import AGENT_PROMPT_VERSION
from kisa_tasks.agent.rewrite import PROMPT_VERSION as REWRITE_PROMPT_VERSION
from kisa_tasks.agent.rewrite import REWRITE_PROMPT
from kisa_tasks.agent.stage import run_trajectories
from kisa_tasks.artefacts import ArtefactStore, Partition
from kisa_tasks.llm import endpoint
from kisa_tasks.settings import KisaSettings
from kisa_tasks.sft.stage import run_sft_export

WEIGHTS = "/models/qwen3-32b"


def _agent(body: dict[str, Any]) -> tuple[str, Any]:
    """Searches once, then answers what the question asks."""
    messages = body["messages"]
    if messages[0]["content"] == REWRITE_PROMPT:
        return ("answer", json.dumps({"thought": "I should look this up in the literature."}))
    question = messages[1]["content"]
    answer = next(a for q, a in QUESTIONS if q in question)
    if not any(m["role"] == "assistant" for m in messages):
        call = json.dumps({"name": "medical_search", "arguments": {"query": question[-60:]}})
        return ("answer", f"<think>Search first.</think>\n<tool_call>{call}</tool_call>")
    return ("answer", f"<think>The abstracts say so.</think>\n<answer>{answer}</answer>")


def test_llm_trajectories_and_their_sft_rows_record_their_provenance(
    settings: KisaSettings, tmp_path: Path
) -> None:
    run = "traj_provenance"
    store: ArtefactStore = prepare(settings, run)
    endpoint._WEIGHTS.clear()
    with FakeOpenAI() as server:
        server.responder = _agent
        server.models = [{"id": "fake", "object": "model", "root": WEIGHTS}]
        llm = settings.llm.model_copy(update={"base_url": server.base_url, "model": "fake"})
        agent = settings.agent.model_copy(update={"rollouts_per_item": 1, "tool_failure_rate": 0})
        llm_settings = settings.model_copy(update={"llm": llm, "agent": agent, "home": tmp_path})
        run_trajectories(llm_settings, specialty="cardiology", run_id=run, backend="llm")
    kept = store.read(Partition("trajectories", "cardiology", run)).to_pylist()
    assert kept, "the scripted agent answers every question right"
    for row in kept:
        made_by = json.loads(row["provenance"])
        assert made_by == {
            "prompt": f"{AGENT_PROMPT_VERSION}+{REWRITE_PROMPT_VERSION}",  # thoughts rewritten
            "model": "fake",
            "endpoint": server.base_url,
            "weights": WEIGHTS,
        }
    run_sft_export(settings, specialty="cardiology", run_id=run)
    sft = store.read(Partition("sft", "cardiology", run)).to_pylist()
    assert sft and {r["provenance"] for r in sft} <= {r["provenance"] for r in kept}
