"""The plan reaches the model byte for byte, on the wire, through the real adapters.

Each backend's official SDK posts to an ``httpx2.MockTransport`` that answers in that
backend's format: the first request is the planner's, the second the executor's. We assert
on the JSON bodies the SDKs really sent.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx2
import pytest

from exo import Agent, ImageBlock, TextBlock, run
from exo.models.anthropic import AnthropicProvider
from exo.models.base import Provider
from exo.models.openai import OpenAIProvider
from exo.models.openai_responses import OpenAIResponsesProvider

PLAN = "1. Research React -- strengths, weaknesses, ecosystem\n2. Synthesize findings"
TASK = "Compare React vs Svelte for a new project"
STRING_INPUT = (
    f"Original task:\n{TASK}\n\nPlanner output:\n{PLAN}\n\n"
    "Use the planner output while completing the task."
)
SYSTEM_PLAN = (
    f"Planner output:\n{PLAN}\n\nUse the planner output while responding to the next user task."
)
USAGE = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}


def chat(text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "gpt-4o",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": USAGE,
    }


def responses(text: str) -> dict[str, Any]:
    return {
        "id": "resp_1",
        "object": "response",
        "created_at": 0,
        "model": "gpt-4o",
        "status": "completed",
        "output": [
            {
                "type": "message",
                "id": "msg_1",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        ],
        "usage": {
            "input_tokens": 11,
            "output_tokens": 7,
            "total_tokens": 18,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0},
        },
    }


def messages(text: str) -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 11, "output_tokens": 7},
    }


class Wire:
    """Answers the planner, then the executor; keeps every body sent."""

    def __init__(self, shape: Callable[[str], dict[str, Any]]) -> None:
        self.shape = shape
        self.bodies: list[dict[str, Any]] = []

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        self.bodies.append(json.loads(request.content))
        text = PLAN if len(self.bodies) == 1 else "React for the ecosystem, Svelte for size."
        return httpx2.Response(200, json=self.shape(text))

    def client(self) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(transport=httpx2.MockTransport(self.handle))


BACKENDS: dict[str, tuple[Callable[[str], dict[str, Any]], Callable[[Wire], Provider]]] = {
    "openai": (chat, lambda w: OpenAIProvider("gpt-4o", api_key="k", http_client=w.client())),
    "openai-responses": (
        responses,
        lambda w: OpenAIResponsesProvider("gpt-4o", api_key="k", http_client=w.client()),
    ),
    "anthropic": (
        messages,
        lambda w: AnthropicProvider("claude-x", api_key="k", http_client=w.client()),
    ),
}

AGENT = Agent(
    name="researcher",
    model="test:unused",  # the provider is passed in; the planner reuses it (same model)
    instructions="You are a thorough research assistant.",
    planning_enabled=True,
)


async def _run(backend: str, task: Any) -> tuple[Wire, Any]:
    shape, make = BACKENDS[backend]
    wire = Wire(shape)
    provider = make(wire)
    try:
        result = await run(AGENT, task, provider=provider)
    finally:
        await provider.aclose()
    assert len(wire.bodies) == 2
    return wire, result


def _user_texts(backend: str, body: dict[str, Any]) -> list[Any]:
    items = body["input"] if backend == "openai-responses" else body["messages"]
    return [m["content"] for m in items if m.get("role") == "user"]


@pytest.mark.parametrize("backend", list(BACKENDS))
async def test_string_input_is_wrapped_byte_for_byte(backend: str) -> None:
    wire, result = await _run(backend, TASK)
    planner, executor = wire.bodies
    assert result.plan.text == PLAN
    last_user = _user_texts(backend, executor)[-1]
    planner_user = _user_texts(backend, planner)[-1]
    if backend == "anthropic":
        assert last_user in (STRING_INPUT, [{"type": "text", "text": STRING_INPUT}])
        assert planner_user in (TASK, [{"type": "text", "text": TASK}])
    else:
        assert last_user == STRING_INPUT and planner_user == TASK
    assert result.usage.requests == 2 and result.usage.input_tokens == 22


@pytest.mark.parametrize("backend", list(BACKENDS))
async def test_content_block_input_gets_the_plan_as_a_system_message(backend: str) -> None:
    blocks = [TextBlock(text=TASK), ImageBlock(url="https://example.com/shot.png")]
    wire, _ = await _run(backend, blocks)
    planner, executor = wire.bodies
    if backend == "openai":
        sent = executor["messages"]
        assert sent[0] == {"role": "system", "content": "You are a thorough research assistant."}
        assert sent[-2] == {"role": "system", "content": SYSTEM_PLAN}
        assert sent[-1]["role"] == "user" and sent[-1]["content"][0]["text"] == TASK
        assert not any(m.get("content") == SYSTEM_PLAN for m in planner["messages"])
    elif backend == "openai-responses":
        sent = executor["input"]  # system text goes as developer items, in place
        assert sent[-2] == {"role": "developer", "content": SYSTEM_PLAN}
        assert sent[-1]["role"] == "user"
        assert [c["type"] for c in sent[-1]["content"]] == ["input_text", "input_image"]
    else:  # anthropic: every system message goes to the top-level system parameter
        system = executor["system"]
        texts = [system] if isinstance(system, str) else [b["text"] for b in system]
        assert texts == ["You are a thorough research assistant.", SYSTEM_PLAN]
        assert executor["messages"][-1]["role"] == "user"
        kinds = [b["type"] for b in executor["messages"][-1]["content"]]
        assert kinds == ["text", "image"]
        planner_system = planner["system"]
        planner_texts = (
            [planner_system]
            if isinstance(planner_system, str)
            else [b["text"] for b in planner_system]
        )
        assert SYSTEM_PLAN not in planner_texts
