"""One ``LLMClient`` shared by synchronous callers on many threads (agent
rollouts run their tools on threads): the client lives on an event loop in a
thread of its own, so its concurrency cap, QPS bucket and cache apply to all
callers together."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kisa_tasks.llm.client import LLMClient, LLMResult, Message, Sampling


class LLMGateway:
    def __init__(self, make_client: Callable[[], LLMClient]) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.client: LLMClient = asyncio.run_coroutine_threadsafe(
            self._make(make_client), self._loop
        ).result()

    @staticmethod
    async def _make(make_client: Callable[[], LLMClient]) -> LLMClient:
        return make_client()  # built on the gateway's loop, where it will be used

    def complete(
        self,
        messages: Sequence[Message],
        *,
        sampling: Sampling | None = None,
        schema: Mapping[str, Any] | None = None,
    ) -> LLMResult:
        """Blocks the calling thread; raises ``LLMError`` like the client."""
        call = self.client.complete(messages, sampling=sampling, schema=schema)
        return asyncio.run_coroutine_threadsafe(call, self._loop).result()

    def complete_with_tools(
        self,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]],
        *,
        sampling: Sampling | None = None,
    ) -> LLMResult:
        call = self.client.complete_with_tools(messages, tools, sampling=sampling)
        return asyncio.run_coroutine_threadsafe(call, self._loop).result()

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.client.aclose(), self._loop).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def __enter__(self) -> LLMGateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
