"""The shared LLM client every LLM step uses.

- Any OpenAI-compatible endpoint through the ``openai`` SDK, async.
- A concurrency limit and a per-call QPS token bucket (per call, not per
  entity: the reference implementation's mistake).
- Retries with exponential backoff and jitter on 429, 5xx, timeouts and
  connection errors, within a bounded number of attempts; a server's
  ``Retry-After`` (seconds or an HTTP date; OpenAI's ``retry-after-ms``)
  is waited when longer, up to ``max_retry_after_s``.
- A response cache keyed by a hash of model, messages, sampling parameters and
  output schema. Throughput settings (concurrency, QPS, timeouts) are left out,
  so tuning never invalidates results and a rerun resumes without paying twice.
  Failures are never cached: a failed row is retried on the next run.
- Structured output validated against a JSON schema, with one repair retry
  that shows the model its invalid answer and the validation error.
- Token accounting, for the caller to log (MLflow ``llm.*`` metrics).
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import json
import random
import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema

from kisa_tasks.settings import KisaSettings

Message = Mapping[str, Any]
RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504}


class LLMError(RuntimeError):
    """A call failed for good (after retries); the reason is the message."""


@dataclass(frozen=True)
class Sampling:
    """Parameters that change the answer: part of the cache key."""

    temperature: float = 0.0
    max_tokens: int = 512
    top_p: float = 1.0
    seed: int | None = 0
    stop: tuple[str, ...] = ()  # generation ends before any of these strings


@dataclass
class Usage:
    calls: int = 0
    cache_hits: int = 0
    retries: int = 0
    failures: int = 0
    repairs: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def as_metrics(self) -> dict[str, int]:
        return dict(vars(self))


@dataclass(frozen=True)
class LLMResult:
    text: str
    data: Any | None  # parsed and validated JSON when a schema was given
    cached: bool
    key: str


class TokenBucket:
    """At most ``rate`` call starts per second, bursts up to ``burst``."""

    def __init__(self, rate: float, burst: int = 1) -> None:
        self.rate = rate
        self.capacity = float(burst)
        self.tokens = float(burst)
        self.updated = time.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        if self.rate <= 0:
            return
        async with self._lock:
            while True:
                now = time.monotonic()
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                await asyncio.sleep((1 - self.tokens) / self.rate)


class ResponseCache:
    """Answers by key in SQLite: one file, safe across processes."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        with self._connect() as con:
            con.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, text TEXT)")

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30)

    def get(self, key: str) -> str | None:
        with self._connect() as con:
            row = con.execute("SELECT text FROM responses WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def put(self, key: str, text: str) -> None:
        with self._connect() as con:
            con.execute("INSERT OR REPLACE INTO responses (key, text) VALUES (?, ?)", (key, text))


def cache_key(
    model: str,
    messages: Sequence[Message],
    sampling: Sampling,
    schema: Mapping[str, Any] | None,
    tools: Sequence[Mapping[str, Any]] | None = None,
    options: Mapping[str, Any] | None = None,
    endpoint: str = "",
    weights: str = "",
) -> str:
    # Fields at their defaults stay out, so the keys of earlier requests hold.
    parameters = {k: v for k, v in vars(sampling).items() if not (k == "stop" and not v)}
    request: dict[str, Any] = {
        "model": model,
        "messages": list(messages),
        "sampling": parameters,
        "schema": schema,
    }
    if tools is not None:
        request["tools"] = list(tools)
    if options:
        request["options"] = dict(options)
    if endpoint:  # one model name on two servers may be two sets of weights
        request["endpoint"] = endpoint
    if weights:  # ... and so may one server over time
        request["weights"] = weights
    payload = json.dumps(
        request,
        sort_keys=True,
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def parse_json_answer(text: str, schema: Mapping[str, Any]) -> Any:
    """The JSON object in ``text`` (code fences allowed), validated; raises
    ``ValueError`` naming what is wrong."""
    body = text.strip()
    if body.startswith("```"):
        body = body.strip("`")
        body = body.split("\n", 1)[1] if "\n" in body else body
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end < start:
        raise ValueError("no JSON object in the answer")
    try:
        data = json.loads(body[start : end + 1])
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON: {exc}") from None
    try:
        jsonschema.validate(data, schema)
    except jsonschema.ValidationError as exc:
        raise ValueError(f"schema violation at {list(exc.absolute_path)}: {exc.message}") from None
    return data


def retry_after(headers: Mapping[str, str]) -> float:
    """Seconds a 429/503 asks the client to wait (0 when it does not say).

    >>> retry_after({"retry-after-ms": "250"}), retry_after({"retry-after": "2"})
    (0.25, 2.0)
    >>> retry_after({"retry-after": "soon"})
    0.0
    """
    if ms := headers.get("retry-after-ms"):
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return 0.0
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return 0.0
        return max(0.0, when.timestamp() - time.time())


def thinking_options(structured_thinking: bool | None) -> dict[str, Any]:
    """The request fields that switch a chat template's reasoning block on or
    off for structured calls (none: the model's default)."""
    if structured_thinking is None:
        return {}
    return {"chat_template_kwargs": {"enable_thinking": structured_thinking}}


def provenance(prompt: str, model: str, endpoint: str, weights: str) -> str:
    """The ``provenance`` column of an LLM-made row (JSON; "" for rows no
    model wrote).

    >>> provenance("triples-v2", "qwen", "http://h:8000/v1", "")
    '{"endpoint": "http://h:8000/v1", "model": "qwen", "prompt": "triples-v2", "weights": ""}'
    """
    fields = {"prompt": prompt, "model": model, "endpoint": endpoint, "weights": weights}
    return json.dumps(fields, sort_keys=True)


@dataclass
class LLMClient:
    base_url: str
    model: str
    api_key: str = "not-needed"
    timeout_s: float = 60.0
    max_concurrency: int = 4
    qps: float = 0.0  # 0 = unlimited
    max_attempts: int = 5
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    max_retry_after_s: float = 120.0
    cache: ResponseCache | None = None
    usage: Usage = field(default_factory=Usage)
    # False: every structured call (a JSON schema) asks the chat template to
    # skip the reasoning block (Qwen3's ``enable_thinking``), so a small token
    # budget is spent on the answer, not on thoughts. None: the model's default.
    structured_thinking: bool | None = None
    # What the server names as the weights behind ``model`` (``llm.endpoint``).
    weights: str = ""

    def __post_init__(self) -> None:
        from openai import AsyncOpenAI

        # Retries are ours (with jitter and accounting), not the SDK's.
        self._client = AsyncOpenAI(
            base_url=self.base_url, api_key=self.api_key, timeout=self.timeout_s, max_retries=0
        )
        self._semaphore = asyncio.Semaphore(self.max_concurrency)
        self._bucket = TokenBucket(self.qps, burst=max(1, int(self.qps) or 1))

    def provenance(self, prompt: str) -> str:
        """Where an LLM-made row came from, as the row's ``provenance`` column
        records it: prompt id and version, model, endpoint, weights."""
        return provenance(prompt, self.model, self.base_url, self.weights)

    def _options(self, schema: Mapping[str, Any] | None) -> dict[str, Any]:
        """Request fields beyond the OpenAI API's (vLLM's ``chat_template_kwargs``)."""
        return thinking_options(self.structured_thinking) if schema is not None else {}

    async def complete_with_tools(
        self,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]],
        *,
        sampling: Sampling | None = None,
    ) -> LLMResult:
        """One chat completion in the native tool-call protocol; ``data`` is
        ``{"content": str, "tool_calls": [{"id", "name", "arguments"}]}`` with
        the arguments as the model wrote them (a JSON string, maybe broken)."""
        sampling = sampling or Sampling()
        key = cache_key(
            self.model, messages, sampling, None, tools,
            endpoint=self.base_url, weights=self.weights,
        )  # fmt: skip
        if self.cache is not None and (hit := self.cache.get(key)) is not None:
            self.usage.cache_hits += 1
            return LLMResult(hit, json.loads(hit), cached=True, key=key)
        text = await self._call(messages, sampling, None, tools)
        if self.cache is not None:
            self.cache.put(key, text)
        return LLMResult(text, json.loads(text), cached=False, key=key)

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        sampling: Sampling | None = None,
        schema: Mapping[str, Any] | None = None,
    ) -> LLMResult:
        """One chat completion; with ``schema``, validated JSON (one repair try)."""
        sampling = sampling or Sampling()
        key = cache_key(
            self.model, messages, sampling, schema,
            options=self._options(schema), endpoint=self.base_url, weights=self.weights,
        )  # fmt: skip
        if self.cache is not None and (hit := self.cache.get(key)) is not None:
            self.usage.cache_hits += 1
            data = parse_json_answer(hit, schema) if schema else None
            return LLMResult(hit, data, cached=True, key=key)
        text = await self._call(messages, sampling, schema)
        data = None
        if schema is not None:
            try:
                data = parse_json_answer(text, schema)
            except ValueError as first_error:
                self.usage.repairs += 1
                repair = [
                    *messages,
                    {"role": "assistant", "content": text},
                    {
                        "role": "user",
                        "content": f"That answer is not valid: {first_error}. Reply with only "
                        "a JSON object that satisfies the schema.",
                    },
                ]
                text = await self._call(repair, sampling, schema)
                try:
                    data = parse_json_answer(text, schema)
                except ValueError as exc:
                    self.usage.failures += 1
                    raise LLMError(f"invalid structured output after one repair: {exc}") from None
        if self.cache is not None:
            self.cache.put(key, text)
        return LLMResult(text, data, cached=False, key=key)

    async def _call(
        self,
        messages: Sequence[Message],
        sampling: Sampling,
        schema: Mapping[str, Any] | None,
        tools: Sequence[Mapping[str, Any]] | None = None,
    ) -> str:
        """The completion's text; with ``tools``, its content and tool calls as JSON."""
        import openai

        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": list(messages),
            "temperature": sampling.temperature,
            "max_tokens": sampling.max_tokens,
            "top_p": sampling.top_p,
        }
        if sampling.seed is not None:
            kwargs["seed"] = sampling.seed
        if sampling.stop:
            kwargs["stop"] = list(sampling.stop)
        if schema is not None:
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": dict(schema)},
            }
        if options := self._options(schema):
            kwargs["extra_body"] = options
        if tools is not None:
            kwargs["tools"] = list(tools)
        last_error = "no attempt made"
        for attempt in range(1, self.max_attempts + 1):
            asked = 0.0  # what the server asked us to wait, if it did
            async with self._semaphore:
                await self._bucket.acquire()
                self.usage.calls += 1
                try:
                    response = await self._client.chat.completions.create(**kwargs)
                except (openai.APITimeoutError, openai.APIConnectionError) as exc:
                    last_error = f"{type(exc).__name__}: {exc}"
                except openai.APIStatusError as exc:
                    if exc.status_code not in RETRYABLE_STATUS:
                        self.usage.failures += 1
                        raise LLMError(f"HTTP {exc.status_code}: {exc.message}") from None
                    last_error = f"HTTP {exc.status_code}"
                    asked = min(self.max_retry_after_s, retry_after(exc.response.headers))
                else:
                    if response.usage is not None:
                        self.usage.prompt_tokens += response.usage.prompt_tokens or 0
                        self.usage.completion_tokens += response.usage.completion_tokens or 0
                    message = response.choices[0].message if response.choices else None
                    content = message.content if message is not None else None
                    if tools is not None and message is not None:
                        calls = [
                            {"id": c.id, "name": c.function.name, "arguments": c.function.arguments}
                            for c in message.tool_calls or ()
                            if c.type == "function"
                        ]
                        if content is not None or calls:
                            return json.dumps({"content": content or "", "tool_calls": calls})
                        last_error = "empty completion"
                    elif content is None:
                        last_error = "empty completion"
                    else:
                        return str(content)
            if attempt < self.max_attempts:
                self.usage.retries += 1
                delay = min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1))
                delay *= 0.5 + random.random() / 2  # noqa: S311 - jitter
                await asyncio.sleep(max(delay, asked))
        self.usage.failures += 1
        raise LLMError(f"gave up after {self.max_attempts} attempts: {last_error}")

    async def aclose(self) -> None:
        await self._client.close()


def client_options(settings: KisaSettings) -> dict[str, Any]:
    """The extra request fields the settings give every structured call."""
    return thinking_options(None if settings.llm.structured_thinking == "model" else False)


def client_from_settings(settings: KisaSettings, **overrides: Any) -> LLMClient:
    """The client for the configured endpoint (``KISA_LLM__*`` or the ``kisa_llm``
    Airflow connection), with its response cache under the state directory.
    ``base_url`` and ``model`` overrides name another endpoint with the same
    limits (a calibration solver)."""
    llm = settings.llm
    base_url = overrides.pop("base_url", None) or settings.require(
        llm.base_url,
        "KISA_LLM__BASE_URL",
        "an OpenAI-compatible endpoint, e.g. http://host:8000/v1",
    )
    model = overrides.pop("model", None) or settings.require(
        llm.model, "KISA_LLM__MODEL", "the model name the endpoint serves"
    )
    options: dict[str, Any] = {
        "api_key": llm.api_key.get_secret_value() if llm.api_key else "not-needed",
        "timeout_s": llm.timeout_s,
        "max_concurrency": llm.max_concurrency,
        "qps": llm.qps,
        "max_attempts": llm.max_attempts,
        "structured_thinking": None if llm.structured_thinking == "model" else False,
        "cache": ResponseCache(settings.home / "llm-cache" / "responses.sqlite"),
    }
    options.update(overrides)
    if "weights" not in options:
        from kisa_tasks.llm.endpoint import served_weights

        options["weights"] = served_weights(str(base_url), options["api_key"], str(model))
    return LLMClient(base_url=str(base_url), model=str(model), **options)
