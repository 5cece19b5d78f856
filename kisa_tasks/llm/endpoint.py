"""What the configured endpoint is and can do, asked once before a run uses it.

- ``served_weights``: what the server says it serves under the model name
  (``/v1/models``: a ``digest`` where the server gives one, else vLLM's
  ``root``, the weights' path or hub id). It is part of every LLM-made row's
  provenance and of the response-cache key, so different weights served
  under one name never reuse each other's answers.
- ``capability_problems``: a structured-output probe (``response_format``
  with a JSON schema) and, for the native tool-call protocol, a tool probe.
  Each problem names the server flag to add: a server that ignores the
  schema or returns tool calls as text would otherwise fail every request
  of a run, one refusal at a time.
"""

from __future__ import annotations

import json
from typing import Any

SCHEMA_PROBE: dict[str, Any] = {
    "type": "object",
    "properties": {"ok": {"type": "string", "enum": ["yes"]}},
    "required": ["ok"],
    "additionalProperties": False,
}
TOOL_PROBE: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "echo",
            "description": "Repeat a word.",
            "parameters": {
                "type": "object",
                "properties": {"word": {"type": "string"}},
                "required": ["word"],
            },
        },
    }
]
SCHEMA_FIX = (
    "serve the model with structured outputs (vLLM: on by default, backend chosen by "
    "--guided-decoding-backend; llama.cpp: a build with JSON-schema grammars), or point "
    "KISA_LLM__BASE_URL at an endpoint that honours response_format json_schema"
)
TOOLS_FIX = (
    "start vLLM with --enable-auto-tool-choice --tool-call-parser hermes (Qwen; the "
    "parser of your model's family otherwise), or set KISA_AGENT__PROTOCOL=react"
)


def _client(base_url: str, api_key: str, timeout_s: float) -> Any:
    from openai import OpenAI

    return OpenAI(base_url=base_url, api_key=api_key, timeout=timeout_s, max_retries=1)


_WEIGHTS: dict[tuple[str, str], str] = {}


def served_weights(base_url: str, api_key: str, model: str, timeout_s: float = 10.0) -> str:
    """The weights the server names for ``model``: a ``digest``, vLLM's
    ``root``, or llama.cpp's size and quantisation; "" when it names none.
    Asked once per process and endpoint; a server that does not answer is
    asked again next time."""
    import openai

    key = (base_url, model)
    if key in _WEIGHTS:
        return _WEIGHTS[key]
    try:
        listed = _client(base_url, api_key, timeout_s).models.list()
    except (openai.APIError, ValueError):
        return ""
    weights = ""
    for card in listed.data:
        if card.id == model:
            extra = card.model_extra or {}
            meta = extra.get("meta") or {}
            weights = str(extra.get("digest") or extra.get("root") or "")
            if not weights and meta:
                weights = f"{meta.get('n_params')} params, {meta.get('size')} bytes, " + str(
                    meta.get("ftype", "")
                )
    _WEIGHTS[key] = weights
    return weights


def capability_problems(
    base_url: str,
    api_key: str,
    model: str,
    *,
    tools: bool,
    options: dict[str, Any] | None = None,
    timeout_s: float = 60.0,
) -> list[str]:
    """What the endpoint fails to do that a run needs, each with its fix."""
    import openai

    client = _client(base_url, api_key, timeout_s)
    problems = []
    try:
        reply = client.chat.completions.create(
            model=model,
            messages=[
                {"role": "system", "content": "Reply with JSON only."},
                {"role": "user", "content": 'Reply {"ok": "yes"}.'},
            ],
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "probe", "schema": SCHEMA_PROBE},
            },
            temperature=0.0,
            max_tokens=32,
            extra_body=options or None,
        )
        text = reply.choices[0].message.content or ""
        try:
            if json.loads(text) != {"ok": "yes"}:
                raise ValueError
        except ValueError:
            problems.append(
                f"the endpoint ignores response_format json_schema (it answered {text[:60]!r}): "
                f"{SCHEMA_FIX}"
            )
    except openai.APIStatusError as exc:
        problems.append(
            f"the endpoint refuses response_format json_schema (HTTP {exc.status_code}: "
            f"{str(exc.message)[:160]}): {SCHEMA_FIX}"
        )
    if not tools:
        return problems
    try:
        reply = client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "Call the echo tool with the word yes."}],
            tools=TOOL_PROBE,
            tool_choice="auto",
            temperature=0.0,
            max_tokens=64,
        )
        message = reply.choices[0].message
        if not message.tool_calls:
            written = "<tool_call>" in (message.content or "")
            problems.append(
                ("the endpoint returns tool calls as text" if written else
                 "the model answered the tool probe without a tool call") + f": {TOOLS_FIX}"
            )  # fmt: skip
    except openai.APIStatusError as exc:
        problems.append(
            f"the endpoint refuses tools (HTTP {exc.status_code}: {str(exc.message)[:160]}): "
            f"{TOOLS_FIX}"
        )
    return problems
