"""Model policies for the agent loop, in its two protocols.

The loop keeps every conversation in the ReAct text format (the training
data's). ``LLMPolicy`` asks the model to write ReAct turns itself;
``ToolCallPolicy`` speaks the native OpenAI tool-call protocol: the ReAct
conversation is converted to OpenAI messages (``react.openai_messages``, the
same conversion the SFT export writes), the model answers with content and
``tool_calls``, and that answer is written back as a ReAct turn. Broken call
arguments are kept as they came, so the loop labels them
``malformed_tool_call`` exactly as it would in text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from kisa_tasks.agent.loop import Message
from kisa_tasks.agent.react import (
    RESPONSE_OPEN,
    ToolCall,
    asked,
    openai_messages,
    render_call,
    render_turn,
)
from kisa_tasks.llm.client import Sampling
from kisa_tasks.llm.sync import LLMGateway


class LLMPolicy:
    """The model writes each ReAct turn (text protocol), through one gateway
    shared by all rollouts (one concurrency cap, one QPS limit)."""

    def __init__(
        self, gateway: LLMGateway, max_tokens: int = 1024, sampling: Sampling | None = None
    ) -> None:
        self.gateway = gateway
        # Greedy by default (data generation); evaluation samples k rollouts.
        # A turn ends where a tool output would begin: the environment writes it.
        self.sampling = replace(
            sampling or Sampling(temperature=0.0, max_tokens=max_tokens), stop=(RESPONSE_OPEN,)
        )

    def __call__(self, messages: Sequence[Message]) -> str:
        return self.gateway.complete(list(messages), sampling=self.sampling).text


def react_turn(reply: Mapping[str, Any]) -> str:
    """A native reply (content and tool calls) as the ReAct turn it stands for."""
    content = str(reply.get("content") or "").strip()
    calls = reply.get("tool_calls") or []
    if not calls:
        return render_turn("", answer=content)
    parts = [f"<think>\n{content}\n</think>"]
    for call in calls:
        try:
            arguments = json.loads(call["arguments"] or "{}")
        except json.JSONDecodeError:
            arguments = None
        if isinstance(arguments, dict):
            parts.append(render_call(ToolCall(call["name"], arguments)))
        else:  # kept broken: the loop reports it
            parts.append(f"<tool_call>\n{call['arguments']}\n</tool_call>")
    return "\n".join(parts)


class ToolCallPolicy:
    """The model in the native tool-call protocol, seen by the loop as ReAct."""

    def __init__(
        self, gateway: LLMGateway, tools: Sequence[Mapping[str, Any]], max_tokens: int = 1024
    ) -> None:
        self.gateway = gateway
        self.tools = list(tools)
        self.max_tokens = max_tokens

    def __call__(self, messages: Sequence[Message]) -> str:
        native = openai_messages(messages, asked(messages))
        sampling = Sampling(temperature=0.0, max_tokens=self.max_tokens)
        reply = self.gateway.complete_with_tools(native, self.tools, sampling=sampling)
        return react_turn(reply.data or {})
