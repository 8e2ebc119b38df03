"""OpenTelemetry traces of every run, in the GenAI semantic conventions (``exo-agents[otel]``).

Configure an OpenTelemetry SDK (any exporter: OTLP to Langfuse, Phoenix, Jaeger…) and every
run emits spans shaped like the run itself::

    invoke_agent researcher                  the run (INTERNAL)
    ├── invoke_agent researcher_planner      the planner pre-pass
    │   └── chat gpt-4o                      one model call (CLIENT), retries as events on it
    ├── chat gpt-4o
    ├── execute_tool search                  one tool call (INTERNAL); user spans nest here
    └── execute_tool spawn_self
        └── invoke_agent researcher_child_1  a child's run, and its calls below it

exo needs only ``opentelemetry-api`` and imports it lazily. Whether a run is traced is decided
once, when it starts: with no tracer provider configured (the API's proxy or no-op provider)
the run takes exactly the untraced path, so tracing left off costs nothing per model call.
Message content (prompts, answers, tool arguments and results, the plan) is recorded only when
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`` or ``Agent(trace_content=True)``;
API keys never. See ``docs/tracing.md``.
"""

from __future__ import annotations

import contextvars
import functools
import importlib
import os
import sys
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from exo.tracing._content import CAPTURE_CONTENT_ENV

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer, TracerProvider

    from exo._options import Input, RunOptions
    from exo.agent import Agent
    from exo.types import PlanResult, StreamEvent

__all__ = [
    "CAPTURE_CONTENT_ENV",
    "traced_plan",
    "traced_run",
    "tracer_for_run",
    "use_tracer_provider",
]

Engine = Callable[["Agent[Any]", "Input | None", "RunOptions"], AsyncGenerator["StreamEvent", None]]
Planner = TypeVar("Planner", bound=Callable[..., Awaitable["PlanResult"]])

# Read once: the API loads a provider named here on first use, even if nothing imported it.
_ENV_PROVIDER = "OTEL_PYTHON_TRACER_PROVIDER" in os.environ

# A provider for the runs started in this context only (the CLI's --trace, tests); a
# context variable, so it never leaks into other tasks or threads the way a global would.
_PROVIDER: contextvars.ContextVar[TracerProvider | None] = contextvars.ContextVar(
    "exo_tracer_provider", default=None
)


@contextmanager
def use_tracer_provider(provider: TracerProvider) -> Iterator[None]:
    """Trace the runs started inside this block with ``provider`` instead of the global one.

    For programs that keep several providers, and tests; most programs call
    ``opentelemetry.trace.set_tracer_provider(...)`` once instead.
    """
    token = _PROVIDER.set(provider)
    try:
        yield
    finally:
        _PROVIDER.reset(token)


def tracer_for_run() -> Tracer | None:
    """The tracer for a run starting now, or ``None`` when no tracer provider is configured.

    Cheap when tracing is off (well under a microsecond): nobody can have set a provider
    without importing ``opentelemetry.trace`` (unless ``OTEL_PYTHON_TRACER_PROVIDER`` names
    one), so then nothing is imported or looked up.
    """
    provider = _PROVIDER.get()
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:
        if provider is None and not _ENV_PROVIDER:
            return None
        try:
            trace = importlib.import_module("opentelemetry.trace")
        except ImportError:  # the [otel] extra is not installed: nothing to trace with
            return None
    if provider is None:
        # get_tracer_provider() reads os.environ on every call while none is set (a few µs);
        # the API's own global says the same for free. Without it, ask the API.
        if getattr(trace, "_TRACER_PROVIDER", False) is None and not _ENV_PROVIDER:
            return None
        provider = trace.get_tracer_provider()
    if isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
        return None
    return _tracer(provider)


@functools.lru_cache(maxsize=8)
def _tracer(provider: TracerProvider) -> Tracer:
    """exo's tracer from ``provider`` (the SDK builds a new one per call: tens of µs)."""
    from exo import __version__

    return provider.get_tracer("exo", __version__)


class TracingSeam:
    """What the run's effects are when the run is traced (see ``exo.tracing._spans``)."""

    __slots__ = ()

    def wrap_planner(self, agent: Agent[Any], planner: Planner) -> Planner:
        """Return ``planner`` run inside an ``invoke_agent {agent}_planner`` span."""
        raise NotImplementedError


def traced_run(
    engine: Engine, agent: Agent[Any], input: Input | None, options: RunOptions
) -> AsyncGenerator[StreamEvent, None]:
    """Run ``engine`` inside an ``invoke_agent`` span, or as it is when tracing is off.

    The one call of the run lifecycle: the runner's entry points all come through here.
    """
    tracer = tracer_for_run()
    if tracer is None:
        return engine(agent, input, options)
    from exo.tracing._spans import run_span

    return run_span(tracer, engine, agent, input, options)


def traced_plan(effects: object, agent: Agent[Any], planner: Planner) -> Planner:
    """``planner`` inside an ``invoke_agent`` span when the run is traced, else itself."""
    if isinstance(effects, TracingSeam):
        return effects.wrap_planner(agent, planner)
    return planner
