"""THE loop: one async generator of events that both ``run`` and ``run.stream`` consume.

Each step reads as its name: build the request → call the model (through the run's
:class:`Effects`, the one seam every model and tool call passes through) → emit → stop, or
run the tools → append → next step. Leaving the generator early (``aclose``) or cancelling the
task closes the model stream and cancels running tools: nothing is left behind.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from exo import approval
from exo._effects import Effects, InProcessEffects
from exo._retry import RetryPolicy
from exo._state import RunState
from exo._threads import ToolLane
from exo._window import window_messages
from exo.context import Context
from exo.cost import Budget
from exo.errors import MaxStepsExceeded, ModelError, OutputTruncated, OutputValidationError
from exo.models.base import (
    ModelChunk,
    ModelRequest,
    ModelResponse,
    ModelSettings,
    Provider,
    ReasoningDelta,
    TextDelta,
    ToolSpec,
)
from exo.output import Answer, OutputType, PartialOutput, closing_results, error_lines
from exo.tools import Tool, ToolContext
from exo.types import (
    ApprovalRequiredEvent,
    AssistantMessage,
    OutputEvent,
    ReasoningEvent,
    RunCompleteEvent,
    RunResult,
    StepEvent,
    StreamEvent,
    TextEvent,
    ToolCall,
    ToolCallEvent,
    ToolResult,
    ToolResultEvent,
    UsageEvent,
    UserMessage,
)

__all__ = ["Effects", "InProcessEffects", "LoopDeps", "build_result", "run_loop"]

# The seam lives in exo._effects; its two public names are imported here too, where the
# loop's users have always found them.


ResultHook = Callable[[ToolResult, Tool | None, RunState, Context], Awaitable[ToolResult]]
"""Rewrites a tool result before it enters the transcript (artifacts use it)."""

TurnHook = Callable[[RunState, "LoopDeps"], AsyncGenerator[StreamEvent, None]]
"""Runs after each turn of tool calls, between steps; may add messages and yield events
(structured plans tick their steps and replan here)."""


@dataclass(slots=True, kw_only=True)
class LoopDeps:
    """What a run needs besides its state: provider, tools, settings, effects.

    Attributes:
        provider: The model provider.
        tools: The tools offered to the model, by name (built-ins included).
        context: The run's shared context.
        settings: Sampling settings for every call.
        max_steps: Model calls allowed.
        policy: Retry policy for model calls.
        stream: Stream from the provider (``run.stream``) or make whole calls (``run``).
        detailed: Also emit step, usage and reasoning events.
        effects: The seam model and tool calls pass through.
        on_tool_result: Optional rewrite of each tool result (artifact parking).
        window_max_tokens: Keep what each request sends within this many (estimated)
            tokens, dropping old turns (the transcript itself stays whole).
        extras: Per-run services for built-in tools (spawn limits, artifacts).
        lane: The run's share of exo's worker threads for sync tools (``None``: a thread
            per call).
        output: The agent's typed output (``None``: a free-text answer).
        gate: Which tool calls need a person's approval (``None``: none can).
        budget: The run tree's ``max_cost`` / ``max_tokens_total`` (``None``: no budget).
        after_turn: Runs after each turn of tool calls (``None``: nothing does).
        quiet: Build no tool-call, tool-result or text events: nobody reads them (``run``
            keeps only the result).
    """

    provider: Provider
    tools: dict[str, Tool]
    context: Context
    settings: ModelSettings = field(default_factory=ModelSettings)
    max_steps: int = 10
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    stream: bool = False
    detailed: bool = False
    effects: Effects = field(default_factory=InProcessEffects)
    on_tool_result: ResultHook | None = None
    window_max_tokens: int | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    lane: ToolLane | None = None
    output: OutputType[Any] | None = None
    gate: approval.Gate | None = None
    budget: Budget | None = None
    after_turn: TurnHook | None = None
    quiet: bool = False
    specs: list[ToolSpec] = field(init=False)
    priced_as: str = field(init=False)
    """The provider's ``backend:model``: what each call's price is looked up by."""

    def __post_init__(self) -> None:
        self.specs = [t.spec for t in self.tools.values()]
        self.priced_as = f"{self.provider.backend}:{self.provider.model}"


def build_result(state: RunState, output: Any, last: ModelResponse | None = None) -> RunResult[Any]:
    """Build the honest RunResult of a run from its state (and its last model response)."""
    new = state.messages[state.turn_start :]
    if state.original_input is not None and new:
        new = [state.original_input, *new[1:]]
    return RunResult(
        output=output,
        messages=list(state.messages),
        new_messages=new,
        usage=state.total_usage(),
        steps=state.steps,
        agent_name=state.agent_name,
        model=state.model,
        plan=state.plan,
        children=list(state.children),
        execute_usage=state.usage,
        conversation_id=state.conversation_id,
        finish_reason=last.finish_reason if last is not None else "stop",
        refusal=last.refusal if last is not None else None,
        calls=list(state.calls),
    )


async def run_loop(
    state: RunState, deps: LoopDeps, resume: dict[str, approval.Answer] | None = None
) -> AsyncGenerator[StreamEvent, None]:
    """Drive the agent to a final answer; the last event is a RunCompleteEvent.

    Each step: check the budget → call the model (streaming its deltas) → record the
    response → finish, or run the tools the model asked for → next step. A turn with a call
    that needs approval and no handler to answer it ends the run paused (its
    RunCompleteEvent's result has ``status="paused"``); ``resume`` holds the answers for
    that held turn, which then runs first.

    Raises:
        MaxStepsExceeded: ``max_steps`` model calls gave no final answer.
        OutputTruncated: the final answer was cut at ``max_tokens``.
        OutputValidationError: the typed answer stayed invalid after ``output_retries``.
        ModelError: the provider failed beyond the retry budget.
    """
    name, lineage, detailed = state.agent_name, state.lineage, deps.detailed
    output, failed = deps.output, 0
    if resume is not None:
        async with aclosing(_held_turn(state, deps, resume)) as held_events:
            async for event in held_events:
                yield event
        if state.held:
            return  # paused again: a child waits
    while True:
        _check_budget(state, deps)
        state.steps += 1
        step = state.steps
        if detailed:
            yield StepEvent(agent_name=name, step=step, status="started", lineage=lineage)
        response: ModelResponse | None = None
        partial = PartialOutput(output) if output is not None and deps.stream else None
        if not deps.stream:  # a whole response: one awaited call, no generator around it
            request = _request(state, deps)
            response = await deps.effects.model_complete(deps.provider, request, policy=deps.policy)
        else:
            async with aclosing(_call_model(state, deps)) as chunks:
                async for chunk in chunks:
                    if partial is not None:
                        changed, value = partial.feed(chunk)
                        if changed:
                            yield OutputEvent(agent_name=name, partial=value, lineage=lineage)
                    if isinstance(chunk, TextDelta):
                        if chunk.text:
                            yield TextEvent(agent_name=name, text=chunk.text, lineage=lineage)
                    elif isinstance(chunk, ModelResponse):
                        response = chunk
                    elif detailed and isinstance(chunk, ReasoningDelta):
                        yield ReasoningEvent(agent_name=name, text=chunk.text, lineage=lineage)
        if response is None:
            raise ModelError(
                "no response", backend=deps.provider.backend, model=deps.provider.model
            )
        for event in _record(state, deps, response, step):
            yield event
        message = response.message
        answer = output.answer_of(message) if output is not None else None
        if answer is not None or not message.tool_calls:
            done = (
                _finish(state, response)
                if output is None or answer is None
                else _typed_answer(state, response, output, answer, failed)
            )
            if detailed:
                yield StepEvent(agent_name=name, step=step, status="completed", lineage=lineage)
            if done is None:  # an invalid typed answer went back to the model: ask again
                failed += 1
                continue
            yield done
            return
        for tool_call in () if deps.quiet else message.tool_calls:
            yield ToolCallEvent(
                agent_name=name,
                tool_call_id=tool_call.id,
                tool_name=tool_call.name,
                arguments=tool_call.arguments,
                lineage=lineage,
            )
        answers: dict[str, approval.Answer] = {}
        if deps.gate is not None:
            pending, answers = await deps.gate.review(state, message.tool_calls, deps.tools)
            if pending:  # hold the whole turn: nothing runs, nothing more is sent
                yield ApprovalRequiredEvent(agent_name=name, requests=pending, lineage=lineage)
                result = approval.paused_result(state, pending, build_result(state, "", response))
                yield RunCompleteEvent(agent_name=name, result=result, lineage=lineage)
                return
        async with aclosing(_run_tools(state, deps, message.tool_calls, answers)) as tool_events:
            async for event in tool_events:
                yield event
        if state.held:  # a child waits for approval: the turn (and this run) waits too
            yield _paused(state)
            yield _paused_complete(state, response)
            return
        if detailed:
            yield StepEvent(agent_name=name, step=step, status="completed", lineage=lineage)
        if deps.after_turn is not None:
            async with aclosing(deps.after_turn(state, deps)) as turn_events:
                async for event in turn_events:
                    yield event


async def _held_turn(
    state: RunState, deps: LoopDeps, answers: dict[str, approval.Answer]
) -> AsyncGenerator[StreamEvent, None]:
    """Run the turn a run paused on, with a person's answers (or pause again for a child)."""
    held = state.messages[-1]
    assert isinstance(held, AssistantMessage)  # exo._resume checked it
    deps.extras[approval.ANSWERS] = answers  # for paused children of the held turn
    async with aclosing(_run_tools(state, deps, held.tool_calls, answers)) as tool_events:
        async for event in tool_events:
            yield event
    if state.held:
        yield _paused(state)
        yield _paused_complete(state, None)
    elif deps.detailed:
        yield StepEvent(
            agent_name=state.agent_name, step=state.steps, status="completed", lineage=state.lineage
        )
    if not state.held and deps.after_turn is not None:
        async with aclosing(deps.after_turn(state, deps)) as turn_events:
            async for event in turn_events:
                yield event


def _paused(state: RunState) -> ApprovalRequiredEvent:
    """The event of a run that waits for its children's approvals."""
    return ApprovalRequiredEvent(
        agent_name=state.agent_name, requests=approval.held_requests(state), lineage=state.lineage
    )


def _paused_complete(state: RunState, response: ModelResponse | None) -> RunCompleteEvent:
    result = build_result(state, "", response)
    result = approval.paused_result(state, approval.held_requests(state), result)
    return RunCompleteEvent(agent_name=state.agent_name, result=result, lineage=state.lineage)


def _check_budget(state: RunState, deps: LoopDeps) -> None:
    """Refuse another model call once ``max_steps``, or the tree's budget, are spent."""
    if deps.budget is not None:
        deps.budget.check(state.agent_name, lambda: build_result(state, ""))
    if state.steps >= deps.max_steps:
        raise MaxStepsExceeded(
            f"agent {state.agent_name!r} used all {deps.max_steps} steps (model calls) without "
            "a final answer",
            result=build_result(state, ""),
            hint="raise max_steps, or tell the model in its instructions when to stop",
        )


def _call_model(state: RunState, deps: LoopDeps) -> AsyncGenerator[ModelChunk, None]:
    """Build this step's request and make the model call through the run's effects."""
    request = _request(state, deps)
    return deps.effects.model_call(deps.provider, request, stream=deps.stream, policy=deps.policy)


def _request(state: RunState, deps: LoopDeps) -> ModelRequest:
    """This step's request: the transcript (windowed, if the agent says so), tools, settings."""
    sent = state.messages
    if deps.window_max_tokens is not None:
        sent = window_messages(sent, deps.window_max_tokens).messages
    return ModelRequest(
        messages=list(sent),
        tools=deps.specs,
        settings=deps.settings,
        agent_name=state.agent_name,
        output=deps.output.spec if deps.output is not None else None,
    )


def _record(
    state: RunState, deps: LoopDeps, response: ModelResponse, step: int
) -> list[StreamEvent]:
    """Add the response to the transcript and usage; return the events that report it."""
    message = response.message
    state.usage = state.usage + response.usage
    state.calls.append((deps.priced_as, response.usage))
    if deps.budget is not None:
        deps.budget.charge(deps.priced_as, response.usage)
    state.messages.append(message)
    events: list[StreamEvent] = []
    if not deps.stream and message.content and not deps.quiet:
        events.append(
            TextEvent(agent_name=state.agent_name, text=message.content, lineage=state.lineage)
        )
    if deps.detailed:
        events.append(
            UsageEvent(
                agent_name=state.agent_name,
                usage=response.usage,
                step=step,
                model=response.model or deps.provider.model,
                lineage=state.lineage,
            )
        )
    return events


def _finish(state: RunState, response: ModelResponse, value: Any = None) -> RunCompleteEvent:
    """End the run on a final answer (or raise if it was cut at ``max_tokens``); ``value``
    is the validated typed answer, if the agent has an output type."""
    text = response.message.content
    if response.finish_reason == "length":
        raise OutputTruncated(
            f"agent {state.agent_name!r}: the model stopped at max_tokens, so its answer is cut "
            "off",
            result=build_result(state, text, response),
            hint="raise max_tokens on the Agent (or ask for a shorter answer)",
        )
    return RunCompleteEvent(
        agent_name=state.agent_name,
        result=build_result(state, text if value is None else value, response),
        lineage=state.lineage,
    )


def _typed_answer(
    state: RunState,
    response: ModelResponse,
    output: OutputType[Any],
    answer: Answer,
    failed: int,
) -> RunCompleteEvent | None:
    """Validate a typed answer: finish on a valid one; send an invalid one back with its
    errors (``None``: the loop asks again), or raise once ``output_retries`` are spent."""
    message = response.message
    if response.finish_reason == "length":
        return _finish(state, response)  # raises OutputTruncated: no use validating a cut
    try:
        value = output.validate(answer.raw)
    except ValidationError as exc:
        errors = error_lines(exc)
        feedback = output.retry_message(errors, tool=answer.call is not None)
        if answer.call is not None:
            state.messages.extend(closing_results(message, answer, feedback, accepted=False))
        else:
            state.messages.append(UserMessage(content=feedback))
        if failed >= output.retries:
            refused = f" (the model refused: {response.refusal})" if response.refusal else ""
            raise OutputValidationError(
                f"agent {state.agent_name!r}: the answer does not match output_type "
                f"{output.spec.name} after {failed} correction(s){refused}: "
                + "; ".join(errors[:5]),
                result=build_result(state, answer.raw, response),
                raw=answer.raw,
                errors=errors,
                hint="raise output_retries, describe the format in the instructions, or "
                "simplify output_type",
            ) from None
        return None
    if answer.call is not None:
        state.messages.extend(closing_results(message, answer, "Answer accepted.", accepted=True))
    return _finish(state, response, value)


_DONE: Any = object()


async def _run_tools(
    state: RunState,
    deps: LoopDeps,
    calls: list[ToolCall],
    answers: dict[str, approval.Answer] | None = None,
) -> AsyncGenerator[StreamEvent, None]:
    """Run one turn's tools, forwarding events they emit while they run.

    ``answers`` are a person's answers to the calls that needed approval: a denied call does
    not run and gets an error result instead.
    """
    denied: dict[str, ToolResult] = {}
    everything = calls
    if state.held:  # a turn held for a child: what ran before the pause is not run again
        calls = [c for c in calls if (h := state.held.get(c.id)) is None or h.result is None]
    if answers:
        calls, denied = approval.merge_denied(calls, answers)
    live = any((t := deps.tools.get(c.name)) is not None and t.takes_context for c in calls)
    queue: asyncio.Queue[Any] | None = asyncio.Queue() if live else None
    sink = _thread_safe_sink(queue) if queue is not None else None

    def make_ctx(call: ToolCall) -> ToolContext:
        return ToolContext(
            agent_name=state.agent_name,
            tool_call_id=call.id,
            context=deps.context,
            state=state,
            sink=sink,
            extras=deps.extras,
            lane=deps.lane,
        )

    outcomes: list[tuple[ToolResult, float]]
    if not calls:
        outcomes = []
    elif queue is None:
        outcomes = await deps.effects.tool_calls(calls, deps.tools, make_ctx)
    else:
        task = asyncio.ensure_future(deps.effects.tool_calls(calls, deps.tools, make_ctx))
        task.add_done_callback(lambda _: queue.put_nowait(_DONE))
        try:
            while (event := await queue.get()) is not _DONE:
                yield event
            outcomes = task.result()
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
    if denied or state.held:  # back in call order; or held while a child waits
        settled = approval.settle_turn(state, everything, calls, outcomes, denied)
        if settled is None:
            return
        outcomes = settled
    for result, duration_ms in outcomes:
        if deps.on_tool_result is not None:
            result = await deps.on_tool_result(
                result, deps.tools.get(result.tool_name), state, deps.context
            )
        state.messages.append(result)
        if deps.quiet:
            continue
        yield ToolResultEvent(
            agent_name=state.agent_name,
            tool_call_id=result.tool_call_id,
            tool_name=result.tool_name,
            content=result.content,
            is_error=result.is_error,
            duration_ms=duration_ms,
            lineage=state.lineage,
        )


def _thread_safe_sink(queue: asyncio.Queue[Any]) -> Callable[[StreamEvent], None]:
    """Put events on ``queue``, also from the worker threads sync tools run in.

    ``asyncio.Queue`` is not thread-safe: a put from another thread would not wake an idle
    event loop, so the event would wait until the tool ends.
    """
    loop = asyncio.get_running_loop()
    loop_thread = threading.get_ident()

    def sink(event: StreamEvent) -> None:
        if threading.get_ident() == loop_thread:
            queue.put_nowait(event)
        else:
            loop.call_soon_threadsafe(queue.put_nowait, event)

    return sink
