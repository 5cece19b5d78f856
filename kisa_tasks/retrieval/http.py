"""A small synchronous HTTP client for public APIs: a per-call rate limit,
bounded retries with exponential backoff and jitter on 429, 5xx, timeouts and
connection errors, and an error that names the service and what to fix.

The API key, when configured, travels as a query parameter the service names
(NCBI and openFDA both use ``api_key``, and NCBI takes it no other way). It
is added by the transport as the request leaves (``KeyedTransport``), so the
request httpx logs ("HTTP Request: GET ...") and errors name never holds it,
and any text of ours that could carry it (a service's error body echoes it)
goes out with the key masked.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

log = logging.getLogger(__name__)
RETRYABLE = {408, 429, 500, 502, 503, 504}


class SourceError(RuntimeError):
    """A search source failed for good; the message says which and why."""


class KeyedTransport(httpx.BaseTransport):
    """``inner`` with ``param=key`` added to each request's query on the way out."""

    def __init__(self, inner: httpx.BaseTransport, param: str, key: str) -> None:
        self._inner, self._param, self._key = inner, param, key

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        keyed = httpx.Request(
            request.method,
            request.url.copy_add_param(self._param, self._key),
            headers=request.headers,
            stream=request.stream,
            extensions=request.extensions,
        )
        return self._inner.handle_request(keyed)

    def close(self) -> None:
        self._inner.close()


class RateLimiter:
    """At most ``rate`` call starts per second, shared by every thread."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            time.sleep(start - now)


@dataclass
class HttpSource:
    """Shared by the adapters: base URL, key parameter, limits, retries."""

    name: str
    base_url: str
    rate_per_s: float
    api_key: str | None = None
    api_key_param: str = "api_key"
    timeout_s: float = 30.0
    max_attempts: int = 4
    backoff_s: float = 1.0
    # Services that answer 200 with an error body (NCBI's rate limit) say so here.
    error_in_body: Callable[[httpx.Response], str | None] = lambda _response: None
    _client: httpx.Client = field(init=False, repr=False)
    _limiter: RateLimiter = field(init=False, repr=False)

    def __post_init__(self) -> None:
        transport: httpx.BaseTransport = httpx.HTTPTransport()
        if self.api_key:
            transport = KeyedTransport(transport, self.api_key_param, self.api_key)
        self._client = httpx.Client(
            base_url=self.base_url,
            timeout=self.timeout_s,
            headers={"User-Agent": "kisa/0.1"},
            transport=transport,
        )
        self._limiter = RateLimiter(self.rate_per_s)

    def _masked(self, text: str) -> str:
        return text.replace(self.api_key, "***") if self.api_key else text

    def get(self, path: str, params: Mapping[str, Any]) -> httpx.Response:
        query = dict(params)
        last = "no attempt"
        for attempt in range(1, self.max_attempts + 1):
            self._limiter.wait()
            try:
                response = self._client.get(path, params=query)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                last = self._masked(f"{type(exc).__name__}: {exc}")
            else:
                body_error = self.error_in_body(response) if response.status_code == 200 else None
                if response.status_code == 200 and body_error is None:
                    return response
                if response.status_code not in RETRYABLE and body_error is None:
                    raise SourceError(
                        self._masked(
                            f"{self.name}: HTTP {response.status_code} for {self.base_url}{path}: "
                            f"{response.text[:300]}"
                        )
                    )
                last = self._masked(body_error or f"HTTP {response.status_code}")
            if attempt < self.max_attempts:
                delay = self.backoff_s * 2 ** (attempt - 1) * (0.5 + random.random() / 2)  # noqa: S311
                log.info("%s: %s, retrying in %.1fs", self.name, last, delay)
                time.sleep(delay)
        raise SourceError(
            self._masked(
                f"{self.name}: gave up after {self.max_attempts} attempts on "
                f"{self.base_url}{path}: {last} (set an API key to raise the rate limit, or "
                "lower the request rate)"
            )
        )

    def close(self) -> None:
        self._client.close()
