"""A structured plan during its run: steps on the todo list, ticks, and replanning.

With ``planning_format="steps"`` the plan's steps go on the run's todo list
(:class:`~exo.context.Context`), the executor gets the context tools to tick them off, and a
:class:`PlanTracker` runs after each turn of tool calls (the loop's ``after_turn`` seam): it
records each newly ticked step on ``state.plan.checklist`` (a :class:`~exo.types.PlanStepEvent`
in the detailed stream) and, with ``replan_on``, decides whether the executor is stuck. When
it is, the planner runs again on the original task, the plan so far, what was done and why,
and its revised plan is appended as a new SystemMessage in the spec's content-block wording
(:data:`~exo.planning.SYSTEM_TEMPLATE`). Runs without structured plans never reach this module.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from exo import planning
from exo._effects import Effects
from exo._loop import LoopDeps
from exo._options import RunOptions
from exo._retry import RetryPolicy
from exo._state import RunState
from exo._threads import ToolLane
from exo.agent import Agent
from exo.context import CONTEXT_TOOL_NAMES, Context, Todo, context_tools
from exo.cost import Budget
from exo.errors import ToolError
from exo.models.base import Provider
from exo.plans import REPLAN_TOOL, ReplanPolicy, parse_steps, render_steps
from exo.tools import Tool, ToolContext
from exo.types import (
    AssistantMessage,
    ContentBlock,
    Message,
    PlanResult,
    PlanStep,
    PlanStepEvent,
    ReplanEvent,
    StreamEvent,
    SystemMessage,
    ToolCall,
    ToolResult,
    UserMessage,
    WarningEvent,
    text_of,
)

__all__ = ["REPLAN_TEMPLATE", "PlanTracker", "PlannerCall", "attach", "begin", "builtins"]

TRACKER = "exo.plan_tracker"
"""Where a run's tracker sits in ``LoopDeps.extras`` (``request_replan`` finds it there)."""

Trigger = Literal["tool_failures", "step_budget", "request"]

REPLAN_TEMPLATE = (
    "Original task:\n{task}\n\nPlan so far:\n{plan}\n\nWhat was done:\n{done}\n\n"
    "Why a new plan is needed:\n{reason}\n\n"
    "Write a revised plan: the steps that remain to complete the original task."
)
"""What the planner is asked when it replans (the plan so far shows ``[x]`` for done steps)."""

_SKIP = frozenset((*CONTEXT_TOOL_NAMES, REPLAN_TOOL))  # bookkeeping, not work on the task
_RECENT = 20  # tool calls shown to the replanner
_PREVIEW = 160


def begin(plan: PlanResult, context: Context, max_chars: int) -> PlanResult:
    """Put a steps plan on the todo list; return it with the text to inject.

    A plan a person edited at approval is read again from its text. Numbers in the text are
    the steps' todo numbers (1 to n on a fresh context).
    """
    if not plan.text:
        return plan
    checklist = plan.checklist
    if plan.text != render_steps(checklist):  # edited at approval (or cut): the text rules
        checklist = tuple(parse_steps(plan.text))
    checklist = sync_todos(checklist, context)
    text, _ = planning.cap_plan(render_steps(checklist), max_chars)
    return dataclasses.replace(plan, text=text, checklist=checklist)


def sync_todos(checklist: tuple[PlanStep, ...], context: Context) -> tuple[PlanStep, ...]:
    """Make sure every live step has its todo on ``context`` (a resumed run's context may be
    new); return the steps with their todo numbers."""
    todos = context.todos
    synced: list[PlanStep] = []
    for step in checklist:
        if step.status == "replaced":
            synced.append(step)
            continue
        n = step.todo
        if not (1 <= n <= len(todos) and todos[n - 1].text == step.title):
            n = context.add_todo(step.title)
            if step.status == "done":
                context.complete_todo(n)
        synced.append(dataclasses.replace(step, todo=n))
    return tuple(synced)


@dataclass(slots=True, kw_only=True)
class PlannerCall:
    """What running the planner again needs (the run's own provider, effects and input)."""

    task: str | list[ContentBlock]
    history: list[Message]
    provider: Provider
    context: Context
    effects: Effects
    policy: RetryPolicy
    depth: int = 0
    lineage: tuple[str, ...] = ()
    lane: ToolLane | None = None
    budget: Budget | None = None


@dataclass(slots=True, kw_only=True)
class PlanTracker:
    """One run's structured plan: ticks steps, counts failures, replans (the after-turn hook).

    Attributes:
        agent: The executor's agent.
        call: How to run its planner again.
        mark: The step count when a step was last ticked (or the plan last revised).
        seen: Messages already scanned for tool failures.
        failures: Consecutive failures per tool name.
        requested: The reason of a pending ``request_replan`` call.
    """

    agent: Agent[Any]
    call: PlannerCall
    mark: int = 0
    seen: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    requested: str | None = None

    @property
    def policy(self) -> ReplanPolicy | None:
        """The agent's replan policy (``None``: this run never replans)."""
        policy = self.agent.replan_on
        return policy if isinstance(policy, ReplanPolicy) else None

    def can_replan(self, state: RunState) -> bool:
        """Whether another replan is allowed (``max_replans`` not reached)."""
        plan = state.plan
        return plan is not None and plan.replans < self.agent.max_replans

    async def __call__(self, state: RunState, deps: LoopDeps) -> AsyncGenerator[StreamEvent, None]:
        """After a turn of tool calls: tick steps, then replan if the executor is stuck."""
        for ticked in self._tick(state, deps.context):
            yield ticked
        found = self._trigger(state)
        if found is not None:
            async for event in self._replan(state, *found):
                yield event

    def _tick(self, state: RunState, context: Context) -> list[PlanStepEvent]:
        plan = state.plan
        assert plan is not None  # a tracker only runs with a plan
        todos, events = context.todos, list[PlanStepEvent]()
        checklist = list(plan.checklist)
        for i, step in enumerate(checklist):
            n = step.todo
            if step.status == "pending" and 0 < n <= len(todos) and todos[n - 1].done:
                checklist[i] = dataclasses.replace(step, status="done")
                events.append(
                    PlanStepEvent(
                        agent_name=state.agent_name,
                        index=i + 1,
                        step=checklist[i],
                        lineage=state.lineage,
                    )
                )
        if events:
            state.plan = dataclasses.replace(plan, checklist=tuple(checklist))
            self.mark = state.steps
        return events

    def _trigger(self, state: RunState) -> tuple[Trigger, str] | None:
        """Why to replan now, if at all (a request first, then failures, then the budget)."""
        failed = self._count_failures(state)
        policy = self.policy
        if policy is None or not self.can_replan(state):
            self.requested = None
            return None
        if self.requested is not None:
            return "request", self.requested
        if policy.tool_failures is not None and failed is not None:
            name, count, error = failed
            if count >= policy.tool_failures:
                return "tool_failures", f"tool {name!r} failed {count} times in a row: {error}"
        assert state.plan is not None
        pending = any(s.status == "pending" for s in state.plan.checklist)
        spent = state.steps - self.mark
        if policy.step_budget is not None and pending and spent >= policy.step_budget:
            return "step_budget", f"{spent} model calls passed without finishing a plan step"
        return None

    def _count_failures(self, state: RunState) -> tuple[str, int, str] | None:
        """Count this turn's tool results; return the tool failing most in a row, if any."""
        worst: tuple[str, int, str] | None = None
        for message in state.messages[self.seen :]:
            if not isinstance(message, ToolResult) or message.tool_name in _SKIP:
                continue
            name = message.tool_name
            count = self.failures.get(name, 0) + 1 if message.is_error else 0
            self.failures[name] = count
            if count and (worst is None or count > worst[1]):
                worst = (name, count, _preview(text_of(message.content)))
        self.seen = len(state.messages)
        return worst

    async def _replan(
        self, state: RunState, trigger: Trigger, reason: str
    ) -> AsyncGenerator[StreamEvent, None]:
        plan = state.plan
        assert plan is not None
        call = self.call
        revised = await planning.run_planner(
            self.agent,
            replan_task(state, call.task, plan.checklist, reason),
            call.history,
            provider=call.provider,
            context=call.context,
            effects=call.effects,
            policy=call.policy,
            depth=call.depth,
            lineage=call.lineage,
            lane=call.lane,
            budget=call.budget,
        )
        self.requested, self.mark, self.seen = None, state.steps, len(state.messages)
        self.failures.clear()
        checklist, text, fresh = plan.checklist, "", tuple[PlanStep, ...]()
        if revised.checklist:
            checklist = _revise(plan.checklist, revised.checklist, call.context)
            fresh = checklist[len(plan.checklist) :]
            text, _ = planning.cap_plan(render_steps(fresh), self.agent.planning_max_chars)
            state.messages.append(SystemMessage(content=planning.SYSTEM_TEMPLATE.format(plan=text)))
        state.plan = dataclasses.replace(
            plan,
            usage=plan.usage + revised.usage,
            steps=plan.steps + revised.steps,
            calls=plan.calls + revised.calls,
            checklist=checklist,
            replans=plan.replans + 1,
        )
        if revised.skipped is not None:
            yield WarningEvent(
                agent_name=state.agent_name,
                code="replan_failed",
                message=f"replanning failed, the run goes on with its plan: {revised.skipped}",
                lineage=state.lineage,
            )
        yield ReplanEvent(
            agent_name=state.agent_name,
            number=plan.replans + 1,
            trigger=trigger,
            reason=reason,
            plan=text,
            usage=revised.usage,
            steps=fresh,
            lineage=state.lineage,
        )


def _revise(
    old: tuple[PlanStep, ...], new: tuple[PlanStep, ...], context: Context
) -> tuple[PlanStep, ...]:
    """The checklist after a replan: done steps stay, pending ones are replaced (their todos
    closed as such), and the revised steps follow on the todo list."""
    kept: list[PlanStep] = []
    for step in old:
        if step.status == "pending":
            step = dataclasses.replace(step, status="replaced")
            n = step.todo
            if 0 < n <= len(context.todos):
                # A plain list item swap is atomic; the item is done so the model leaves it.
                context.todos[n - 1] = Todo(text=f"{step.title} (replaced)", done=True)
        kept.append(step)
    return (*kept, *sync_todos(new, context))


def replan_task(
    state: RunState,
    task: str | list[ContentBlock],
    checklist: tuple[PlanStep, ...],
    reason: str,
) -> str:
    """The replanner's input: the task, the plan so far, what was done, why it is stuck."""
    if not task and isinstance(state.original_input, UserMessage):
        task = state.original_input.content  # a resumed run keeps its input only there
    marks = {"done": "x", "pending": " ", "replaced": "-"}
    plan = "\n".join(
        f"{i}. [{marks[s.status]}] {s.title}"
        for i, s in enumerate((s for s in checklist if s.status != "replaced"), 1)
    )
    return REPLAN_TEMPLATE.format(
        task=task if isinstance(task, str) else text_of(task),
        plan=plan or "(no steps)",
        done=done_summary(state.messages[state.turn_start :]) or "(nothing yet)",
        reason=reason,
    )


def done_summary(messages: list[Message]) -> str:
    """The run's recent tool calls and their results, one short line each."""
    calls: dict[str, ToolCall] = {}
    lines: list[str] = []
    for message in messages:
        if isinstance(message, AssistantMessage):
            calls.update((c.id, c) for c in message.tool_calls)
        elif isinstance(message, ToolResult) and message.tool_name not in _SKIP:
            made = calls.get(message.tool_call_id)
            args = _preview(made.arguments, 80) if made is not None else ""
            result = _preview(text_of(message.content))
            plain = message.is_error and not result.lower().startswith("error")
            outcome = "error: " if plain else ""
            lines.append(f"- {message.tool_name}({args}) -> {outcome}{result}")
    return "\n".join(lines[-_RECENT:])


def _preview(text: str, limit: int = _PREVIEW) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class RunParts(Protocol):
    """What the runner resolved for a run (its ``_Run``), as far as replanning needs it."""

    task: str | list[ContentBlock]
    history: list[Message]
    provider: Provider
    context: Context
    policy: RetryPolicy
    effects: Effects
    lane: ToolLane
    state: RunState
    budget: Budget | None


def attach(agent: Agent[Any], run: RunParts, deps: LoopDeps, options: RunOptions) -> None:
    """Track the run's structured plan, if it has one (else leave ``deps`` as it is)."""
    state, plan = run.state, run.state.plan
    if agent.planning_format != "steps" or plan is None or not plan.checklist or not plan.text:
        return  # no steps, or a plan rejected at approval: nothing to track
    call = PlannerCall(
        task=run.task,
        history=run.history,
        provider=run.provider,
        context=run.context,
        effects=run.effects,
        policy=run.policy,
        depth=options.depth,
        lineage=options.lineage,
        lane=run.lane,
        budget=run.budget,
    )
    state.plan = dataclasses.replace(plan, checklist=sync_todos(plan.checklist, run.context))
    tracker = PlanTracker(agent=agent, call=call, mark=state.steps, seen=len(state.messages))
    deps.after_turn = tracker
    deps.extras[TRACKER] = tracker


def builtins(deps: LoopDeps) -> dict[str, Tool]:
    """The built-in tools a tracked plan adds: the context tools, and ``request_replan``."""
    tracker = deps.extras.get(TRACKER)
    if not isinstance(tracker, PlanTracker):
        return {}
    tools = {t.name: t for t in context_tools()}
    policy = tracker.policy
    if policy is not None and policy.tool:
        tools[REPLAN_TOOL] = _replan_tool()
    return tools


def request_replan(reason: str, ctx: ToolContext) -> str:
    """Ask for a revised plan when the current one no longer works; it arrives before your
    next turn.

    Args:
        reason: What went wrong with the plan, in a sentence or two.
    """
    tracker = ctx.extras.get(TRACKER)
    if not isinstance(tracker, PlanTracker):
        raise ToolError("this run has no plan to revise")
    if not tracker.can_replan(ctx.state):
        raise ToolError(
            f"the plan was revised {tracker.agent.max_replans} times already (max_replans); "
            "carry on with the current plan"
        )
    if not reason.strip():
        raise ToolError("the reason is empty; say what went wrong with the plan")
    tracker.requested = reason.strip()
    return "A revised plan will follow."


@functools.cache
def _replan_tool() -> Tool:
    return Tool(request_replan)  # built on first use: its schema costs an import nothing
