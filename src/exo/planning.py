"""The planner pre-pass: build the planner, resolve its provider, run it, inject its plan.

With ``planning_enabled=True`` an ephemeral planner agent, ``{name}_planner``, runs the full
LLM-tool loop on the original input before the executor. Only its final text survives (its
transcript is discarded); that text, stripped, is the plan, injected into the executor's input:

* string input becomes :data:`STRING_TEMPLATE` (original task, planner output, directive);
* content-block input stays as it is and a ``SystemMessage`` (:data:`SYSTEM_TEMPLATE`) is
  appended to the message history.

An empty plan injects nothing. A plan longer than the agent's ``planning_max_chars`` is cut
to that length plus :data:`CUT_MARKER` (:func:`cap_plan`), and the run emits a WarningEvent;
shorter plans go into the templates exactly as written.

With ``planning_format="steps"`` the planner's ``output_type`` is
:class:`~exo.plans.PlannedSteps` (a list written as text is read by
:func:`~exo.plans.parse_steps` instead), and the plan is those steps rendered as numbered text
(:func:`~exo.plans.render_steps`), in the same templates; :mod:`exo._plan_run` tracks them.

The planner gets the agent's own tools only: the built-in
tools (``spawn_self``, ``retrieve_artifact``, context tools) are added by the runner to the
executor at run time, so the planner lacks them by construction. It has no memory, shares the
run's context, and inherits ``max_steps``, ``temperature``, ``max_tokens`` and the self-spawn
settings. This module only composes public pieces: :class:`~exo.agent.Agent`, the registry's
:func:`~exo.models.get_provider` and the loop.
"""

from __future__ import annotations

from contextlib import aclosing
from typing import Any

from exo._effects import Effects
from exo._loop import LoopDeps, run_loop
from exo._retry import RetryPolicy
from exo._state import RunState
from exo._threads import ToolLane
from exo.agent import Agent
from exo.context import Context
from exo.cost import Budget
from exo.errors import AgentError, BudgetExceeded, OutputValidationError, PlanningError
from exo.models import get_provider, parse_model
from exo.models.base import Provider
from exo.plans import PlannedSteps, from_planned, parse_steps, render_steps
from exo.tools import Tool, to_tool
from exo.types import (
    ContentBlock,
    Message,
    PlanResult,
    RunCompleteEvent,
    SystemMessage,
    UserMessage,
)

__all__ = [
    "CUT_MARKER",
    "STRING_TEMPLATE",
    "SYSTEM_TEMPLATE",
    "build_planner",
    "cap_plan",
    "inject_plan",
    "resolve_planner_provider",
    "run_planner",
]

STRING_TEMPLATE = (
    "Original task:\n{task}\n\nPlanner output:\n{plan}\n\n"
    "Use the planner output while completing the task."
)
"""How a plan wraps string input."""

SYSTEM_TEMPLATE = (
    "Planner output:\n{plan}\n\nUse the planner output while responding to the next user task."
)
"""The SystemMessage appended to the history for content-block input."""


CUT_MARKER = "\n\n[plan cut: showing the first {kept:,} of {total:,} characters]"
"""Appended to a plan cut at ``planning_max_chars``, so the executor sees it is incomplete."""


def cap_plan(plan: str, limit: int) -> tuple[str, int | None]:
    """Return the plan to inject, and its original length when it was cut (else ``None``)."""
    if len(plan) <= limit:
        return plan, None
    return plan[:limit] + CUT_MARKER.format(kept=limit, total=len(plan)), len(plan)


def _planner_tools(agent: Agent[Any]) -> list[Tool]:
    if agent.planning_tools is None:
        return list(agent.tool_map.values())
    chosen: list[Tool] = []
    for item in agent.planning_tools:
        chosen.append(agent.tool_map[item] if isinstance(item, str) else to_tool(item))
    return chosen


def build_planner(agent: Agent[Any]) -> Agent[Any]:
    """Return the ephemeral planner agent for ``agent`` (a fresh one every run)."""
    return Agent(
        name=f"{agent.name}_planner",
        model=agent.planning_model or agent.model,
        instructions=agent.planning_instructions.strip() or agent.instructions,
        tools=_planner_tools(agent),
        memory=None,
        context=agent.context,
        max_steps=agent.planning_max_steps or agent.max_steps,
        temperature=agent.temperature,
        max_tokens=agent.max_tokens,
        model_timeout=agent.model_timeout,
        model_idle_timeout=agent.model_idle_timeout,
        max_retries=agent.max_retries,
        allow_self_spawn=agent.allow_self_spawn,
        max_spawn_children=agent.max_spawn_children,
        max_spawn_depth=agent.max_spawn_depth,
        max_spawn_total=agent.max_spawn_total,
        planning_enabled=False,
        artifact_threshold=0,
        context_tools=False,
        approval_handler=agent.approval_handler,
        # Structured plans: typed steps, and no correction round trip for a model that writes
        # a list instead (run_planner reads that text).
        **_steps_output() if agent.planning_format == "steps" else {},
    )


def _steps_output() -> dict[str, Any]:
    return {"output_type": PlannedSteps, "output_retries": 0}


def resolve_planner_provider(agent: Agent[Any], executor: Provider) -> Provider:
    """Find the planner's provider: same model → the executor's; same backend → a copy with
    the new model name; other backend → :func:`~exo.models.get_provider`.

    Raises:
        AgentError: no provider could be resolved (at run time, never at construction).
    """
    model = agent.planning_model or agent.model
    if model == agent.model:
        return executor
    backend, name = parse_model(model)
    reasons: list[str] = []
    if backend == executor.backend:
        try:
            return executor.with_model(name)
        except Exception as exc:
            reasons.append(f"copying the {backend!r} provider failed ({exc})")
    try:
        return get_provider(model)
    except Exception as exc:
        reasons.append(exc.message if isinstance(exc, AgentError) else str(exc))
    raise AgentError(
        f"planning_model {model!r} could not be resolved: {'; '.join(reasons)}",
        hint="fix planning_model, set the backend's API key, or register the backend",
    )


async def run_planner(
    agent: Agent[Any],
    task: str | list[ContentBlock],
    history: list[Message],
    *,
    provider: Provider,
    context: Context,
    effects: Effects,
    policy: RetryPolicy | None = None,
    depth: int = 0,
    lineage: tuple[str, ...] = (),
    lane: ToolLane | None = None,
    budget: Budget | None = None,
) -> PlanResult:
    """Run the planner to completion and return its plan (the transcript is discarded).

    ``policy`` is the run's retry policy (``run(retry=...)`` / ``run(max_retries=...)``), so
    the planner's model calls retry exactly like the executor's; without it, the agent's
    ``max_retries``. ``budget`` is the run tree's: a planner that reaches it stops, and its
    plan is skipped (the executor then stops at its first step with BudgetExceeded).

    Raises:
        AgentError: the planner's provider could not be resolved.
        PlanningError: the planner failed and ``planning_on_error`` is ``"raise"``.
    """
    planner = build_planner(agent)
    planner_provider = resolve_planner_provider(agent, provider)
    state = RunState(agent_name=planner.name, model=planner.model, depth=depth, lineage=lineage)
    try:
        instructions = await planner.resolve_instructions()
        system = [SystemMessage(content=instructions)] if instructions else []
        state.messages = [*system, *history, UserMessage(content=task)]
        deps = LoopDeps(
            provider=planner_provider,
            tools=dict(planner.tool_map),
            context=context,
            settings=planner.model_settings(),
            max_steps=planner.max_steps,
            policy=policy or RetryPolicy(max_retries=planner.max_retries),
            effects=effects,
            lane=lane,
            # The agent's approval rules hold for the planner too; it never pauses.
            gate=agent.gate.for_planner() if agent.gate is not None else None,
            budget=budget,
            output=planner.output,
        )
        output = await _drive(state, deps)
    except Exception as exc:
        reason = f"the planning phase of agent {agent.name!r} failed: {exc}"
        if agent.planning_on_error == "skip" or isinstance(exc, BudgetExceeded):
            return PlanResult(
                text="",
                model=planner.model,
                usage=state.usage,
                steps=state.steps,
                skipped=reason,
                calls=state.calls,
            )
        raise PlanningError(
            reason, hint="fix the cause, or set planning_on_error='skip' to run unplanned"
        ) from exc
    if planner.output is None:
        return PlanResult(
            text=output.strip(),
            model=planner.model,
            usage=state.usage,
            steps=state.steps,
            calls=state.calls,
        )
    checklist = tuple(  # the typed answer (a dict), or a plan the model wrote as text
        [from_planned(s) for s in output["steps"]]
        if isinstance(output, dict)
        else parse_steps(output)
    )
    return PlanResult(
        text=render_steps(checklist),
        model=planner.model,
        usage=state.usage,
        steps=state.steps,
        checklist=checklist,
        calls=state.calls,
    )


async def _drive(state: RunState, deps: LoopDeps) -> Any:
    """Run the planner's loop; return its answer (the raw text of an untyped steps plan)."""
    output: Any = ""
    try:
        async with aclosing(run_loop(state, deps)) as events:
            async for event in events:
                if isinstance(event, RunCompleteEvent):
                    output = event.result.output
    except OutputValidationError as exc:
        if deps.output is None:  # pragma: no cover - only typed planners validate
            raise
        output = exc.raw  # a plan written as text, not as the schema: parse_steps reads it
    return output


def inject_plan(
    task: str | list[ContentBlock], history: list[Message], plan: str
) -> tuple[str | list[ContentBlock], list[Message]]:
    """Return the executor's input and history with the plan injected (unchanged if empty)."""
    if not plan:
        return task, history
    if isinstance(task, str):
        return STRING_TEMPLATE.format(task=task, plan=plan), history
    return task, [*history, SystemMessage(content=SYSTEM_TEMPLATE.format(plan=plan))]
