"""exo against llama-cpp-python's OpenAI-compatible server running a real (tiny) model.

Through ``openai:`` with ``OPENAI_BASE_URL`` and through the local presets (``vllm:``,
``lmstudio:``, ``ollama:``, each with its own ``{NAME}_BASE_URL``): a plain answer, a streamed
one, a planned run, a tool round trip (the call forced with ``tool_choice``; the next request,
carrying the assistant's tool-call message, must be accepted), ``max_tokens`` honoured
(``OutputTruncated``), and a clear message for the Responses API the server lacks.
Temperature 0 and small ``max_tokens`` keep the suite quick.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

import pytest

from exo import Agent, ModelError, OutputTruncated, run
from exo.models import get_provider
from exo.models.base import ModelChunk, ModelRequest, ModelResponse, Provider
from exo.models.openai import OpenAIProvider
from exo.types import PlanCompleteEvent, RunCompleteEvent, TextEvent, ToolResult

pytestmark = pytest.mark.realserver

BACKENDS = ["openai", "vllm", "lmstudio", "ollama"]
MODEL = "gemma"  # llama-cpp-python serves its one model under any name
AGENT = Agent(name="local", model="test:m", instructions="Answer briefly.", temperature=0)


@pytest.fixture
def configured(llama_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point every backend of the suite at the server (each through its own variables)."""
    monkeypatch.setenv("OPENAI_BASE_URL", llama_server)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local-unused")
    for name in BACKENDS[1:]:
        monkeypatch.setenv(f"{name.upper()}_BASE_URL", llama_server)
    return llama_server


def _agent(backend: str, **changes: Any) -> Agent:
    return AGENT.replace(model=f"{backend}:{MODEL}", **changes)


async def _run(agent: Agent, task: str, **options: Any) -> Any:
    provider = get_provider(agent.model, cached=False)
    try:
        return await run(agent, task, provider=provider, max_retries=0, **options)
    finally:
        await provider.aclose()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_plain_answer(configured: str, backend: str) -> None:
    result = await _run(_agent(backend, max_tokens=24), "Say hello.")
    assert result.output.strip()
    assert result.usage.requests == 1 and result.usage.input_tokens > 0


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_streamed_answer(configured: str, backend: str) -> None:
    agent = _agent(backend, max_tokens=24)
    provider = get_provider(agent.model, cached=False)
    texts: list[str] = []
    final = None
    try:
        async with aclosing(run.stream(agent, "Say hello.", provider=provider)) as events:
            async for event in events:
                if isinstance(event, TextEvent):
                    texts.append(event.text)
                elif isinstance(event, RunCompleteEvent):
                    final = event.result
    except OutputTruncated as exc:  # a tiny model may talk to the limit: still streamed
        final = exc.result
    finally:
        await provider.aclose()
    assert final is not None and len(texts) > 1 and "".join(texts) == final.output


async def test_a_planned_run(configured: str) -> None:
    agent = _agent("openai", max_tokens=32, planning_enabled=True, max_steps=2)
    provider = get_provider(agent.model, cached=False)
    plans: list[PlanCompleteEvent] = []
    try:
        async with aclosing(
            run.stream(agent, "Name a colour.", provider=provider, detailed=True)
        ) as events:
            async for event in events:
                if isinstance(event, PlanCompleteEvent):
                    plans.append(event)
    except OutputTruncated:
        pass  # the executor's answer may be cut: the plan came before it
    finally:
        await provider.aclose()
    assert len(plans) == 1 and plans[0].plan.text and plans[0].plan.steps == 1


calls: list[str] = []


def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    calls.append(city)
    return f"It is sunny in {city}."


class _ForcedFirst:
    """Two real providers for one model: the first call forces the tool (``tool_choice``),
    the calls after a tool result forbid it, so the model must answer from the result."""

    def __init__(self, backend: str) -> None:
        base = get_provider(f"{backend}:{MODEL}", cached=False)
        assert isinstance(base, OpenAIProvider)
        force = {"type": "function", "function": {"name": "get_weather"}}
        self.forced = _with_extra(base, {"tool_choice": force})
        self.after = _with_extra(base, {"tool_choice": "none"})
        self.backend, self.model = base.backend, base.model
        self.sent: list[ModelRequest] = []

    def _pick(self, request: ModelRequest) -> Provider:
        self.sent.append(request)
        return self.after if isinstance(request.messages[-1], ToolResult) else self.forced

    async def complete(self, request: ModelRequest) -> ModelResponse:
        return await self._pick(request).complete(request)

    def stream(self, request: ModelRequest) -> AsyncGenerator[ModelChunk, None]:
        return self._pick(request).stream(request)

    def with_model(self, model: str) -> Provider:
        raise NotImplementedError

    async def aclose(self) -> None:
        await self.forced.aclose()


def _with_extra(provider: OpenAIProvider, extra: dict[str, Any]) -> OpenAIProvider:
    twin = provider.with_model(provider.model)
    twin.extra_body = extra
    return twin


@pytest.mark.parametrize(("backend", "stream"), [("openai", False), ("ollama", True)])
async def test_a_tool_round_trip(configured: str, backend: str, stream: bool) -> None:
    calls.clear()
    agent = _agent(backend, tools=[get_weather], max_tokens=16, max_steps=3)
    provider = _ForcedFirst(backend)
    try:
        if stream:
            result = None
            async with aclosing(run.stream(agent, "Weather in Paris?", provider=provider)) as it:
                async for event in it:
                    if isinstance(event, RunCompleteEvent):
                        result = event.result
        else:
            result = await run(agent, "Weather in Paris?", provider=provider, max_retries=0)
    except OutputTruncated as exc:
        result = exc.result  # the answer after the tool may be cut; the round trip is done
    finally:
        await provider.aclose()
    assert result is not None and len(calls) == 1 and result.steps == 2
    assert len(provider.sent) == 2  # the request carrying the tool-call message was accepted
    assert any(isinstance(m, ToolResult) for m in result.messages)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_max_tokens_is_honoured(configured: str, backend: str) -> None:
    agent = _agent(backend, max_tokens=2)
    with pytest.raises(OutputTruncated) as caught:
        await _run(agent, "Tell me a long story about a dragon.")
    assert caught.value.result.usage.output_tokens <= 2


async def test_the_responses_api_the_server_lacks_is_named(configured: str) -> None:
    with pytest.raises(ModelError) as caught:
        await _run(AGENT.replace(model=f"openai-responses:{MODEL}"), "hi")
    err = caught.value
    assert err.status == 404 and "no responses endpoint" in err.detail
    assert f"openai:{MODEL}" in (err.hint or "")
