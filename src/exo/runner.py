"""``run``: the entry point. ``await run(...)``, ``run.stream(...)`` and ``run.sync(...)``.

All three are views of one engine, :meth:`Runner.events`: resolve the provider → load memory
→ (planning) run the planner and inject its plan → add this run's built-in tools → drive the
loop → save the turn to memory. ``run`` consumes the same event stream ``run.stream`` yields
(it only asks the provider for whole responses instead of deltas), and ``run.sync`` wraps
``run``. Errors are raised the same way from every entry point.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from typing import Any

from exo import planning
from exo._loop import Effects, InProcessEffects, LoopDeps, run_loop
from exo._retry import RetryPolicy
from exo._state import RunState
from exo.agent import Agent
from exo.artifacts import RETRIEVE_TOOL, enable_artifacts
from exo.context import Context, context_tools
from exo.errors import AgentError, ConfigError
from exo.memory import Memory, resolve_memory
from exo.models import get_provider
from exo.models.base import Provider
from exo.spawn import SPAWN_TOOL, spawn_tool
from exo.tools import Tool
from exo.types import (
    DETAILED_ONLY,
    ContentBlock,
    DocumentBlock,
    ErrorEvent,
    ImageBlock,
    Message,
    PlanCompleteEvent,
    PlanSkippedEvent,
    PlanStartEvent,
    RunCompleteEvent,
    RunResult,
    RunStartEvent,
    StreamEvent,
    SystemMessage,
    TextBlock,
    UserMessage,
)

__all__ = ["Runner", "run"]

Input = str | Sequence[ContentBlock]


def _check_input(value: object) -> str | list[ContentBlock]:
    if isinstance(value, str):
        return value
    if (
        isinstance(value, Sequence)
        and value  # no blocks (or b""): nothing to send
        and all(isinstance(b, TextBlock | ImageBlock | DocumentBlock) for b in value)
    ):
        return list(value)
    raise ConfigError(
        f"input must be a string or a list of content blocks, got {type(value).__name__}",
        parameter="input",
        hint="pass the task as text, or e.g. [TextBlock(text=...), ImageBlock(url=...)] "
        "(at least one block)",
    )


class Runner:
    """Runs agents. Use the module-level instance, :data:`run`."""

    async def __call__(
        self,
        agent: Agent,
        input: Input,
        *,
        messages: Sequence[Message] | None = None,
        conversation_id: str | None = None,
        provider: Provider | None = None,
        context: Context | None = None,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
        effects: Effects | None = None,
    ) -> RunResult:
        """Run ``agent`` on ``input`` to a final answer.

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

        Raises:
            MaxStepsExceeded: no final answer within ``max_steps``; carries the partial result.
            ModelError: the provider failed beyond the retry budget.
            PlanningError: the planner failed (and ``planning_on_error`` is ``"raise"``).
            AgentError: anything else that stops the run (e.g. an unresolvable model).
        """
        result: RunResult | None = None
        events = self.events(
            agent,
            input,
            messages=messages,
            conversation_id=conversation_id,
            provider=provider,
            context=context,
            max_retries=max_retries,
            retry=retry,
            effects=effects,
            stream=False,
            detailed=False,
        )
        async with aclosing(events) as stream:
            async for event in stream:
                if type(event) is RunCompleteEvent:
                    result = event.result
        assert result is not None  # the engine always ends with RunCompleteEvent or raises
        return result

    def sync(self, agent: Agent, input: Input, **kwargs: Any) -> RunResult:
        """Run to completion from synchronous code (scripts); same arguments as ``run``.

        Raises:
            AgentError: called inside a running event loop (use ``await run(...)`` there).
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self(agent, input, **kwargs))
        raise AgentError(
            "run.sync() cannot be called from inside a running event loop",
            hint="use `await run(agent, input)` in async code (e.g. Jupyter, FastAPI)",
        )

    def stream(
        self,
        agent: Agent,
        input: Input,
        *,
        detailed: bool = False,
        messages: Sequence[Message] | None = None,
        conversation_id: str | None = None,
        provider: Provider | None = None,
        context: Context | None = None,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
        effects: Effects | None = None,
    ) -> AsyncGenerator[StreamEvent, None]:
        """Run ``agent`` and yield its events as they happen.

        By default: text deltas, tool calls and results, warnings, errors, and a final
        RunCompleteEvent carrying the RunResult. ``detailed=True`` adds plan lifecycle,
        step, usage and reasoning events. Leaving the loop early cancels the run.
        """
        return self.events(
            agent,
            input,
            messages=messages,
            conversation_id=conversation_id,
            provider=provider,
            context=context,
            max_retries=max_retries,
            retry=retry,
            effects=effects,
            stream=True,
            detailed=detailed,
        )

    async def events(
        self,
        agent: Agent,
        input: Input,
        *,
        messages: Sequence[Message] | None,
        conversation_id: str | None,
        provider: Provider | None,
        context: Context | None,
        max_retries: int | None,
        retry: RetryPolicy | None,
        effects: Effects | None,
        stream: bool,
        detailed: bool,
        depth: int = 0,
        lineage: tuple[str, ...] = (),
        max_steps: int | None = None,
    ) -> AsyncGenerator[StreamEvent, None]:
        """The engine behind every entry point (see the module docstring)."""
        if not isinstance(agent, Agent):
            raise ConfigError(
                f"run() takes an exo.Agent first, got {type(agent).__name__}", parameter="agent"
            )
        task = _check_input(input)
        try:
            provider = provider or get_provider(agent.model)
            ctx = context or agent.context or Context()
            policy = retry or RetryPolicy(
                max_retries=agent.max_retries if max_retries is None else max_retries
            )
            run_effects = effects or InProcessEffects()
            memory = _memory_for(agent, conversation_id)
            history = list(messages or [])
            if memory is not None and conversation_id is not None:
                loaded = await memory.load(conversation_id, max_tokens=agent.history_max_tokens)
                history = [*loaded, *history]
            state = RunState(
                agent_name=agent.name,
                model=agent.model,
                depth=depth,
                lineage=lineage,
                conversation_id=conversation_id,
            )
            run_task, run_history = task, history
            if agent.planning_enabled:
                if detailed:
                    yield PlanStartEvent(
                        agent_name=agent.name,
                        model=agent.planning_model or agent.model,
                        lineage=lineage,
                    )
                state.plan = await planning.run_planner(
                    agent,
                    task,
                    history,
                    provider=provider,
                    context=ctx,
                    effects=run_effects,
                    depth=depth,
                    lineage=lineage,
                )
                if state.plan.skipped is not None:
                    yield PlanSkippedEvent(
                        agent_name=agent.name, reason=state.plan.skipped, lineage=lineage
                    )
                elif detailed:
                    yield PlanCompleteEvent(agent_name=agent.name, plan=state.plan, lineage=lineage)
                run_task, run_history = planning.inject_plan(task, history, state.plan.text)
            instructions = await agent.resolve_instructions()
            system: list[Message] = [SystemMessage(content=instructions)] if instructions else []
            state.messages = [*system, *run_history, UserMessage(content=run_task)]
            state.turn_start = len(state.messages) - 1
            state.original_input = UserMessage(content=task)
            deps = LoopDeps(
                provider=provider,
                tools=dict(agent.tool_map),
                context=ctx,
                settings=agent.model_settings(),
                max_steps=max_steps or agent.max_steps,
                policy=policy,
                stream=stream,
                detailed=detailed,
                effects=run_effects,
                window_max_tokens=agent.window_max_tokens,
            )
            _add_builtins(self, agent, state, deps)
            if detailed:
                yield RunStartEvent(agent_name=agent.name, model=agent.model, lineage=lineage)
            async with aclosing(run_loop(state, deps)) as loop:
                async for event in loop:
                    if type(event) is RunCompleteEvent and memory is not None:
                        assert conversation_id is not None
                        await memory.append(
                            conversation_id, event.result.new_messages, usage=event.result.usage
                        )
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


_default_memory: Memory | None = None


def _memory_for(agent: Agent, conversation_id: str | None) -> Memory | None:
    """The memory backend of a run that continues a conversation (else None).

    An agent without ``memory=`` keeps conversations in the embedded default, one SQLite file
    ($EXO_HOME/memory.db or ~/.exo/memory.db) shared by the whole process.
    """
    global _default_memory
    if conversation_id is None:
        return None
    if agent.memory_backend is not None:
        return agent.memory_backend
    if _default_memory is None:
        _default_memory = resolve_memory("sqlite")
    return _default_memory


def _add_builtins(runner: Runner, agent: Agent, state: RunState, deps: LoopDeps) -> None:
    """Add this run's built-in tools (never present on the Agent, so never on its planner)."""
    builtins: dict[str, Tool] = {}
    if agent.allow_self_spawn and state.depth < agent.max_spawn_depth:
        builtins[SPAWN_TOOL] = spawn_tool(runner, agent, state, deps)
    if agent.context_tools:
        builtins.update((t.name, t) for t in context_tools())
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
