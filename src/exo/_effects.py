"""The Effects seam: every model call and tool call of a run passes through one object.

:class:`Effects` is the protocol; :class:`InProcessEffects` makes the calls right here (the
default); exo's durable engine (``exo.durable``) and tracing (``exo.tracing``) implement it
too. ``run`` makes its whole model calls through :meth:`Effects.model_complete`,
``run.stream`` its streamed ones through :meth:`Effects.model_call`, and both run a turn's
tool calls through :meth:`Effects.tool_calls`. :func:`with_whole_calls` adapts an effects
object written before ``model_complete`` existed.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from contextlib import aclosing
from typing import Any, Protocol

from exo._retry import RetryPolicy, call_model, complete_model
from exo.errors import ModelError
from exo.models.base import ModelChunk, ModelRequest, ModelResponse, Provider
from exo.tools import Tool, ToolContext, execute_tool_calls
from exo.types import ToolCall, ToolResult

__all__ = ["Effects", "InProcessEffects", "drain", "with_whole_calls"]


class Effects(Protocol):
    """The seam every model call and tool call of a run passes through.

    The default runs them in process; a durable engine can wrap each call (record its
    result, replay it after a crash) without touching the loop. ``run`` makes its model
    calls whole through :meth:`model_complete`, ``run.stream`` through :meth:`model_call`.
    """

    def model_call(
        self, provider: Provider, request: ModelRequest, *, stream: bool, policy: RetryPolicy
    ) -> AsyncGenerator[ModelChunk, None]:
        """Make one model call (with retries); yield deltas, then the ModelResponse."""
        ...

    def model_complete(
        self, provider: Provider, request: ModelRequest, *, policy: RetryPolicy
    ) -> Awaitable[ModelResponse]:
        """Make one whole (non-streamed) model call (with retries); return its response.

        This default (for a class that subclasses ``Effects``) is :meth:`model_call` with
        ``stream=False``, drained.
        """
        return drain(self, provider, request, policy=policy)

    async def tool_calls(
        self,
        calls: Sequence[ToolCall],
        tools: dict[str, Tool],
        make_ctx: Callable[[ToolCall], ToolContext],
    ) -> list[tuple[ToolResult, float]]:
        """Run one turn's tool calls; return (result, duration_ms) in call order."""
        ...


async def drain(
    effects: Effects, provider: Provider, request: ModelRequest, *, policy: RetryPolicy
) -> ModelResponse:
    """A whole model call made through ``effects.model_call`` (``stream=False``)."""
    response: ModelResponse | None = None
    async with aclosing(effects.model_call(provider, request, stream=False, policy=policy)) as it:
        async for chunk in it:
            if isinstance(chunk, ModelResponse):
                response = chunk
    if response is None:
        raise ModelError("no response", backend=provider.backend, model=provider.model)
    return response


class _Drained:
    """Effects written before ``model_complete`` (duck-typed: ``model_call`` and
    ``tool_calls`` alone), given the whole-call entry point by draining their
    ``model_call``. Their calls all still pass through them."""

    __slots__ = ("inner",)

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def model_call(
        self, provider: Provider, request: ModelRequest, *, stream: bool, policy: RetryPolicy
    ) -> AsyncGenerator[ModelChunk, None]:
        return self.inner.model_call(provider, request, stream=stream, policy=policy)  # type: ignore[no-any-return]

    def model_complete(
        self, provider: Provider, request: ModelRequest, *, policy: RetryPolicy
    ) -> Awaitable[ModelResponse]:
        return drain(self, provider, request, policy=policy)

    def tool_calls(self, *args: Any, **kwargs: Any) -> Any:
        return self.inner.tool_calls(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:  # the engine's own hooks (spawn_children, ...)
        return getattr(self.inner, name)


def with_whole_calls(effects: Effects) -> Effects:
    """``effects`` itself, or, for one without ``model_complete``, an adapter that drains
    its ``model_call`` (so effects written to the older seam keep working)."""
    if callable(getattr(effects, "model_complete", None)):
        return effects
    return _Drained(effects)  # type: ignore[return-value]


class InProcessEffects(Effects):
    """Run model and tool calls right here, in this process."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A subclass that overrides model_call alone (the seam before model_complete) still
        # sees every model call: its whole calls go through its model_call too.
        if (
            cls.model_call is not InProcessEffects.model_call
            and cls.model_complete is InProcessEffects.model_complete
        ):
            cls.model_complete = Effects.model_complete  # type: ignore[assignment]

    def model_call(
        self, provider: Provider, request: ModelRequest, *, stream: bool, policy: RetryPolicy
    ) -> AsyncGenerator[ModelChunk, None]:
        """Make one model call with the run's retry policy."""
        return call_model(provider, request, stream=stream, policy=policy)

    # One whole model call with the run's retry policy: the retry layer's own function, so
    # the seam adds no call of its own (and no generator) to the common call of ``run``.
    model_complete = staticmethod(complete_model)

    async def tool_calls(
        self,
        calls: Sequence[ToolCall],
        tools: dict[str, Tool],
        make_ctx: Callable[[ToolCall], ToolContext],
    ) -> list[tuple[ToolResult, float]]:
        """Run the calls concurrently in this event loop."""
        return await execute_tool_calls(calls, tools, make_ctx)
