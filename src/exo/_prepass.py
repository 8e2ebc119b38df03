"""The planner pre-pass of one run: the plan cache, the planner, the cap, and their events.

The runner calls :func:`plan_phase` once per planned run, before the executor's first step.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any

from exo import plan_cache, planning, tracing
from exo._options import RunOptions
from exo.agent import Agent
from exo.types import (
    PlanCompleteEvent,
    PlanSkippedEvent,
    PlanStartEvent,
    StreamEvent,
    WarningEvent,
)

if TYPE_CHECKING:
    from exo.runner import _Run

__all__ = ["plan_phase"]


async def plan_phase(
    agent: Agent[Any], run: _Run, options: RunOptions
) -> AsyncGenerator[StreamEvent, None]:
    """Run the planner pre-pass and record its plan on the run's state (capped)."""
    lineage = options.lineage
    if options.detailed:
        yield PlanStartEvent(
            agent_name=agent.name, model=agent.planning_model or agent.model, lineage=lineage
        )
    state = run.state
    cached = await plan_cache.lookup(agent, run.task, run.history)
    if cached.failed is not None:
        yield WarningEvent(
            agent_name=agent.name, code="plan_cache", message=cached.failed, lineage=lineage
        )
    state.plan = cached.plan or await tracing.traced_plan(run.effects, agent, planning.run_planner)(
        agent,
        run.task,
        run.history,
        provider=run.provider,
        context=run.context,
        effects=run.effects,
        policy=run.policy,
        depth=options.depth,
        lineage=lineage,
        lane=run.lane,
        budget=run.budget,
    )
    stored = await cached.store(state.plan)
    if stored is not None:
        yield WarningEvent(
            agent_name=agent.name, code="plan_cache", message=stored, lineage=lineage
        )
    text, cut_from = planning.cap_plan(state.plan.text, agent.planning_max_chars)
    if cut_from is not None:
        state.plan = dataclasses.replace(state.plan, text=text)
        yield WarningEvent(
            agent_name=agent.name,
            code="plan_cut",
            message=f"the plan of agent {agent.name!r} has {cut_from:,} characters; "
            f"only the first {agent.planning_max_chars:,} were injected (planning_max_chars)",
            lineage=lineage,
        )
    if state.plan.skipped is not None:
        yield PlanSkippedEvent(agent_name=agent.name, reason=state.plan.skipped, lineage=lineage)
    elif options.detailed:
        yield PlanCompleteEvent(agent_name=agent.name, plan=state.plan, lineage=lineage)
