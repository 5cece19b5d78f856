"""Many LLM requests through one client: bounded concurrency (the client's),
progress in the log, and a failure per request kept as data, never raised.

A failed request is returned with its reason so the stage can record the row
as failed; the client never caches failures, so the next run asks again while
every answer that succeeded comes back from the cache for free.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kisa_tasks.llm.client import LLMClient, LLMError, LLMResult, Message, Sampling

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LLMRequest:
    key: str  # what the answer belongs to (a pmid, an entity id, ...)
    messages: Sequence[Message]
    schema: Mapping[str, Any] | None = None  # overrides the batch's schema


@dataclass(frozen=True)
class LLMOutcome:
    key: str
    result: LLMResult | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.result is not None

    @property
    def data(self) -> Any:
        """The validated JSON answer of a successful request."""
        if self.result is None:
            raise LookupError(f"request {self.key} failed: {self.error}")
        return self.result.data


async def complete_all(
    client: LLMClient,
    requests: Sequence[LLMRequest],
    *,
    schema: Mapping[str, Any] | None = None,
    sampling: Sampling | None = None,
    label: str = "llm",
    progress_every: int = 50,
) -> list[LLMOutcome]:
    """Answers in request order; the client's semaphore and QPS bucket bound
    what runs at once, so all requests can be scheduled together."""
    done = 0
    failed = 0
    started = time.monotonic()

    async def one(request: LLMRequest) -> LLMOutcome:
        nonlocal done, failed
        try:
            result = await client.complete(
                request.messages,
                schema=schema if request.schema is None else request.schema,
                sampling=sampling,
            )
            outcome = LLMOutcome(request.key, result, None)
        except LLMError as exc:
            failed += 1
            outcome = LLMOutcome(request.key, None, str(exc))
        done += 1
        if done % progress_every == 0 or done == len(requests):
            log.info(
                "%s: %d/%d answered (%d failed, %d from cache) in %.0fs",
                label,
                done,
                len(requests),
                failed,
                client.usage.cache_hits,
                time.monotonic() - started,
            )
        return outcome

    return list(await asyncio.gather(*(one(r) for r in requests)))


def run_all(
    client: LLMClient,
    requests: Sequence[LLMRequest],
    **kwargs: Any,
) -> list[LLMOutcome]:
    """``complete_all`` from synchronous code (a task, a CLI); closes the client."""

    async def main() -> list[LLMOutcome]:
        try:
            return await complete_all(client, requests, **kwargs)
        finally:
            await client.aclose()

    return asyncio.run(main())


def usage_counts(client: LLMClient) -> dict[str, int]:
    """The client's token and call accounting as stage counts (``llm_*``)."""
    return {f"llm_{k}": v for k, v in client.usage.as_metrics().items()}
