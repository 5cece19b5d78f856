"""The shared LLM client against a real local server that fails on demand."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from fakes.openai_server import FakeOpenAI

from kisa_tasks.llm.client import (
    LLMClient,
    LLMError,
    ResponseCache,
    Sampling,
    cache_key,
    parse_json_answer,
)

SCHEMA = {
    "type": "object",
    "properties": {"entities": {"type": "array", "items": {"type": "string"}}},
    "required": ["entities"],
}
MESSAGES = [{"role": "user", "content": "List the drugs in: aspirin helps."}]


def _client(server: FakeOpenAI, tmp_path: Path | None = None, **kw: object) -> LLMClient:
    cache = ResponseCache(tmp_path / "cache.sqlite") if tmp_path else None
    return LLMClient(
        base_url=server.base_url,
        model="fake",
        backoff_s=0.01,
        cache=cache,
        **kw,  # type: ignore[arg-type]
    )


def test_429_and_500_are_retried_then_answered() -> None:
    with FakeOpenAI() as server:
        server.script.extend([("status", 429), ("status", 500), ("status", 503)])
        client = _client(server)
        result = asyncio.run(client.complete(MESSAGES, schema=SCHEMA))
        assert result.data == {"entities": []}
        assert len(server.requests) == 4
        assert client.usage.retries == 3 and client.usage.failures == 0
        assert client.usage.prompt_tokens == 11


def test_a_429_waits_as_long_as_its_retry_after_says() -> None:
    with FakeOpenAI() as server:
        server.script.extend([("retry_after", (429, "1.5")), ("retry_after", (503, "0"))])
        client = _client(server)  # its own backoff is 10 ms
        result = asyncio.run(client.complete(MESSAGES, schema=SCHEMA))
        assert result.data == {"entities": []} and len(server.requests) == 3
        first, second, third = server.request_times
        assert second - first >= 1.5 and third - second < 1.0


def test_a_retry_after_beyond_the_cap_waits_the_cap() -> None:
    with FakeOpenAI() as server:
        server.script.append(("retry_after", (429, "3600")))
        client = _client(server, max_retry_after_s=0.5)
        asyncio.run(client.complete(MESSAGES))
        assert 0.5 <= server.request_times[1] - server.request_times[0] < 5


def test_a_429_storm_gives_up_within_bounds_with_the_reason() -> None:
    with FakeOpenAI() as server:
        server.script.extend([("status", 429)] * 10)
        client = _client(server, max_attempts=3)
        with pytest.raises(LLMError, match="gave up after 3 attempts: HTTP 429"):
            asyncio.run(client.complete(MESSAGES))
        assert len(server.requests) == 3 and client.usage.failures == 1


def test_a_client_error_is_not_retried() -> None:
    with FakeOpenAI() as server:
        server.script.append(("status", 400))
        client = _client(server)
        with pytest.raises(LLMError, match="HTTP 400"):
            asyncio.run(client.complete(MESSAGES))
        assert len(server.requests) == 1


def test_timeouts_are_retried() -> None:
    with FakeOpenAI() as server:
        server.script.append(("slow", 2.0))
        client = _client(server, timeout_s=0.5)
        result = asyncio.run(client.complete(MESSAGES))
        assert result.text == '{"entities": []}'
        assert client.usage.retries == 1


def test_broken_json_gets_one_repair_then_fails_without_caching(tmp_path: Path) -> None:
    with FakeOpenAI() as server:
        server.script.extend([("answer", "{entities: [aspirin]}"), ("answer", '{"entities": 3}')])
        client = _client(server, tmp_path)
        with pytest.raises(LLMError, match="after one repair: schema violation"):
            asyncio.run(client.complete(MESSAGES, schema=SCHEMA))
        repair_prompt = server.requests[1]["messages"][-1]["content"]
        assert "not valid" in repair_prompt and "invalid JSON" in repair_prompt
        # Nothing was cached: the next run asks again and succeeds.
        result = asyncio.run(client.complete(MESSAGES, schema=SCHEMA))
        assert result.data == {"entities": []} and not result.cached


def test_repair_succeeds_on_the_second_answer() -> None:
    with FakeOpenAI() as server:
        server.script.extend([("answer", "Sure! aspirin"), ("answer", '{"entities": ["aspirin"]}')])
        client = _client(server)
        result = asyncio.run(client.complete(MESSAGES, schema=SCHEMA))
        assert result.data == {"entities": ["aspirin"]} and client.usage.repairs == 1


def test_cache_resumes_without_paying_twice_and_ignores_throughput(tmp_path: Path) -> None:
    with FakeOpenAI() as server:
        first = asyncio.run(_client(server, tmp_path).complete(MESSAGES, schema=SCHEMA))
        tuned = _client(server, tmp_path, max_concurrency=16, qps=50.0, timeout_s=5.0)
        again = asyncio.run(tuned.complete(MESSAGES, schema=SCHEMA))
        assert again.cached and again.data == first.data and len(server.requests) == 1
        other = asyncio.run(tuned.complete(MESSAGES, schema=SCHEMA, sampling=Sampling(seed=1)))
        assert not other.cached and len(server.requests) == 2


def test_qps_limits_call_starts() -> None:
    with FakeOpenAI() as server:
        client = _client(server, qps=5.0)

        async def many() -> None:
            await asyncio.gather(
                *(client.complete([{"role": "user", "content": str(i)}]) for i in range(15))
            )

        started = time.perf_counter()
        asyncio.run(many())
        took = time.perf_counter() - started
        times = server.request_times
        # 15 calls at 5/s with a burst of 5: the last 10 wait for 2 s of refills.
        # (Wide margins: arrival times at the server jitter on a loaded machine.)
        assert took >= 1.8 and times[-1] - times[0] >= 1.5


def test_cache_key_covers_what_changes_the_answer() -> None:
    base = cache_key("m", MESSAGES, Sampling(), SCHEMA)
    assert base == cache_key("m", list(MESSAGES), Sampling(), dict(SCHEMA))
    assert base != cache_key("m2", MESSAGES, Sampling(), SCHEMA)
    assert base != cache_key("m", MESSAGES, Sampling(temperature=0.7), SCHEMA)
    assert base != cache_key("m", MESSAGES, Sampling(), None)
    assert base != cache_key("m", MESSAGES, Sampling(stop=("<tool_response>",)), SCHEMA)
    thinking_off = {"chat_template_kwargs": {"enable_thinking": False}}
    assert base != cache_key("m", MESSAGES, Sampling(), SCHEMA, options=thinking_off)
    here = cache_key("m", MESSAGES, Sampling(), SCHEMA, endpoint="http://a:8000/v1")
    assert here != cache_key("m", MESSAGES, Sampling(), SCHEMA, endpoint="http://b:8000/v1")


def test_thinking_can_be_turned_off_for_every_structured_call() -> None:
    """Qwen3 on vLLM reasons before it answers unless told not to: with the
    setting off, a schema call says so; a free-text call is left alone."""
    with FakeOpenAI() as server:
        server.script.extend([("answer", '{"entities": ["aspirin"]}'), ("answer", "text")])
        client = _client(server, structured_thinking=False)
        data = asyncio.run(client.complete(MESSAGES, schema=SCHEMA)).data
        asyncio.run(client.complete(MESSAGES))
        structured, free = server.requests
    assert data == {"entities": ["aspirin"]}
    assert structured["chat_template_kwargs"] == {"enable_thinking": False}
    assert "chat_template_kwargs" not in free


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("no json here", "no JSON object"),
        ("{'a': 1}", "invalid JSON"),
        ('{"entities": "x"}', "schema violation at ['entities']"),
    ],
)
def test_parse_json_answer_names_the_problem(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error.replace("[", r"\[").replace("]", r"\]")):
        parse_json_answer(text, SCHEMA)


def test_parse_json_answer_accepts_code_fences() -> None:
    assert parse_json_answer('```json\n{"entities": ["a"]}\n```', SCHEMA) == {"entities": ["a"]}


def test_settings_build_the_client_or_name_the_missing_variable(tmp_path: Path) -> None:
    from kisa_tasks.llm.client import client_from_settings
    from kisa_tasks.settings import SettingsError, load_settings

    with pytest.raises(SettingsError, match="KISA_LLM__BASE_URL"):
        client_from_settings(load_settings(home=tmp_path))
    with FakeOpenAI() as server:
        settings = load_settings(
            home=tmp_path, llm={"base_url": server.base_url, "model": "fake", "api_key": "k"}
        )
        client = client_from_settings(settings, backoff_s=0.01)
        assert asyncio.run(client.complete(MESSAGES)).text == '{"entities": []}'
        assert (tmp_path / "llm-cache" / "responses.sqlite").exists()
