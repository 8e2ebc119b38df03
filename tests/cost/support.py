"""Priced providers for the cost tests: the real OpenAI and Anthropic adapters, answered at the
HTTP boundary (an httpx MockTransport) by a function of each request body.

Every answer reports the usage the test chooses, so the cost can be worked out by hand.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx2

from exo.models.anthropic import AnthropicProvider
from exo.models.openai import OpenAIProvider

__all__ = ["Answer", "anthropic_at", "last_user_text", "openai_at", "tool_call"]

Answer = tuple[dict[str, Any], dict[str, int]]
"""An OpenAI ``message`` (or Anthropic ``content`` list) and the usage to report."""

KEY = "sk-cost-test-0000"


class _Boundary:
    """Answers every request with ``respond(body)`` and keeps the bodies."""

    def __init__(self, respond: Callable[[dict[str, Any]], httpx2.Response]) -> None:
        self.respond = respond
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        self.bodies.append(body)
        return self.respond(body)

    def client(self) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(transport=httpx2.MockTransport(self))


def openai_at(
    answer: Callable[[dict[str, Any]], Answer], model: str = "gpt-4o"
) -> tuple[OpenAIProvider, _Boundary]:
    """An OpenAI Chat Completions provider whose server is ``answer(body)``."""

    def respond(body: dict[str, Any]) -> httpx2.Response:
        message, usage = answer(body)
        finish = "tool_calls" if message.get("tool_calls") else "stop"
        return httpx2.Response(
            200,
            json={
                "id": "chatcmpl-cost",
                "object": "chat.completion",
                "created": 1,
                "model": body["model"],
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": usage,
            },
        )

    boundary = _Boundary(respond)
    return OpenAIProvider(model, api_key=KEY, http_client=boundary.client()), boundary


def anthropic_at(
    answer: Callable[[dict[str, Any]], tuple[list[dict[str, Any]], dict[str, int]]],
    model: str = "claude-sonnet-4-0",
) -> tuple[AnthropicProvider, _Boundary]:
    """An Anthropic Messages provider whose server is ``answer(body)``."""

    def respond(body: dict[str, Any]) -> httpx2.Response:
        content, usage = answer(body)
        tools = any(block["type"] == "tool_use" for block in content)
        return httpx2.Response(
            200,
            json={
                "id": "msg_cost",
                "type": "message",
                "role": "assistant",
                "model": body["model"],
                "content": content,
                "stop_reason": "tool_use" if tools else "end_turn",
                "stop_sequence": None,
                "usage": usage,
            },
        )

    boundary = _Boundary(respond)
    return AnthropicProvider(model, api_key=KEY, http_client=boundary.client()), boundary


def tool_call(name: str, arguments: dict[str, Any], call_id: str = "call_1") -> dict[str, Any]:
    """An OpenAI assistant message calling one tool."""
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(arguments)},
            }
        ],
    }


def last_user_text(body: dict[str, Any]) -> str:
    """The text of the last user message of an OpenAI request body."""
    users = [m for m in body["messages"] if m["role"] == "user"]
    content = users[-1]["content"] if users else ""
    return content if isinstance(content, str) else " ".join(p.get("text", "") for p in content)


def has_tool_result(body: dict[str, Any]) -> bool:
    """Whether an OpenAI request already carries a tool result."""
    return any(m["role"] == "tool" for m in body["messages"])
