"""``kisa ask``: one question, one rollout, every step shown as it happens.

For trying a model by hand: the model gets the same system prompt, tools
(search, medical_search and visit over a run's corpus) and protocol as the
``trajectories`` stage gives it, and each step is printed live (thought, tool
call, observation, answer) with its timing. The formatting (``render_event``)
is pure, apart from the console that prints it.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass

from rich.console import Console
from rich.text import Text

from kisa_tasks.agent.loop import Event, Limits, Rollout, run_agent
from kisa_tasks.agent.mtg import SYSTEM_PROMPT
from kisa_tasks.agent.stage import PROTOCOLS, llm_policy, run_toolbox
from kisa_tasks.agent.tools import Toolbox
from kisa_tasks.artefacts import ArtefactStore
from kisa_tasks.artefacts.store import NotCommittedError
from kisa_tasks.llm.client import client_from_settings
from kisa_tasks.llm.sync import LLMGateway
from kisa_tasks.settings import KisaSettings, SettingsError
from kisa_tasks.specialties import WHOLE_CORPUS

OBSERVATION_CHARS = 400  # of each tool output shown; the model reads all of it
# The trajectories stage's limits, so a model tried here meets the same budget.
ASK_LIMITS = Limits(max_turns=30, max_tool_calls=80)


@dataclass(frozen=True)
class Endpoint:
    base_url: str
    model: str


def resolve_endpoint(settings: KisaSettings, base_url: str | None, model: str | None) -> Endpoint:
    """The model to ask: the given URL and name over ``KISA_LLM__*``; an
    error naming what to set when either is missing."""
    if model and model.startswith(("http://", "https://")):
        raise SettingsError(
            f"--model takes the model's name, not an endpoint: pass --base-url {model}"
        )
    url = settings.require(
        base_url or settings.llm.base_url,
        "KISA_LLM__BASE_URL",
        "pass --base-url with an OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1",
    )
    name = settings.require(
        model or settings.llm.model, "KISA_LLM__MODEL", "pass --model with the name it serves"
    )
    return Endpoint(str(url), str(name))


def latest_corpus_run(store: ArtefactStore) -> str:
    """The run whose whole-corpus abstracts were committed last."""
    run = store.latest_run("abstracts", WHOLE_CORPUS)
    if run is None:
        raise NotCommittedError(
            "no committed corpus to search: run `make demo` or kisa_pipeline first"
        )
    return run


def ask(
    question: str,
    *,
    settings: KisaSettings,
    endpoint: Endpoint,
    console: Console,
    run_id: str | None = None,
    protocol: str | None = None,
    limits: Limits = ASK_LIMITS,
    toolbox: Toolbox | None = None,
) -> Rollout:
    """One rollout of ``question`` by the model at ``endpoint``, printed step
    by step on ``console``. The tools are the embedded ones over the corpus
    of ``run_id`` (default: the latest), unless a ``toolbox`` is given."""
    protocol = protocol or settings.agent.protocol
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; accepted: {PROTOCOLS}")
    own_toolbox = toolbox is None
    if toolbox is None:
        store = ArtefactStore.from_settings(settings)
        run_id = run_id or latest_corpus_run(store)
        with console.status(f"loading the search index of run {run_id} ..."):
            toolbox = run_toolbox(settings, store, run_id)
    # No response cache: a question asked again must reach the model again,
    # or the timings shown would be the cache's (and its key has no base URL).
    make_client = functools.partial(
        client_from_settings,
        settings,
        base_url=endpoint.base_url,
        model=endpoint.model,
        cache=None,
    )
    where = f" over the corpus of run {run_id}" if run_id else ""
    console.print(
        Text.assemble(
            ("asking ", "bold"),
            (endpoint.model, "bold cyan"),
            f" at {endpoint.base_url} ({protocol} protocol){where}",
        )
    )
    console.print(Text.assemble(("question: ", "bold"), question))
    try:
        with (
            LLMGateway(make_client) as gateway,
            console.status("the model is thinking ...") as status,
        ):
            policy = llm_policy(gateway, protocol, toolbox)

            def show(event: Event) -> None:
                console.print(render_event(event), soft_wrap=True)  # the terminal wraps
                calling = event.kind == "tool_call"
                status.update("running the tools ..." if calling else "the model is thinking ...")

            return run_agent(policy, toolbox, SYSTEM_PROMPT, question, limits, on_event=show)
    finally:
        if own_toolbox:
            toolbox.close()


def render_event(event: Event, max_chars: int = OBSERVATION_CHARS) -> Text:
    """One step as a terminal line (or a few), headed by its time since the start."""
    head = Text(f"[{event.seconds:7.2f}s] ", style="dim")
    if event.kind == "assistant":
        parts: list[Text] = []
        if event.think:
            parts.append(Text.assemble(("thought ", "bold"), (event.think, "dim italic")))
        if event.answer is not None:
            parts.append(Text.assemble(("answer ", "bold"), (event.answer, "bold green")))
        if not parts and "<tool_call>" not in event.text:
            # Neither thought, call nor answer: show what the model wrote instead.
            parts.append(Text.assemble(("said ", "bold"), (clip(event.text, max_chars), "dim")))
        took = Text(f" ({event.took:.2f}s)", style="dim")
        return Text.assemble(head, *_joined(parts or [Text("(tool calls only)", "dim")]), took)
    if event.kind == "tool_call":
        arguments = json.dumps(dict(event.arguments), ensure_ascii=False)
        return Text.assemble(head, ("call ", "bold"), (event.name, "bold cyan"), f" {arguments}")
    if event.kind == "observation":
        size = f" {len(event.text)} chars, {event.took:.2f}s"
        if event.error is not None:
            return Text.assemble(
                head, ("error ", "bold red"), (event.name, "cyan"), (size, "dim"), "\n",
                (event.error, "red"),
            )  # fmt: skip
        return Text.assemble(
            head, ("observation ", "bold"), (event.name, "cyan"), (size, "dim"), "\n",
            (clip(event.text, max_chars), "default"),
        )  # fmt: skip
    style = "bold green" if event.name == "answered" else "bold yellow"
    detail = f": {event.text}" if event.text else ""
    return Text.assemble(head, ("end ", "bold"), (event.name, style), detail)


def clip(text: str, max_chars: int) -> str:
    """``text`` cut to ``max_chars``, saying how much was left out."""
    if len(text) <= max_chars:
        return text
    return f"{text[:max_chars]} ... [{len(text) - max_chars} more chars]"


def _joined(parts: list[Text]) -> list[Text | str]:
    out: list[Text | str] = []
    for i, part in enumerate(parts):
        out += [part] if i == 0 else ["\n  ", part]
    return out
