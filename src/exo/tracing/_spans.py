"""The spans of a traced run: ``invoke_agent``, ``chat`` and ``execute_tool``.

Imported only when a run is traced (it imports ``opentelemetry``). Everything hooks into seams:
:func:`run_span` wraps the runner's event stream, :class:`TracingEffects` wraps the run's
:class:`~exo.Effects` (every model call and tool call), and the planner is wrapped where the
runner calls it.

Context: exo's spans become the *current* span only while exo's own code runs. A generator
attaches its span's context around each resumption of what it wraps and detaches it before
it yields, never across a ``yield``: so a consumer of ``run.stream`` sees its own current span
between events, while HTTP client spans, a tool's own spans and a child run's spans nest under
the exo span that caused them. Tool calls run as tasks, each started inside its
``execute_tool`` span.

Retries: one ``chat`` span per model call covers every attempt (the GenAI conventions: a span
covers the logical operation with all its retries), and each failed attempt is an event on it
(``exo.attempt_failed``, with its ``error.type``); ``exo.retries`` counts them.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncGenerator, Callable, Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.util.types import AttributeValue

from exo._effects import Effects, InProcessEffects, with_whole_calls
from exo._options import Input, RunOptions
from exo._retry import RetryPolicy
from exo.agent import Agent
from exo.cost import call_cost
from exo.models import parse_model
from exo.models.base import ModelChunk, ModelRequest, ModelResponse, Provider
from exo.tools import Tool, ToolContext
from exo.tracing import Engine, Planner, TracingSeam
from exo.tracing import _content as content
from exo.tracing._attempts import Watched, error_type, server_attributes
from exo.types import PlanResult, RunCompleteEvent, RunResult, StreamEvent, ToolCall, ToolResult
from exo.types import Usage as ExoUsage

__all__ = ["TracingEffects", "chat_cost_attributes", "run_span", "tool_error_type"]

Attributes = dict[str, AttributeValue]

# exo's backends whose GenAI provider name differs from the backend's name.
_PROVIDER_NAMES = {"openai-responses": "openai", "local": "llama_cpp", "test": "exo.test"}


# --------------------------------------------------------------------------- the cost hook


def chat_cost_attributes(provider: Provider, response: ModelResponse) -> Attributes:
    """Money attributes of one ``chat`` span: ``gen_ai.usage.cost`` in US dollars.

    The name is the one Langfuse and OpenLIT read (the GenAI conventions have none yet). A
    model with no known price, or a call with no reported usage, gets no attribute: unknown
    is not free.
    """
    cost = call_cost(f"{provider.backend}:{provider.model}", response.usage)
    return {} if cost is None else {"gen_ai.usage.cost": float(cost)}


def run_cost_attributes(result: RunResult[Any]) -> Attributes:
    """Money attributes of a run's ``invoke_agent`` span: ``exo.cost.*`` per phase (USD).

    Under ``exo.*`` names so a consumer summing ``gen_ai.usage.cost`` over the tree does not
    count a run's calls twice. ``exo.cost.total`` when known; a phase only when it cost
    something and its price is known.
    """
    cost = result.cost
    attributes: Attributes = {}
    if cost.total is not None:
        attributes["exo.cost.total"] = float(cost.total)
    for name, value in (("plan", cost.plan), ("execute", cost.execute)):
        if value:
            attributes[f"exo.cost.{name}"] = float(value)
    if cost.children:
        attributes["exo.cost.children"] = float(cost.children)
    return attributes


# --------------------------------------------------------------------------- shared helpers


def _cancelled(exc: BaseException) -> bool:
    """Whether ``exc`` ends a span without a failure: a cancellation, or the caller leaving."""
    return isinstance(exc, asyncio.CancelledError | GeneratorExit)


def _fail(span: Span, exc: BaseException) -> None:
    """Mark ``span`` failed by ``exc`` (whose message providers already cleaned of keys)."""
    if not span.is_recording():
        return
    span.set_attribute("error.type", error_type(exc))
    span.set_status(Status(StatusCode.ERROR, str(exc)))
    span.record_exception(exc, escaped=True)


def _usage(prefix: str, usage: ExoUsage) -> Attributes:
    """Token counts under ``{prefix}`` (``gen_ai.usage`` on chat spans, ``exo.usage`` above)."""
    attributes: Attributes = {
        f"{prefix}.input_tokens": usage.input_tokens,
        f"{prefix}.output_tokens": usage.output_tokens,
    }
    # Only when there are some: every attribute costs the SDK a few µs, and absent reads as 0.
    if usage.cache_read_tokens:
        attributes[f"{prefix}.cache_read.input_tokens"] = usage.cache_read_tokens
    if usage.cache_write_tokens:
        attributes[f"{prefix}.cache_creation.input_tokens"] = usage.cache_write_tokens
    if usage.reasoning_tokens:
        attributes[f"{prefix}.reasoning.output_tokens"] = usage.reasoning_tokens
    return attributes


def _agent_attributes(name: str, model: str, depth: int, lineage: tuple[str, ...]) -> Attributes:
    attributes: Attributes = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": name,
        "gen_ai.request.model": parse_model(model)[1],
        "exo.agent.depth": depth,
    }
    if lineage:
        attributes["exo.agent.lineage"] = list(lineage)
    return attributes


def _totals(usage: ExoUsage, steps: int) -> Attributes:
    """A run's totals, under ``exo.*`` so consumers summing ``gen_ai.usage`` count once."""
    return {**_usage("exo.usage", usage), "exo.usage.requests": usage.requests, "exo.steps": steps}


# --------------------------------------------------------------------------- invoke_agent


def run_span(
    tracer: Tracer, engine: Engine, agent: Agent[Any], input: Input | None, options: RunOptions
) -> AsyncGenerator[StreamEvent, None]:
    """The run's events, inside an ``invoke_agent {agent}`` span.

    A child (or a planner) inherits its parent's :class:`TracingEffects`, so one setting of
    content capture holds for a whole run tree.
    """
    if not isinstance(agent, Agent):  # the engine says what is wrong
        return engine(agent, input, options)
    effects = options.effects
    if not isinstance(effects, TracingEffects):
        capture = agent.trace_content
        if capture is None:
            capture = content.capture_from_env()
        effects = TracingEffects(effects or InProcessEffects(), tracer, capture=capture)
        options = dataclasses.replace(options, effects=effects)
    return _run(effects, engine, agent, input, options)


async def _run(
    effects: TracingEffects,
    engine: Engine,
    agent: Agent[Any],
    input: Input | None,
    options: RunOptions,
) -> AsyncGenerator[StreamEvent, None]:
    attributes = _agent_attributes(agent.name, agent.model, options.depth, options.lineage)
    if options.conversation_id is not None:
        attributes["gen_ai.conversation.id"] = options.conversation_id
    if effects.capture and input is not None:
        task = input if isinstance(input, str) else list(input)
        attributes["gen_ai.input.messages"] = content.text_messages("user", task)
    span = effects.tracer.start_span(
        f"invoke_agent {agent.name}", kind=SpanKind.INTERNAL, attributes=attributes
    )
    ctx = trace.set_span_in_context(span)
    events = engine(agent, input, options)
    finished = False
    try:
        while True:
            token = otel_context.attach(ctx)
            try:
                event = await events.__anext__()
            except StopAsyncIteration:
                break
            finally:
                otel_context.detach(token)
            if (
                type(event) is RunCompleteEvent
                and event.agent_name == agent.name
                and event.lineage == options.lineage
            ):
                finished = True
                _finish_run(span, event.result, effects.capture)
            yield event  # with the caller's own context current
    except BaseException as exc:
        if not _cancelled(exc):
            _fail(span, exc)
        elif not finished and span.is_recording():  # cancelled, or the caller left early
            span.set_attribute("exo.run.status", "cancelled")
        raise
    finally:
        token = otel_context.attach(ctx)
        try:
            await events.aclose()
        finally:
            otel_context.detach(token)
            span.end()


def _finish_run(span: Span, result: RunResult[Any], capture: bool) -> None:
    if not span.is_recording():
        return
    attributes = _totals(result.usage, result.steps)
    attributes["exo.run.status"] = result.status
    if result.children:
        attributes["exo.children"] = len(result.children)
    attributes.update(run_cost_attributes(result))
    if capture and result.status == "completed":
        answer = content.text_messages("assistant", result.text, result.finish_reason)
        attributes["gen_ai.output.messages"] = answer
    span.set_attributes(attributes)


# --------------------------------------------------------------------------- the effects


class TracingEffects(TracingSeam):
    """The run's effects, with a ``chat`` span per model call and ``execute_tool`` per tool.

    Args:
        inner: The effects that make the calls (the run's own, or in process).
        tracer: The tracer of this run tree.
        capture: Record message content (prompts, answers, tool arguments and results).
    """

    __slots__ = ("_servers", "capture", "inner", "tracer")

    def __init__(self, inner: Effects, tracer: Tracer, *, capture: bool) -> None:
        # effects written before model_complete get it here too: the whole calls of a traced
        # run reach them through this wrapper, not through the runner's own adaptation
        self.inner = with_whole_calls(inner)
        self.tracer = tracer
        self.capture = capture
        # per provider (held, so that its id is not reused): server.address / port
        self._servers: dict[int, tuple[Provider, Attributes]] = {}

    def __repr__(self) -> str:
        return f"TracingEffects(inner={self.inner!r}, capture={self.capture})"

    # ------------------------------------------------------------------- chat

    def model_call(
        self, provider: Provider, request: ModelRequest, *, stream: bool, policy: RetryPolicy
    ) -> AsyncGenerator[ModelChunk, None]:
        """Make the call through the inner effects, inside a ``chat {model}`` span."""
        return self._chat(provider, request, stream, policy)

    async def _chat(
        self, provider: Provider, request: ModelRequest, stream: bool, policy: RetryPolicy
    ) -> AsyncGenerator[ModelChunk, None]:
        span = self.tracer.start_span(
            f"chat {provider.model}",
            kind=SpanKind.CLIENT,
            attributes=self._request_attributes(provider, request, stream),
        )
        watched = Watched(provider, span)
        ctx = trace.set_span_in_context(span)
        chunks = self.inner.model_call(watched, request, stream=stream, policy=policy)
        try:
            while True:
                token = otel_context.attach(ctx)
                try:
                    chunk = await chunks.__anext__()
                except StopAsyncIteration:
                    break
                finally:
                    otel_context.detach(token)
                if type(chunk) is ModelResponse:
                    self._record_response(span, watched, provider, chunk)
                yield chunk
        except BaseException as exc:
            if not _cancelled(exc):
                _fail(span, exc)
            raise
        finally:
            token = otel_context.attach(ctx)
            try:
                await chunks.aclose()
            finally:
                otel_context.detach(token)
                if watched.attempts > 1 and span.is_recording():
                    span.set_attribute("exo.retries", watched.attempts - 1)
                span.end()

    async def model_complete(
        self, provider: Provider, request: ModelRequest, *, policy: RetryPolicy
    ) -> ModelResponse:
        """Make the whole call through the inner effects, inside a ``chat {model}`` span."""
        span = self.tracer.start_span(
            f"chat {provider.model}",
            kind=SpanKind.CLIENT,
            attributes=self._request_attributes(provider, request, False),
        )
        watched = Watched(provider, span)
        # current while the call runs (it runs in this task): HTTP client spans nest under it
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            response = await self.inner.model_complete(watched, request, policy=policy)
        except BaseException as exc:
            if not _cancelled(exc):
                _fail(span, exc)
            raise
        else:
            self._record_response(span, watched, provider, response)
            return response
        finally:
            otel_context.detach(token)
            if watched.attempts > 1 and span.is_recording():
                span.set_attribute("exo.retries", watched.attempts - 1)
            span.end()

    def _request_attributes(
        self, provider: Provider, request: ModelRequest, stream: bool
    ) -> Attributes:
        """What is known before the call (the conventions want these at span start)."""
        backend = provider.backend
        attributes: Attributes = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": _PROVIDER_NAMES.get(backend, backend),
            "gen_ai.request.model": provider.model,
        }
        known = self._servers.get(id(provider))
        if known is None or known[0] is not provider:
            known = self._servers[id(provider)] = (provider, server_attributes(provider))
        attributes.update(known[1])
        settings = request.settings
        if settings.temperature is not None:
            attributes["gen_ai.request.temperature"] = settings.temperature
        if settings.max_tokens is not None:
            attributes["gen_ai.request.max_tokens"] = settings.max_tokens
        if stream:
            attributes["gen_ai.request.stream"] = True
        if request.output is not None:
            attributes["gen_ai.output.type"] = "json"
        if self.capture:
            attributes["gen_ai.input.messages"] = content.input_messages(request.messages)
        return attributes

    def _record_response(
        self, span: Span, watched: Watched, provider: Provider, response: ModelResponse
    ) -> None:
        if not span.is_recording():
            return
        attributes: Attributes = {
            "gen_ai.response.model": response.model or provider.model,
            "gen_ai.response.finish_reasons": [response.finish_reason],
        }
        if response.id:
            attributes["gen_ai.response.id"] = response.id
        if response.usage.known:  # unreported usage is unknown, not zero
            attributes.update(_usage("gen_ai.usage", response.usage))
        if watched.first_chunk is not None:
            attributes["gen_ai.response.time_to_first_chunk"] = watched.first_chunk
        attributes.update(chat_cost_attributes(provider, response))
        if self.capture:
            attributes["gen_ai.output.messages"] = content.output_message(
                response.message, response.finish_reason
            )
        span.set_attributes(attributes)

    # ------------------------------------------------------------------- tools

    async def tool_calls(
        self,
        calls: Sequence[ToolCall],
        tools: dict[str, Tool],
        make_ctx: Callable[[ToolCall], ToolContext],
    ) -> list[tuple[ToolResult, float]]:
        """Run each call through the inner effects, concurrently, in its own span."""
        if len(calls) == 1:
            return [await self._tool(calls[0], tools, make_ctx)]
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(self._tool(c, tools, make_ctx)) for c in calls]
        return [t.result() for t in tasks]

    async def _tool(
        self, call: ToolCall, tools: dict[str, Tool], make_ctx: Callable[[ToolCall], ToolContext]
    ) -> tuple[ToolResult, float]:
        attributes: Attributes = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": call.name,
            "gen_ai.tool.call.id": call.id,
            "gen_ai.tool.type": "function",
        }
        found = tools.get(call.name)
        if found is not None:
            attributes["gen_ai.tool.description"] = found.description
        if self.capture:
            attributes["gen_ai.tool.call.arguments"] = content.tool_arguments(call.arguments)
        span = self.tracer.start_span(
            f"execute_tool {call.name}", kind=SpanKind.INTERNAL, attributes=attributes
        )
        # A task of its own (or the loop's, for a lone call) whose context is set until the
        # call returns: the tool's own spans, and a child run's, nest under this one.
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            [(result, duration_ms)] = await self.inner.tool_calls([call], tools, make_ctx)
        except BaseException as exc:
            if not _cancelled(exc):
                _fail(span, exc)
            raise
        else:
            self._record_tool(span, call, result)
            return result, duration_ms
        finally:
            otel_context.detach(token)
            span.end()

    def _record_tool(self, span: Span, call: ToolCall, result: ToolResult) -> None:
        if not span.is_recording():
            return
        text = content.tool_result(result.content)
        if result.is_error:  # data for the model, and a failed span (the run goes on)
            span.set_attribute("error.type", tool_error_type(call.name, text))
            span.set_status(Status(StatusCode.ERROR, text if self.capture else None))
        elif self.capture:
            span.set_attribute("gen_ai.tool.call.result", text)

    # ------------------------------------------------------------------- planner

    def wrap_planner(self, agent: Agent[Any], planner: Planner) -> Planner:
        """Return ``planner`` run inside an ``invoke_agent {agent}_planner`` span."""

        async def traced(*args: Any, **kwargs: Any) -> PlanResult:
            name = f"{agent.name}_planner"
            model = agent.planning_model or agent.model
            depth, lineage = kwargs.get("depth", 0), kwargs.get("lineage", ())
            attributes = _agent_attributes(name, model, depth, lineage)
            span = self.tracer.start_span(
                f"invoke_agent {name}", kind=SpanKind.INTERNAL, attributes=attributes
            )
            token = otel_context.attach(trace.set_span_in_context(span))
            try:
                plan: PlanResult = await planner(*args, **kwargs)
            except BaseException as exc:
                if not _cancelled(exc):
                    _fail(span, exc)
                raise
            else:
                self._record_plan(span, plan)
                return plan
            finally:
                otel_context.detach(token)
                span.end()

        return traced  # type: ignore[return-value]  # same signature as ``planner``

    def _record_plan(self, span: Span, plan: PlanResult) -> None:
        if not span.is_recording():
            return
        span.set_attributes(_totals(plan.usage, plan.steps))
        if plan.skipped is not None:  # planning_on_error="skip": the run goes on unplanned
            span.set_attribute("error.type", "planning_failed")
            span.set_status(Status(StatusCode.ERROR, plan.skipped))
        elif self.capture:
            span.set_attribute(
                "gen_ai.output.messages", content.text_messages("assistant", plan.text)
            )


def tool_error_type(name: str, text: str) -> str:
    """``error.type`` of a failed tool call, read from the error result exo wrote for it.

    ``unknown_tool``, ``invalid_arguments``, ``unserializable_result``, the class name of
    what the tool raised, ``exo.errors.ToolError`` for a ToolError's message, or ``_OTHER``.
    """
    raised = f"Error: tool {name!r} raised "
    if text.startswith(raised):
        return text[len(raised) :].partition(":")[0].strip() or "_OTHER"
    if text.startswith("Unknown tool "):
        return "unknown_tool"
    if text.startswith("Invalid arguments for tool "):
        return "invalid_arguments"
    if text.startswith(f"Error: tool {name!r} returned a "):
        return "unserializable_result"
    if text.startswith("Error: "):
        return "exo.errors.ToolError"
    return "_OTHER"
