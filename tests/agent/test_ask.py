"""``kisa ask``: the loop reports each step as it happens, and the command
shows them live for one question against a real OpenAI-compatible server
and the real corpus tools (search index on the session's S3)."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from fakes.openai_server import FakeOpenAI
from records import citation
from rich.console import Console

from kisa_tasks.agent.ask import Endpoint, ask, latest_corpus_run, render_event
from kisa_tasks.agent.loop import Event, Limits, Message, run_agent
from kisa_tasks.agent.react import ToolCall, render_turn
from kisa_tasks.agent.tools import Tool, Toolbox
from kisa_tasks.artefacts import ArtefactStore, Partition
from kisa_tasks.ingest.abstracts import to_tables
from kisa_tasks.settings import KisaSettings, load_settings
from kisa_tasks.specialties import WHOLE_CORPUS

KISA = str(Path(sys.executable).parent / "kisa")
PARAMS = {"type": "object", "properties": {"x": {"type": "string"}}}
THOUGHT = "Digoxin is a cardiac glycoside; the corpus should say what it treats."
QUERY = "digoxin heart failure"
ANSWER = "Heart failure"


def _script(*turns: str) -> Any:
    queue = list(turns)

    def policy(messages: Sequence[Message]) -> str:
        return queue.pop(0)

    return policy


def _toolbox() -> Toolbox:
    def boom(arguments: Mapping[str, Any]) -> str:
        raise RuntimeError("index unavailable")

    return Toolbox(
        {
            "echo": Tool("echo", "echo", PARAMS, lambda a: f"echo {a.get('x')}"),
            "boom": Tool("boom", "fails", PARAMS, boom),
        }
    )


def test_run_agent_reports_each_step_in_order_and_changes_nothing() -> None:
    turns = (
        render_turn("look twice", [ToolCall("echo", {"x": "1"}), ToolCall("boom", {"x": "2"})]),
        render_turn("found it", answer="42"),
    )
    events: list[Event] = []
    toolbox = _toolbox()
    try:
        watched = run_agent(_script(*turns), toolbox, "sys", "q?", on_event=events.append)
        unwatched = run_agent(_script(*turns), toolbox, "sys", "q?")
    finally:
        toolbox.close()
    assert watched == unwatched and watched.termination == "answered"
    assert [(e.kind, e.name) for e in events] == [
        ("assistant", ""),
        ("tool_call", "echo"),
        ("tool_call", "boom"),
        ("observation", "echo"),
        ("observation", "boom"),
        ("assistant", ""),
        ("end", "answered"),
    ]
    first, call, _, seen, failed, last, end = events
    assert first.think == "look twice" and first.answer is None and first.text == turns[0]
    assert call.arguments == {"x": "1"}
    assert seen.text == "echo 1" and seen.error is None
    assert failed.error is not None and failed.error.startswith("tool_error")
    assert failed.text in watched.messages[3]["content"]  # what the model read
    assert seen.took == failed.took >= 0  # one parallel batch, timed once
    assert last.think == "found it" and last.answer == "42"
    assert end.answer == "42" and end.text == ""
    assert [e.seconds for e in events] == sorted(e.seconds for e in events)


def test_every_ending_is_reported_even_before_any_turn() -> None:
    def down(messages: Sequence[Message]) -> str:
        raise ConnectionError("model endpoint down")

    events: list[Event] = []
    toolbox = _toolbox()
    try:
        run_agent(down, toolbox, "sys", "q?", Limits(), on_event=events.append)
    finally:
        toolbox.close()
    [end] = events
    assert (end.kind, end.name) == ("end", "policy_error") and "endpoint down" in end.text


def test_steps_render_as_short_lines() -> None:
    long = "x" * 1000
    observation = render_event(Event("observation", 1.5, text=long, name="search", took=0.25))
    assert "observation search 1000 chars, 0.25s" in observation.plain
    assert "x" * 400 + " ... [600 more chars]" in observation.plain
    assert "x" * 401 not in observation.plain
    error = render_event(Event("observation", 2, text='{"error": "timeout"}', name="visit",
                               error="timeout: no result in 20s"))  # fmt: skip
    assert "error visit" in error.plain and "timeout: no result in 20s" in error.plain
    turn = render_event(Event("assistant", 0.5, text="...", think="hmm", answer="A", took=0.4))
    assert turn.plain.splitlines() == ["[   0.50s] thought hmm", "  answer A (0.40s)"]
    said = render_event(Event("assistant", 0.5, text="I don't know the format"))
    assert "said I don't know the format" in said.plain
    call = render_event(Event("tool_call", 3, name="search", arguments={"query": ["a b"]}))
    assert call.plain == '[   3.00s] call search {"query": ["a b"]}'
    end = render_event(Event("end", 9, name="max_turns", text="no answer in 3 turns"))
    assert end.plain == "[   9.00s] end max_turns: no answer in 3 turns"


def _react_model(body: dict[str, Any]) -> tuple[str, Any]:
    """Searches once, then answers: the model a user would try by hand."""
    turns = sum(1 for m in body["messages"] if m["role"] == "assistant")
    if turns == 0:
        return ("answer", render_turn(THOUGHT, [ToolCall("search", {"query": [QUERY]})]))
    return ("answer", render_turn("The abstracts link digoxin to heart failure.", answer=ANSWER))


def _in_order(text: str, *parts: str) -> None:
    at = 0
    for part in parts:
        found = text.find(part, at)
        assert found >= 0, f"{part!r} missing (after position {at}) in:\n{text}"
        at = found + len(part)


def test_ask_shows_each_step_of_one_rollout(tmp_path: Path) -> None:
    """With an injected toolbox (no services): the library call and its output."""
    searched = Tool("search", "search", PARAMS, lambda a: f"1. [Digoxin trial] PMID 7 {a}")
    toolbox = Toolbox({"search": searched})
    console = Console(file=io.StringIO(), width=200)
    settings = load_settings(home=tmp_path)
    with FakeOpenAI() as server:
        server.responder = _react_model
        endpoint = Endpoint(server.base_url, "fake")
        try:
            rollout = ask("What does digoxin treat?", settings=settings, endpoint=endpoint,
                          console=console, protocol="react", toolbox=toolbox)  # fmt: skip
        finally:
            toolbox.close()
    assert rollout.termination == "answered" and rollout.answer == ANSWER
    printed = console.file.getvalue()  # type: ignore[attr-defined]
    steps = ("call search", "observation search", "Digoxin trial", f"answer {ANSWER}")
    _in_order(printed, "asking fake", "What does digoxin treat?", THOUGHT, *steps, "end answered")
    assert "Digoxin trial" in server.requests[1]["messages"][-1]["content"]


def _kisa(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KISA_LLM__")}
    return subprocess.run(
        [KISA, *args],
        env={**clean, "KISA_HOME": str(home), **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def _said(stream: str) -> str:
    """A message as one line (the error console wraps at 80 columns in a pipe)."""
    return " ".join(stream.split())


@pytest.fixture()
def corpus_run(settings: KisaSettings) -> str:
    """A committed whole-corpus abstracts partition: what the pipeline leaves."""
    run = "ask_t1"
    cites = [
        citation("101", "Digoxin in heart failure", "Digoxin improves symptoms in heart failure."),
        citation("102", "Warfarin and atrial fibrillation", "Warfarin prevents stroke."),
        citation("103", "Statins", "Atorvastatin lowers cholesterol."),
    ]
    store = ArtefactStore.from_settings(settings)
    store.write(Partition("abstracts", WHOLE_CORPUS, run), list(to_tables(cites)))
    assert latest_corpus_run(store) == run
    return run


def test_kisa_ask_runs_the_agent_live_against_a_real_server(
    kisa_home: Path, corpus_run: str
) -> None:
    with FakeOpenAI() as server:
        server.responder = _react_model
        result = _kisa(kisa_home, "ask", "What does digoxin treat?", "--base-url",
                       server.base_url, "--model", "fake", "--run", corpus_run)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    _in_order(result.stdout, f"fake at {server.base_url}", THOUGHT, "call search", QUERY,
              "observation search", "PMID 101", f"answer {ANSWER}", "end answered")  # fmt: skip
    # The model read the real search result of its call in its second turn.
    assert len(server.requests) == 2
    observation = server.requests[1]["messages"][-1]["content"]
    assert observation.startswith("<tool_response>") and "PMID 101" in observation
    assert "Digoxin in heart failure" in observation


def test_an_unreachable_endpoint_says_what_to_fix(kisa_home: Path, corpus_run: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again below: nothing listens there
    url = f"http://127.0.0.1:{port}/v1"
    result = _kisa(kisa_home, "ask", "Q?", "--base-url", url, "--model", "m", "--run",
                   corpus_run, KISA_LLM__MAX_ATTEMPTS="1")  # fmt: skip
    assert result.returncode == 1
    assert f"could not ask 'm' at {url}" in _said(result.stderr)
    assert "Is the server up? Check --base-url and --model" in _said(result.stderr)


def test_a_missing_endpoint_fails_before_any_work(tmp_path: Path) -> None:
    result = _kisa(tmp_path, "ask", "Q?")
    assert result.returncode == 1
    assert "KISA_LLM__BASE_URL is not set: pass --base-url" in _said(result.stderr)
    result = _kisa(tmp_path, "ask", "Q?", "--model", "http://127.0.0.1:8000/v1")
    assert result.returncode == 1
    assert "pass --base-url http://127.0.0.1:8000/v1" in _said(result.stderr)
    result = _kisa(tmp_path, "ask", "Q?", "--base-url", "http://127.0.0.1:1/v1")
    assert result.returncode == 1
    assert "KISA_LLM__MODEL is not set: pass --model" in _said(result.stderr)
    assert not (tmp_path / "llm-cache").exists()  # refused before anything was built
