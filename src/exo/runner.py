"""``run``: the entry point. ``await run(...)``, ``run.stream(...)`` and ``run.sync(...)``.

All three are views of one engine, :meth:`Runner.events`: resolve the provider → load memory
→ (planning) run the planner and inject its plan → add this run's built-in tools → drive the
loop → save the turn to memory. ``run`` consumes the same event stream ``run.stream`` yields
(it only asks the provider for whole responses instead of deltas), and ``run.sync`` wraps
``run``. Errors are raised the same way from every entry point.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from exo import _resume, approval, planning, tracing
from exo._effects import Effects, InProcessEffects, with_whole_calls
from exo._loop import LoopDeps, run_loop
from exo._options import (
    Input,
    RunOptions,
    check_history,
    check_input,
    check_options,
)
from exo._prepass import plan_phase
from exo._retry import RetryPolicy
from exo._state import RunState
from exo._text import encodable
from exo._threads import ToolLane, ToolThreads
from exo.agent import Agent
from exo.artifacts import RETRIEVE_TOOL, enable_artifacts
from exo.context import Context, context_tools
from exo.cost import Budget, run_budget
from exo.errors import AgentError, ConfigError, MemorySaveError
from exo.memory import Memory, resolve_memory
from exo.models import get_provider
from exo.models.base import Provider
from exo.spawn import SPAWN_TOOL, spawn_tool
from exo.tools import Tool
from exo.toolsets import bind_toolsets
from exo.types import (
    DETAILED_ONLY,
    ApprovalRequiredEvent,
    ContentBlock,
    ErrorEvent,
    Message,
    OutputT,
    RunCompleteEvent,
    RunResult,
    RunStartEvent,
    StreamEvent,
    SystemMessage,
    UserMessage,
)

__all__ = ["RunOptions", "Runner", "run"]

log = logging.getLogger("exo.run")


class Runner:
    """Runs agents. Use the module-level instance, :data:`run`, or one of your own.

    A runner owns what its runs share: exo's worker threads for sync tools and the default
    memory of agents without ``memory=``.

    Args:
        tool_threads: Most worker threads for the sync tools of all of this runner's runs
            (each run takes at most its agent's ``max_tool_threads`` of them at once).
    """

    def __init__(self, *, tool_threads: int = 64) -> None:
        if (
            isinstance(tool_threads, bool)
            or not isinstance(tool_threads, int)
            or not 1 <= tool_threads <= 1024
        ):
            raise ConfigError(
                f"Runner(): tool_threads must be an integer from 1 to 1024, got {tool_threads!r}",
                parameter="tool_threads",
            )
        self.threads = ToolThreads(tool_threads)
        self._default_memory: Memory | None = None

    def __repr__(self) -> str:
        return f"Runner(tool_threads={self.threads.size})"

    async def __call__(
        self,
        agent: Agent[OutputT],
        input: Input | None = None,
        *,
        messages: Sequence[Message] | None = None,
        conversation_id: str | None = None,
        provider: Provider | None = None,
        context: Context | None = None,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
        effects: Effects | None = None,
        resume: object = None,
        approvals: dict[str, bool | str] | None = None,
        plan: bool | str | None = None,
        max_cost: float | Decimal | None = None,
        max_tokens_total: int | None = None,
    ) -> RunResult[OutputT]:
        """Run ``agent`` on ``input`` to a final answer (or to a pause for approval).

        Args:
            agent: The agent.
            input: The task: text, or a list of content blocks.
            messages: Prior conversation to continue from.
            conversation_id: Continue (and save to) this conversation in the agent's memory.
            provider: A provider to use instead of resolving ``agent.model``.
            context: The shared context (default: the agent's, else a fresh one).
            max_retries: Override the agent's retry budget for model calls.
            retry: A full retry policy (overrides ``max_retries``).
            effects: The seam model and tool calls pass through (default: in process).
            resume: ``result.state`` of a paused run (after a JSON round-trip, in any
                process): continue that run instead of starting one (``input`` stays unset).
            approvals: When resuming after tool calls: call id → ``True`` (run it),
                ``False`` or a reason (deny it: the model reads an error result).
            plan: When resuming after a plan: ``True`` (accept), ``False`` (run unplanned)
                or the edited plan text.
            max_cost: Override the agent's budget in US dollars (planner, children included).
            max_tokens_total: Override the agent's budget in tokens.

        Returns:
            The result; ``result.status == "paused"`` when a call (or the plan) waits for a
            person: see ``result.pending`` and ``result.state``.

        Raises:
            MaxStepsExceeded: no final answer within ``max_steps``; carries the partial result.
            BudgetExceeded: ``max_cost`` or ``max_tokens_total`` is spent; carries the result.
            ModelError: the provider failed beyond the retry budget.
            PlanningError: the planner failed (and ``planning_on_error`` is ``"raise"``).
            OutputValidationError: the answer did not fit ``output_type`` after
                ``output_retries`` corrections; carries the partial result.
            ConfigError: a bad argument, or a bad resume (see ``exo._resume.restore``).
            AgentError: anything else that stops the run (e.g. an unresolvable model).
        """
        result: RunResult[OutputT] | None = None
        options = RunOptions(
            messages=messages,
            conversation_id=conversation_id,
            provider=provider,
            context=context,
            max_retries=max_retries,
            retry=retry,
            effects=effects,
            resume=resume,
            approvals=approvals,
            plan=plan,
            max_cost=max_cost,
            max_tokens_total=max_tokens_total,
            quiet=True,  # only the result is kept: no tool or text events are built
        )
        async with aclosing(self.events(agent, input, options)) as stream:
            async for event in stream:
                if type(event) is RunCompleteEvent:
                    result = event.result
        assert result is not None  # the engine always ends with RunCompleteEvent or raises
        return result

    def sync(
        self,
        agent: Agent[OutputT],
        input: Input | None = None,
        *,
        messages: Sequence[Message] | None = None,
        conversation_id: str | None = None,
        provider: Provider | None = None,
        context: Context | None = None,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
        effects: Effects | None = None,
        resume: object = None,
        approvals: dict[str, bool | str] | None = None,
        plan: bool | str | None = None,
        max_cost: float | Decimal | None = None,
        max_tokens_total: int | None = None,
    ) -> RunResult[OutputT]:
        """Run to completion from synchronous code (scripts); same arguments as ``run``.

        Raises:
            AgentError: called inside a running event loop (use ``await run(...)`` there).
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(
                self(
                    agent,
                    input,
                    messages=messages,
                    conversation_id=conversation_id,
                    provider=provider,
                    context=context,
                    max_retries=max_retries,
                    retry=retry,
                    effects=effects,
                    resume=resume,
                    approvals=approvals,
                    plan=plan,
                    max_cost=max_cost,
                    max_tokens_total=max_tokens_total,
                )
            )
        raise AgentError(
            "run.sync() cannot be called from inside a running event loop",
            hint="use `await run(agent, input)` in async code (e.g. Jupyter, FastAPI)",
        )

    def stream(
        self,
        agent: Agent[Any],
        input: Input | None = None,
        *,
        detailed: bool = False,
        messages: Sequence[Message] | None = None,
        conversation_id: str | None = None,
        provider: Provider | None = None,
        context: Context | None = None,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
        effects: Effects | None = None,
        resume: object = None,
        approvals: dict[str, bool | str] | None = None,
        plan: bool | str | None = None,
        max_cost: float | Decimal | None = None,
        max_tokens_total: int | None = None,
    ) -> AsyncGenerator[StreamEvent, None]:
        """Run ``agent`` and yield its events as they happen.

        By default: text deltas, tool calls and results, warnings, errors, approval
        requests, and a final RunCompleteEvent carrying the RunResult (paused, after an
        ApprovalRequiredEvent, when a call waits for a person). ``detailed=True`` adds plan
        lifecycle, step, usage and reasoning events. An agent with an ``output_type`` also
        yields OutputEvents with its answer parsed so far. Leaving the loop early cancels the run.
        ``resume``, ``approvals`` and ``plan`` continue a paused run as with ``run``.
        """
        options = RunOptions(
            messages=messages,
            conversation_id=conversation_id,
            provider=provider,
            context=context,
            max_retries=max_retries,
            retry=retry,
            effects=effects,
            stream=True,
            detailed=detailed,
            resume=resume,
            approvals=approvals,
            plan=plan,
            max_cost=max_cost,
            max_tokens_total=max_tokens_total,
        )
        return self.events(agent, input, options)

    def events(
        self, agent: Agent[Any], input: Input | None, options: RunOptions
    ) -> AsyncGenerator[StreamEvent, None]:
        """The engine behind every entry point (see the module docstring), in an
        OpenTelemetry span when a tracer provider is configured (see ``exo.tracing``)."""
        return tracing.traced_run(self._events, agent, input, options)

    async def _events(
        self, agent: Agent[Any], input: Input | None, options: RunOptions
    ) -> AsyncGenerator[StreamEvent, None]:
        """The engine itself."""
        if not isinstance(agent, Agent):
            raise ConfigError(
                f"run() takes an exo.Agent first, got {type(agent).__name__}", parameter="agent"
            )
        paused = _check_resume(agent, input, options)
        if paused is None:
            task: str | list[ContentBlock] = check_input(input)
            history = check_history(options.messages)
        check_options(options)
        detailed, lineage = options.detailed, options.lineage
        try:
            if agent.toolsets:  # tools listed at run time (MCP servers); none: no cost
                agent = await bind_toolsets(agent)
            if paused is None:
                run = await self._prepare(agent, task, history, options)
            else:
                run = self._reopen(agent, paused, options)
            if paused is None and not agent.planning_enabled:  # the common case, directly
                run.deps = await _start(agent, run, options)
            else:
                async with aclosing(_open(agent, run, options, paused)) as opening:
                    async for event in opening:
                        yield event
            if run.deps is None:
                return  # paused on the plan
            deps = run.deps
            _add_builtins(self, agent, run.state, deps)
            if detailed:
                yield RunStartEvent(agent_name=agent.name, model=agent.model, lineage=lineage)
            answers = paused.answers if paused is not None and paused.kind == "tools" else None
            async with aclosing(run_loop(run.state, deps, answers)) as loop:
                async for event in loop:
                    if (
                        type(event) is RunCompleteEvent
                        and run.memory is not None
                        and event.result.status == "completed"  # never a paused half turn
                    ):
                        failed = await _save(run.memory, event.result)
                        if failed is not None:
                            try:
                                yield event  # the paid-for answer reaches the caller first
                            except GeneratorExit:  # the caller stopped reading: still say so
                                log.warning("%s", failed)
                                raise
                            raise failed
                    if detailed or event.type not in DETAILED_ONLY:
                        yield event
        except Exception as exc:
            yield ErrorEvent(
                agent_name=agent.name,
                error=str(exc),
                error_type=type(exc).__name__,
                lineage=lineage,
            )
            raise

    async def _prepare(
        self,
        agent: Agent[Any],
        task: str | list[ContentBlock],
        history: list[Message],
        options: RunOptions,
    ) -> _Run:
        """Resolve what the run uses (provider, context, retries, effects, threads, memory)
        and load the conversation's history."""
        conversation_id = options.conversation_id
        state = RunState(
            agent_name=agent.name,
            model=agent.model,
            depth=options.depth,
            lineage=options.lineage,
            conversation_id=conversation_id,
        )
        run = self._resolve(agent, task, history, state, options)
        if run.memory is not None and conversation_id is not None:
            loaded = await run.memory.load(conversation_id, max_tokens=agent.history_max_tokens)
            run.history = [*loaded, *history]
        return run

    def _reopen(self, agent: Agent[Any], paused: _resume.Paused, options: RunOptions) -> _Run:
        """Resolve what a resumed run uses; its transcript comes from the paused state."""
        state = paused.state
        if paused.kind == "plan":  # the input and history waited on the state
            return self._resolve(agent, paused.task, list(state.messages), state, options)
        return self._resolve(agent, "", [], state, options)

    def _resolve(
        self,
        agent: Agent[Any],
        task: str | list[ContentBlock],
        history: list[Message],
        state: RunState,
        options: RunOptions,
    ) -> _Run:
        provider = options.provider or get_provider(agent.model)
        return _Run(
            task=task,
            history=history,
            provider=provider,
            context=options.context or agent.context or Context(),
            policy=options.retry
            or RetryPolicy(
                max_retries=agent.max_retries
                if options.max_retries is None
                else options.max_retries
            ),
            effects=with_whole_calls(options.effects) if options.effects else InProcessEffects(),
            lane=self.threads.lane(agent.max_tool_threads),
            memory=self.memory_for(agent) if state.conversation_id is not None else None,
            state=state,
            budget=options.budget or run_budget(agent, provider, state, options),
        )

    def memory_for(self, agent: Agent[Any]) -> Memory:
        """The memory backend a run of ``agent`` uses when it passes ``conversation_id``.

        An agent without ``memory=`` keeps conversations in the runner's default: one
        embedded SQLite file ($EXO_HOME/memory.db or ~/.exo/memory.db), opened on first use.
        """
        if agent.memory_backend is not None:
            return agent.memory_backend
        if self._default_memory is None:
            self._default_memory = resolve_memory("sqlite")
            assert self._default_memory is not None  # "sqlite" always resolves
        return self._default_memory

    async def save(self, agent: Agent[Any], result: RunResult[Any]) -> None:
        """Append a finished run's turn to its conversation (e.g. after a MemorySaveError).

        Raises:
            ConfigError: the result belongs to no conversation (the run had no
                ``conversation_id``).
            Exception: whatever the memory backend raises when the save fails again.
        """
        if result.conversation_id is None:
            raise ConfigError(
                "this result belongs to no conversation, so there is nothing to save it to",
                parameter="result",
                hint="pass conversation_id= to the run whose turn you want to keep",
            )
        await self.memory_for(agent).append(
            result.conversation_id, result.new_messages, usage=result.usage
        )


@dataclass(slots=True, kw_only=True)
class _Run:
    """What one run resolved before its loop starts (the engine's working set)."""

    task: str | list[ContentBlock]
    history: list[Message]
    provider: Provider
    context: Context
    policy: RetryPolicy
    effects: Effects
    lane: ToolLane
    memory: Memory | None
    state: RunState
    budget: Budget | None = None
    deps: LoopDeps | None = None


def _check_resume(agent: Agent[Any], input: object, options: RunOptions) -> _resume.Paused | None:
    """Check a resume's arguments and restore its state; ``None`` for a fresh run."""
    if options.resume is None:
        if options.approvals is not None or options.plan is not None:
            raise ConfigError(
                "run(): approvals= and plan= answer a paused run, and resume= is missing",
                parameter="resume",
                hint="pass resume=result.state of the paused run",
            )
        if input is None:
            raise ConfigError(
                "run() needs the task: run(agent, input), or resume= for a paused run",
                parameter="input",
            )
        return None
    for name, value in (("input", input), ("messages", options.messages)):
        if value is not None:
            raise ConfigError(
                f"run(resume=...) continues the paused run with its own transcript, so {name}= "
                "must be left out",
                parameter=name,
            )
    if options.conversation_id is not None:
        raise ConfigError(
            "run(resume=...): the paused state names its own conversation; leave out "
            "conversation_id=",
            parameter="conversation_id",
        )
    return _resume.restore(agent, options.resume, options.approvals, options.plan)


async def _open(
    agent: Agent[Any], run: _Run, options: RunOptions, paused: _resume.Paused | None
) -> AsyncGenerator[StreamEvent, None]:
    """Everything before the loop: plan, get the plan approved, write the opening transcript.

    Sets ``run.deps`` unless the run pauses on its plan (then its last event says so).
    """
    if paused is not None and paused.kind == "tools":
        run.deps = _deps(agent, run, options)
        return
    if paused is not None:
        approval.apply_plan_answer(run.state, paused.plan)
    elif agent.planning_enabled:
        async with aclosing(plan_phase(agent, run, options)) as planned:
            async for event in planned:
                yield event
        if agent.approve_plan:
            request = await approval.review_plan(agent, run.state)
            if request is not None:
                approval.pause_plan(run.state, run.task, run.history)
                result = approval.paused_result(run.state, [request])
                lineage = options.lineage
                yield ApprovalRequiredEvent(
                    agent_name=agent.name, requests=[request], lineage=lineage
                )
                yield RunCompleteEvent(agent_name=agent.name, result=result, lineage=lineage)
                return
    run.deps = await _start(agent, run, options)


async def _start(agent: Agent[Any], run: _Run, options: RunOptions) -> LoopDeps:
    """Write the executor's opening transcript and build what its loop needs."""
    state = run.state
    task, history = run.task, run.history
    if state.plan is not None:
        if agent.planning_format == "steps":  # the steps go on the todo list, numbered so
            from exo import _plan_run  # only runs with structured plans import it

            state.plan = _plan_run.begin(state.plan, run.context, agent.planning_max_chars)
        task, history = planning.inject_plan(run.task, run.history, state.plan.text)
    instructions = encodable(await agent.resolve_instructions())
    system: list[Message] = [SystemMessage(content=instructions)] if instructions else []
    state.messages = [*system, *history, UserMessage(content=task)]
    state.turn_start = len(state.messages) - 1
    state.original_input = UserMessage(content=run.task)
    return _deps(agent, run, options)


def _deps(agent: Agent[Any], run: _Run, options: RunOptions) -> LoopDeps:
    """What the executor's loop needs besides its state."""
    deps = LoopDeps(
        provider=run.provider,
        tools=dict(agent.tool_map),
        context=run.context,
        settings=agent.model_settings(),
        max_steps=options.max_steps or agent.max_steps,
        policy=run.policy,
        stream=options.stream,
        detailed=options.detailed,
        effects=run.effects,
        window_max_tokens=agent.window_max_tokens,
        lane=run.lane,
        output=agent.output,
        gate=agent.gate,
        budget=run.budget,
        quiet=options.quiet,
    )
    if run.state.plan is not None and agent.planning_format == "steps":
        from exo import _plan_run  # a structured plan is tracked step by step

        _plan_run.attach(agent, run, deps, options)
    return deps


async def _save(memory: Memory, result: RunResult[Any]) -> MemorySaveError | None:
    """Save a finished turn; return the error to raise if saving failed."""
    assert result.conversation_id is not None
    try:
        await memory.append(result.conversation_id, result.new_messages, usage=result.usage)
    except Exception as exc:
        error = MemorySaveError(
            f"the run of agent {result.agent_name!r} finished, but saving its turn to "
            f"conversation {result.conversation_id!r} failed ({type(exc).__name__}: {exc}); "
            "the answer is in this error's .result",
            result=result,
            hint="fix the memory backend, then `await run.save(agent, err.result)`",
        )
        error.__cause__ = exc
        return error
    return None


def _add_builtins(runner: Runner, agent: Agent[Any], state: RunState, deps: LoopDeps) -> None:
    """Add this run's built-in tools (never present on the Agent, so never on its planner)."""
    builtins: dict[str, Tool] = {}
    if agent.allow_self_spawn and state.depth < agent.max_spawn_depth:
        builtins[SPAWN_TOOL] = spawn_tool(runner, agent, state, deps)
    if agent.context_tools:
        builtins.update((t.name, t) for t in context_tools())
    if state.plan is not None and agent.planning_format == "steps":
        from exo import _plan_run  # a tracked plan's todo and replan tools

        builtins.update(_plan_run.builtins(deps))
    reserved = list(builtins)
    if enable_artifacts(deps, threshold=agent.artifact_threshold):
        reserved.append(RETRIEVE_TOOL)  # offered once the run parks its first artifact
    for name in reserved:
        if name in deps.tools:
            raise ConfigError(
                f"agent {agent.name!r} has a tool named {name!r}, which is a built-in tool",
                parameter="tools",
                hint="rename your tool with @tool(name=...)",
            )
    deps.tools.update(builtins)
    deps.specs = [t.spec for t in deps.tools.values()]


run = Runner()
"""Run an agent: ``await run(agent, input)``, ``run.stream(...)``, ``run.sync(...)``."""
