"""The Effects seam: ``run`` makes whole model calls through ``model_complete``, ``run.stream``
through ``model_call``, and every effects object takes the same path (none is special)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from typing import Any

import pytest

from exo import Agent, ConfigError, Effects, InProcessEffects, RetryPolicy, run
from exo.models.base import ModelChunk, ModelRequest, ModelResponse, Provider
from exo.testing import ScriptedModel, call
from exo.tools import Tool, ToolContext, execute_tool_calls
from exo.types import ToolCall, ToolResult


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


AGENT = Agent(name="calc", model="test:m", tools=[add])


def script() -> ScriptedModel:
    return ScriptedModel([call("add", a=1, b=2), "3"])


class Recording(InProcessEffects):
    """Counts each entry point of the seam."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def model_call(
        self, provider: Provider, request: ModelRequest, *, stream: bool, policy: RetryPolicy
    ) -> AsyncGenerator[ModelChunk, None]:
        self.seen.append(f"model_call(stream={stream})")
        return super().model_call(provider, request, stream=stream, policy=policy)

    def model_complete(
        self, provider: Provider, request: ModelRequest, *, policy: RetryPolicy
    ) -> Awaitable[ModelResponse]:
        self.seen.append("model_complete")
        return super().model_complete(provider, request, policy=policy)


async def test_run_makes_whole_calls_through_model_complete() -> None:
    effects = Recording()
    result = await run(AGENT, "1 + 2?", provider=script(), effects=effects)
    assert result.output == "3"
    assert effects.seen == ["model_complete", "model_complete"]


async def test_run_stream_makes_streamed_calls_through_model_call() -> None:
    effects = Recording()
    async for _ in run.stream(AGENT, "1 + 2?", provider=script(), effects=effects):
        pass
    assert effects.seen == ["model_call(stream=True)", "model_call(stream=True)"]


class OwnEffects(Effects):
    """Effects of one's own that subclass the protocol and write only model_call."""

    def __init__(self) -> None:
        self.calls: list[bool] = []

    async def model_call(
        self, provider: Provider, request: ModelRequest, *, stream: bool, policy: RetryPolicy
    ) -> AsyncGenerator[ModelChunk, None]:
        self.calls.append(stream)
        yield await provider.complete(request)

    async def tool_calls(
        self,
        calls: Sequence[ToolCall],
        tools: dict[str, Tool],
        make_ctx: Callable[[ToolCall], ToolContext],
    ) -> list[tuple[ToolResult, float]]:
        return await execute_tool_calls(calls, tools, make_ctx)


async def test_a_subclass_of_effects_gets_whole_calls_through_its_model_call() -> None:
    effects = OwnEffects()
    result = await run(AGENT, "1 + 2?", provider=script(), effects=effects)
    assert result.output == "3"
    assert effects.calls == [False, False]  # the inherited model_complete drains model_call


class Silent(OwnEffects):
    """A model_call that ends without a response."""

    async def model_call(
        self, provider: Provider, request: ModelRequest, *, stream: bool, policy: RetryPolicy
    ) -> AsyncGenerator[ModelChunk, None]:
        return
        yield


async def test_a_model_call_without_a_response_is_a_model_error() -> None:
    from exo.errors import ModelError

    with pytest.raises(ModelError, match="no response"):
        await run(AGENT, "1 + 2?", provider=script(), effects=Silent(), max_retries=0)


class OldShape:
    """Duck-typed effects written before the whole-call entry point (no model_complete)."""

    def __init__(self) -> None:
        self.inner = InProcessEffects()
        self.calls: list[bool] = []
        self.spawn_hook = "kept"

    def model_call(
        self, provider: Provider, request: ModelRequest, *, stream: bool, policy: RetryPolicy
    ) -> AsyncGenerator[ModelChunk, None]:
        self.calls.append(stream)
        return self.inner.model_call(provider, request, stream=stream, policy=policy)

    async def tool_calls(self, *args: Any, **kwargs: Any) -> Any:
        return await self.inner.tool_calls(*args, **kwargs)


async def test_effects_without_model_complete_still_see_every_whole_call() -> None:
    effects = OldShape()
    result = await run(AGENT, "1 + 2?", provider=script(), effects=effects)  # type: ignore[arg-type]
    assert result.output == "3"
    assert effects.calls == [False, False]  # drained through its own model_call


def test_the_adapter_passes_the_engines_own_hooks_through() -> None:
    from exo._effects import with_whole_calls

    effects = OldShape()
    adapted: Any = with_whole_calls(effects)  # type: ignore[arg-type]
    assert adapted is not effects and adapted.spawn_hook == "kept"
    own = InProcessEffects()
    assert with_whole_calls(own) is own  # effects with model_complete are used as they are


async def test_an_object_without_the_seams_methods_is_refused_before_the_run() -> None:
    model = script()
    with pytest.raises(ConfigError, match="model_call"):
        await run(AGENT, "1 + 2?", provider=model, effects=object())  # type: ignore[arg-type]
    assert not model.requests


async def test_old_shape_effects_still_see_every_whole_call_in_a_traced_run() -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from exo.tracing import use_tracer_provider

    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    effects = OldShape()
    with use_tracer_provider(tracer_provider):
        result = await run(AGENT, "1 + 2?", provider=script(), effects=effects)  # type: ignore[arg-type]
    assert result.output == "3"
    assert effects.calls == [False, False]  # the tracing wrapper drained its model_call
    assert sum(s.name.startswith("chat ") for s in exporter.get_finished_spans()) == 2
