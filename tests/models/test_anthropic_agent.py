"""exo runs on the Anthropic backend end to end: run(), run.stream() and planning.

The "model" is a synthetic Messages API endpoint behind a mock transport: it calls ``add``
until the conversation holds a tool result, then answers with the sum it was sent back.
"""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest

from exo import Agent, ImageBlock, TextBlock, run
from exo.models.anthropic import AnthropicProvider
from exo.types import TextEvent, ToolCallEvent, ToolResultEvent

PATHS = pytest.mark.parametrize("raw", [True, False], ids=["raw", "sdk"])


def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: The first number.
        b: The second number.
    """
    return a + b


class FakeClaude:
    """Plays the model at the HTTP boundary and keeps every request body."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        self.bodies.append(body)
        results = [
            block
            for message in body["messages"]
            if isinstance(message["content"], list)
            for block in message["content"]
            if block["type"] == "tool_result"
        ]
        content: list[dict[str, Any]]
        if results:
            content = [{"type": "text", "text": f"The sum is {results[-1]['content']}."}]
            stop = "end_turn"
        else:
            n = len(self.bodies)
            call: dict[str, Any] = {
                "type": "tool_use",
                "id": f"toolu_{n}",
                "name": "add",
                "input": {"a": 2, "b": 3},
            }
            content, stop = [{"type": "text", "text": "Adding."}, call], "tool_use"
        message = {
            "id": f"msg_{len(self.bodies)}",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 5},
        }
        if not body.get("stream"):
            return httpx2.Response(200, json=message)
        return httpx2.Response(
            200, headers={"content-type": "text/event-stream"}, content=_as_sse(message)
        )


def _as_sse(message: dict[str, Any]) -> bytes:
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": dict(message, content=[], stop_reason=None)}
    ]
    for i, block in enumerate(message["content"]):
        if block["type"] == "text":
            events.append(
                {"type": "content_block_start", "index": i, "content_block": dict(block, text="")}
            )
            delta = {"type": "text_delta", "text": block["text"]}
        else:
            events.append(
                {"type": "content_block_start", "index": i, "content_block": dict(block, input={})}
            )
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
        events.append({"type": "content_block_delta", "index": i, "delta": delta})
        events.append({"type": "content_block_stop", "index": i})
    events.append(
        {
            "type": "message_delta",
            "delta": {"stop_reason": message["stop_reason"]},
            "usage": {"output_tokens": 5},
        }
    )
    events.append({"type": "message_stop"})
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events).encode()


def _provider(fake: FakeClaude, raw: bool) -> AnthropicProvider:
    client = httpx2.AsyncClient(transport=httpx2.MockTransport(fake))
    return AnthropicProvider("claude-fake", api_key="k", http_client=client, raw=raw)


@PATHS
async def test_run_with_a_tool_round_trip(raw: bool) -> None:
    fake = FakeClaude()
    agent = Agent(name="calc", model="anthropic:claude-fake", instructions="Be exact.", tools=[add])
    provider = _provider(fake, raw)
    result = await run(agent, "What is 2 + 3?", provider=provider)
    await provider.aclose()
    assert result.output == "The sum is 5."
    first, second = fake.bodies
    assert first["system"] == [{"type": "text", "text": "Be exact."}]
    assert first["tools"][0]["name"] == "add"
    assert first["tools"][0]["input_schema"]["properties"].keys() == {"a", "b"}
    tool_result = second["messages"][-1]["content"][0]
    assert (tool_result["type"], tool_result["tool_use_id"], tool_result["content"]) == (
        "tool_result",
        "toolu_1",
        "5",
    )
    assert result.usage.requests == 2


@PATHS
async def test_run_stream_yields_text_and_tool_events(raw: bool) -> None:
    fake = FakeClaude()
    agent = Agent(name="calc", model="anthropic:claude-fake", tools=[add])
    provider = _provider(fake, raw)
    events = [e async for e in run.stream(agent, "What is 2 + 3?", provider=provider)]
    await provider.aclose()
    assert all(body["stream"] is True for body in fake.bodies)
    text = "".join(e.text for e in events if isinstance(e, TextEvent))
    assert text == "Adding.The sum is 5."
    (call,) = [e for e in events if isinstance(e, ToolCallEvent)]
    assert (call.tool_name, json.loads(call.arguments)) == ("add", {"a": 2, "b": 3})
    (result,) = [e for e in events if isinstance(e, ToolResultEvent)]
    assert result.content == "5"


async def test_planner_output_for_content_block_input_reaches_system() -> None:
    fake = FakeClaude()
    agent = Agent(
        name="calc",
        model="anthropic:claude-fake",
        instructions="Be exact.",
        tools=[add],
        planning_enabled=True,
    )
    provider = _provider(fake, raw=True)
    task: list[TextBlock | ImageBlock] = [
        TextBlock(text="What is 2 + 3?"),
        ImageBlock(url="https://example.com/sum.png"),
    ]
    result = await run(agent, task, provider=provider)
    await provider.aclose()
    assert result.plan is not None and result.plan.text == "The sum is 5."
    executor = fake.bodies[-1]
    prompt, plan = executor["system"]
    assert prompt == {"type": "text", "text": "Be exact."}  # unchanged, first: cacheable
    assert plan["text"].startswith("Planner output:") and "The sum is 5." in plan["text"]
    assert executor["messages"][0]["content"][1] == {
        "type": "image",
        "source": {"type": "url", "url": "https://example.com/sum.png"},
    }
