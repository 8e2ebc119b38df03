"""Cross-backend parity: one scripted conversation gives the same RunResult on every backend.

The conversation (a tool call, then two parallel tool calls, then the answer, each turn with
scripted usage) is served by the fake provider server in each wire format: OpenAI Chat
Completions, OpenAI Responses and Anthropic Messages, whole and streamed, through the real
providers and official SDKs. Apart from the provider-made ids, the results must be equal:
output, steps, the transcript (tool names, arguments, results), usage, and the tool events.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing
from typing import Any, Literal

import pytest

from exo import Agent, run
from exo.types import (
    AssistantMessage,
    RunResult,
    StreamEvent,
    SystemMessage,
    ToolCallEvent,
    ToolResult,
    ToolResultEvent,
    Usage,
    UserMessage,
)
from reliability.clients import make_provider
from reliability.fakeserver import FakeServer, answer, tools

BACKENDS = ("openai", "openai-responses", "anthropic")
ANSWER = "Paris is 21.5 °C (70.7 °F) and Oslo is 8 °C."


def get_weather(city: str) -> dict[str, Any]:
    """Get the current weather of a city.

    Args:
        city: The city's name.
    """
    return {"city": city, "celsius": {"Paris": 21.5, "Oslo": 8.0}[city]}


def convert(celsius: float, unit: Literal["F", "K"] = "F") -> float:
    """Convert a temperature from Celsius.

    Args:
        celsius: Degrees Celsius.
        unit: The unit to convert to.
    """
    return round(celsius * 9 / 5 + 32, 1) if unit == "F" else celsius + 273.15


AGENT = Agent(
    name="weather",
    model="test:m",
    instructions="Answer with tools.",
    tools=[get_weather, convert],
)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeServer]:
    """A fake provider server for this module."""
    with FakeServer() as fake:
        yield fake


def _script(server: FakeServer) -> None:
    server.reset()
    server.script(
        tools(("get_weather", '{"city": "Paris"}'), input_tokens=100, output_tokens=20,
              cache_read_tokens=30),
        tools(
            ("get_weather", '{"city":"Oslo"}'),
            ("convert", '{"celsius": 21.5, "unit": "F"}'),
            input_tokens=160, output_tokens=25, cache_read_tokens=40, pieces=2,
        ),
        answer(ANSWER, input_tokens=210, output_tokens=30, cache_read_tokens=50, pieces=5),
    )  # fmt: skip


def _normalized(result: RunResult) -> dict[str, Any]:
    """The result with provider-made ids replaced by their order of appearance."""
    ids: dict[str, str] = {}

    def nid(call_id: str) -> str:
        return ids.setdefault(call_id, f"call-{len(ids)}")

    transcript: list[tuple[Any, ...]] = []
    for m in result.messages:
        if isinstance(m, SystemMessage | UserMessage):
            transcript.append((m.role, m.content))
        elif isinstance(m, AssistantMessage):
            calls = [(nid(c.id), c.name, json.loads(c.arguments)) for c in m.tool_calls]
            transcript.append((m.role, m.content, calls, m.reasoning))
        elif isinstance(m, ToolResult):
            transcript.append((m.role, nid(m.tool_call_id), m.tool_name, m.content, m.is_error))
    return {
        "output": result.output,
        "steps": result.steps,
        "usage": result.usage,
        "execute_usage": result.execute_usage,
        "transcript": transcript,
        "new": len(result.new_messages),
        "agent": (result.agent_name, result.model, result.plan, result.children),
    }


def _tool_events(events: list[StreamEvent]) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for e in events:
        if isinstance(e, ToolCallEvent):
            out.append(("call", e.tool_name, json.loads(e.arguments)))
        elif isinstance(e, ToolResultEvent):
            out.append(("result", e.tool_name, e.content, e.is_error))
    return out


async def _stream(provider: Any) -> tuple[RunResult, list[StreamEvent]]:
    async with aclosing(run.stream(AGENT, "Weather in Paris and Oslo?", provider=provider)) as s:
        events = [e async for e in s]
    result = events[-1].result  # type: ignore[union-attr]
    return result, events


@pytest.fixture
async def outcomes(server: FakeServer) -> AsyncIterator[dict[str, Any]]:
    """Every backend, whole and streamed: normalized result, tool events, server view."""
    found: dict[str, Any] = {}
    for backend in BACKENDS:
        for stream in (False, True):
            provider = make_provider(backend, server)
            try:
                _script(server)
                events: list[StreamEvent] = []
                if stream:
                    result, events = await _stream(provider)
                else:
                    result = await run(AGENT, "Weather in Paris and Oslo?", provider=provider)
            finally:
                await provider.aclose()
            assert server.rejected == [] and server.remaining == 0
            seen = [(a.seen.task, a.seen.rounds, a.seen.results) for a in server.attempts]
            found[f"{backend}/{'sse' if stream else 'json'}"] = {
                "result": _normalized(result),
                "events": _tool_events(events),
                "server saw": seen,
            }
    yield found


async def test_every_backend_gives_the_same_result(outcomes: dict[str, Any]) -> None:
    assert len(outcomes) == 6
    first = outcomes["openai/json"]["result"]
    for name, outcome in outcomes.items():
        assert outcome["result"] == first, name


async def test_the_result_is_the_scripted_conversation(outcomes: dict[str, Any]) -> None:
    result = outcomes["anthropic/sse"]["result"]
    assert result["output"] == ANSWER and result["steps"] == 3 and result["new"] == 7
    assert result["usage"] == Usage(
        requests=3, input_tokens=470, output_tokens=75, cache_read_tokens=120
    )
    assert result["execute_usage"] == result["usage"]
    calls = [t[2] for t in result["transcript"] if t[0] == "assistant" and t[2]]
    assert calls == [
        [("call-0", "get_weather", {"city": "Paris"})],
        [
            ("call-1", "get_weather", {"city": "Oslo"}),
            ("call-2", "convert", {"celsius": 21.5, "unit": "F"}),
        ],
    ]
    results = [t[1:] for t in result["transcript"] if t[0] == "tool"]
    assert results == [
        ("call-0", "get_weather", '{"city": "Paris", "celsius": 21.5}', False),
        ("call-1", "get_weather", '{"city": "Oslo", "celsius": 8.0}', False),
        ("call-2", "convert", "70.7", False),
    ]


async def test_streamed_tool_events_and_requests_match(outcomes: dict[str, Any]) -> None:
    streamed = [o["events"] for name, o in outcomes.items() if name.endswith("/sse")]
    assert streamed[0] == streamed[1] == streamed[2]
    assert [e[0] for e in streamed[0]] == ["call", "result", "call", "call", "result", "result"]
    seen = [o["server saw"] for o in outcomes.values()]
    assert all(s == seen[0] for s in seen)  # every backend sent the model the same things
    assert [len(results) for _, _, results in seen[0]] == [0, 1, 3]
