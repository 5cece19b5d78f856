"""The endpoint's capability check and its weights, against the scripted
OpenAI-compatible server: each server that cannot do what a run needs is
refused before the run starts, naming the flag to add."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fakes.openai_server import FakeOpenAI

from kisa_tasks.llm import endpoint
from kisa_tasks.llm.client import Sampling, cache_key, client_from_settings
from kisa_tasks.llm.endpoint import capability_problems, served_weights
from kisa_tasks.platform_check import check_llm
from kisa_tasks.settings import KisaSettings

VLLM_NO_PARSER = (
    '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set'
)


def _honest(body: dict[str, Any]) -> tuple[str, Any]:
    """A server that does both: JSON for the schema, a native call for tools."""
    if "tools" in body:
        call = {"id": "c1", "type": "function",
                "function": {"name": "echo", "arguments": '{"word": "yes"}'}}  # fmt: skip
        return ("message", {"content": None, "tool_calls": [call]})
    return ("answer", json.dumps({"ok": "yes"}))


@pytest.mark.parametrize(
    ("responder", "problem"),
    [
        (_honest, None),
        # response_format refused outright
        (lambda b: _honest(b) if "tools" in b else
         ("error", (400, "response_format json_schema is not supported")),
         "refuses response_format json_schema"),
        # ... or ignored: free text comes back
        (lambda b: _honest(b) if "tools" in b else ("answer", "Sure! Yes."),
         "ignores response_format json_schema"),
        # vLLM started without the tool-call flags
        (lambda b: ("error", (400, VLLM_NO_PARSER)) if "tools" in b else _honest(b),
         "refuses tools"),
        # a parser that does not match: the call comes back as text
        (lambda b: ("answer", '<tool_call>{"name": "echo"}</tool_call>') if "tools" in b
         else _honest(b), "returns tool calls as text"),
    ],
)  # fmt: skip
def test_the_capability_probe_names_what_is_missing_and_the_flag(
    responder: Any, problem: str | None
) -> None:
    with FakeOpenAI() as server:
        server.responder = responder
        found = capability_problems(server.base_url, "k", "fake", tools=True, timeout_s=5)
    if problem is None:
        assert found == []
        return
    [message] = found
    assert problem in message
    fix = "--tool-call-parser" if "tool" in problem else "--guided-decoding-backend"
    assert fix in message


def test_a_llm_run_is_refused_at_the_platform_check(settings: KisaSettings) -> None:
    with FakeOpenAI() as server:
        server.responder = lambda b: ("answer", "no JSON here")
        llm = settings.llm.model_copy(update={"base_url": server.base_url, "model": "fake"})
        check = check_llm(settings.model_copy(update={"llm": llm}))
    assert not check.ok and check.component == "llm"
    assert "ignores response_format" in check.detail and "KISA_LLM__BASE_URL" in check.detail


def test_the_served_weights_are_recorded_and_key_the_cache(settings: KisaSettings) -> None:
    endpoint._WEIGHTS.clear()
    with FakeOpenAI() as server:
        server.models = [{"id": "fake", "object": "model", "root": "/models/qwen3-32b-awq"}]
        llm = settings.llm.model_copy(update={"base_url": server.base_url, "model": "fake"})
        client = client_from_settings(settings.model_copy(update={"llm": llm}))
        assert served_weights(server.base_url, "k", "other") == ""  # a model it does not list
    assert client.weights == "/models/qwen3-32b-awq"
    record = json.loads(client.provenance("triples-v2"))
    assert record == {"prompt": "triples-v2", "model": "fake", "endpoint": server.base_url,
                      "weights": "/models/qwen3-32b-awq"}  # fmt: skip
    # New weights under the old name never reuse the old answers.
    keys = {
        cache_key("fake", [], Sampling(), None, endpoint=server.base_url, weights=weights)
        for weights in (client.weights, "/models/qwen3-8b")
    }
    assert len(keys) == 2
