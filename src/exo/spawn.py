"""``spawn_self``: a run starts copies of its agent on sub-tasks, concurrently.

With ``Agent(allow_self_spawn=True)`` each run whose depth is below ``max_spawn_depth``
offers the model ``spawn_self(tasks)``. Every task becomes a *child*: a copy of the agent
named ``{agent}_child_{n}`` (same model, instructions, tools and settings; no planning, no
memory) with a transcript of its own, run through the same engine as its parent. Children
of one call run concurrently; the tool returns a single child's answer as it is, or one
labelled block per task.

Limits, each a tool error the model can read (the parent run goes on):

* ``max_spawn_children`` tasks per call; empty task lists are refused;
* ``max_spawn_depth``: a run at that depth has no ``spawn_self`` (checked again in the call);
* ``max_spawn_total``: children for the whole run *tree*: a top-level run and all its
  descendants draw from one pool, so a model spawning in a loop, at any depth, is stopped.

A child inherits its parent's remaining budgets: at most the model calls its parent has
left, the children left in the pool, the tree's ``max_cost`` / ``max_tokens_total`` budget,
the parent's retry policy, provider and effects. Its usage (grandchildren included) is added
to the parent's ``RunResult`` and listed per child in ``RunResult.children``; with
``run.stream(..., detailed=True)`` its events reach the parent stream tagged with its name
and lineage. A child runs inside the tool call, so cancelling the parent cancels every child.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from exo._options import RunOptions
from exo._state import HeldCall, HeldChild
from exo.approval import ANSWERS, Answer
from exo.errors import MaxStepsExceeded, ToolError
from exo.tools import Tool, ToolContext
from exo.types import (
    ApprovalRequiredEvent,
    ChildResult,
    ErrorEvent,
    ModelCall,
    RunCompleteEvent,
    RunResult,
    StepEvent,
    StreamEvent,
    Usage,
    UsageEvent,
)

if TYPE_CHECKING:
    from exo._loop import LoopDeps
    from exo._state import RunState
    from exo.agent import Agent
    from exo.runner import Runner

__all__ = ["SPAWN_TOOL", "SpawnPool", "spawn_tool"]

SPAWN_TOOL = "spawn_self"
"""The name of the built-in spawning tool."""


class SpawnPool:
    """How many children a run tree may still start (shared by a run and its descendants).

    Args:
        limit: Children allowed in all (the top-level agent's ``max_spawn_total``).
    """

    __slots__ = ("limit", "used")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    @property
    def left(self) -> int:
        """Children that may still be started."""
        return self.limit - self.used

    def __repr__(self) -> str:
        return f"SpawnPool(used={self.used}, limit={self.limit})"


# Set only inside a child's task, so the child's own spawn_self draws from its ancestors'
# pool (a task-local value, never a process-wide one).
_POOL: contextvars.ContextVar[SpawnPool | None] = contextvars.ContextVar(
    "exo_spawn_pool", default=None
)


@dataclass(slots=True)
class _Outcome:
    result: ChildResult
    failed: bool
    held: HeldChild | None = None  # the child paused for an approval


class _Spawner:
    """The per-run state behind one run's ``spawn_self`` tool."""

    def __init__(self, runner: Runner, agent: Agent[Any], state: RunState, deps: LoopDeps) -> None:
        self.runner = runner
        self.agent = agent
        self.state = state
        self.deps = deps
        inherited = _POOL.get() if state.depth > 0 else None
        self.pool = inherited if inherited is not None else SpawnPool(agent.max_spawn_total)
        if inherited is None:
            self.pool.used = state.spawned  # a resumed run: its children so far count

    def check(self, tasks: list[str]) -> int:
        """Refuse calls over a limit; return the model calls each child may make."""
        agent, state = self.agent, self.state
        if not tasks:
            raise ToolError("spawn_self needs at least one task; pass tasks=['<sub-task>', ...]")
        if any(not t.strip() for t in tasks):
            raise ToolError("a task is empty; give every child a complete, self-contained task")
        if len(tasks) > agent.max_spawn_children:
            raise ToolError(
                f"spawn_self takes at most {agent.max_spawn_children} tasks per call "
                f"(max_spawn_children), got {len(tasks)}; split them over several calls "
                "or merge related tasks"
            )
        if state.depth >= agent.max_spawn_depth:
            raise ToolError(
                f"agent {state.agent_name!r} is at spawn depth {state.depth} and may not spawn "
                f"(max_spawn_depth={agent.max_spawn_depth}); do the task yourself"
            )
        steps_left = self.deps.max_steps - state.steps
        if steps_left < 1:
            raise ToolError("no model calls are left for children; answer with what you have")
        if len(tasks) > self.pool.left:
            left = self.pool.left
            raise ToolError(
                f"this run may start {left} more child{'ren' if left != 1 else ''} in all "
                f"(max_spawn_total={self.pool.limit}), not {len(tasks)}; "
                + ("use fewer tasks" if left else "do the remaining work yourself")
            )
        return steps_left

    def jobs(self, tasks: list[str], steps_left: int) -> list[HeldChild]:
        """Name the children of one call (numbered in the run's spawn order)."""
        first = self.state.spawned + 1
        self.state.spawned += len(tasks)
        return [
            HeldChild(name=f"{self.agent.name}_child_{first + i}", task=t, max_steps=steps_left)
            for i, t in enumerate(tasks)
        ]

    async def __call__(self, tasks: list[str], ctx: ToolContext) -> str:
        held = self.state.held.get(ctx.tool_call_id)
        durable = getattr(self.deps.effects, "spawn_children", None)
        if durable is not None:  # a durable run: each child is a workflow of its own
            results: list[ChildResult] = await durable(self, tasks, ctx)
            outcomes = [_Outcome(r, failed=r.error is not None) for r in results]
            self.state.children.extend(results)
            return _answer(outcomes)
        if held is not None and held.children:  # resumed: the children as they were held
            jobs = held.children
        else:
            steps_left = self.check(tasks)
            # Reserve before the first await, so concurrent calls cannot overdraw the pool.
            self.pool.used += len(tasks)
            jobs = self.jobs(tasks, steps_left)
        async with asyncio.TaskGroup() as group:
            runs = [group.create_task(self._child(job, ctx)) for job in jobs]
        outcomes = [r.result() for r in runs]
        if any(o.held is not None for o in outcomes):
            # A child waits for a person: hold this call (and its turn) with every child's
            # state; the result below never reaches the model.
            children = [
                o.held
                or HeldChild(name=j.name, task=j.task, max_steps=j.max_steps, result=o.result)
                for o, j in zip(outcomes, jobs, strict=True)
            ]
            self.state.held[ctx.tool_call_id] = HeldCall(children=children)
            raise ToolError("a child waits for approval")
        self.state.held.pop(ctx.tool_call_id, None)
        self.state.children.extend(o.result for o in outcomes)
        return _answer(outcomes)

    def _start(self, job: HeldChild) -> AsyncGenerator[StreamEvent, None]:
        """Start (or resume) one child's run through the runner's engine (always detailed:
        usage counts)."""
        deps, state = self.deps, self.state
        child = self.agent.replace(
            name=job.name, planning_enabled=False, approve_plan=False, memory=None, output_type=str
        )
        answers: dict[str, Answer] = deps.extras.get(ANSWERS, {})
        options = RunOptions(
            provider=deps.provider,
            context=deps.context.fork(),
            retry=deps.policy,
            effects=deps.effects,
            stream=deps.stream,
            detailed=True,
            depth=state.depth + 1,
            lineage=(*state.lineage, state.agent_name),
            max_steps=job.max_steps,
            budget=deps.budget,
        )
        if job.state is None:
            return self.runner.events(child, job.task, options)
        options.resume = job.state
        options.approvals = {r.call_id: answers[r.call_id] for r in job.pending}
        return self.runner.events(child, None, options)

    async def _child(self, job: HeldChild, ctx: ToolContext) -> _Outcome:
        """Run one child to its end (or its pause); its failure is returned, cancellation
        propagates."""
        if job.result is not None:  # finished before the turn was held
            return _Outcome(job.result, failed=job.result.error is not None)
        _POOL.set(self.pool)
        name, task = job.name, job.task
        tally = _Tally(name, (*self.state.lineage, self.state.agent_name), self.deps.priced_as)
        try:
            async with aclosing(self._start(job)) as events:
                async for event in events:
                    result = tally.see(event)
                    if result is not None and result.status == "paused":
                        paused = HeldChild(
                            name=name,
                            task=task,
                            max_steps=job.max_steps,
                            state=result.state,
                            pending=result.pending,
                        )
                        return _Outcome(ChildResult(name=name, task=task), False, paused)
                    if result is not None:
                        child = ChildResult(
                            name=name,
                            task=task,
                            output=result.output,
                            usage=result.usage,
                            steps=result.steps,
                            # From the result, not the events: a resumed child's result
                            # also holds the calls it made before its pause.
                            calls=[*result.calls, *(c for g in result.children for c in g.calls)],
                        )
                        return _Outcome(child, failed=False)
                    # The child's own end is reported by this tool's result, not as an error
                    # of the parent's stream; its approval requests by the top-level run's
                    # own ApprovalRequiredEvent, which lists them all.
                    if (
                        self.deps.detailed
                        and not tally.own(event, ErrorEvent)
                        and type(event) is not ApprovalRequiredEvent
                    ):
                        ctx.emit(event)
            raise ToolError(f"child {name!r} ended without an answer")
        except Exception as exc:
            steps = exc.result.steps if isinstance(exc, MaxStepsExceeded) else tally.steps
            error = f"{type(exc).__name__}: {exc}"
            child = ChildResult(
                name=name, task=task, usage=tally.usage, steps=steps, error=error, calls=tally.calls
            )
            return _Outcome(child, failed=True)


class _Tally:
    """What a child's events say: usage and calls (descendants included), steps, its result.

    ``priced_as`` is the provider's ``backend:model``: children and theirs share the parent's
    provider, so it names every call the child's events report.
    """

    def __init__(self, name: str, lineage: tuple[str, ...], priced_as: str) -> None:
        self.name = name
        self.lineage = lineage
        self.priced_as = priced_as
        self.usage = Usage()
        self.calls: list[ModelCall] = []
        self.steps = 0

    def own(self, event: StreamEvent, kind: type) -> bool:
        """Whether ``event`` is of ``kind`` and comes from the child itself."""
        return isinstance(event, kind) and (
            event.agent_name == self.name and event.lineage == self.lineage
        )

    def see(self, event: StreamEvent) -> RunResult | None:
        """Count one event; return the child's result when it is its RunCompleteEvent."""
        if isinstance(event, UsageEvent):
            self.usage = self.usage + event.usage
            self.calls.append((self.priced_as, event.usage))
        elif self.own(event, StepEvent) and isinstance(event, StepEvent):
            if event.status == "started":
                self.steps += 1
        elif self.own(event, RunCompleteEvent) and isinstance(event, RunCompleteEvent):
            return event.result
        return None


def _answer(outcomes: list[_Outcome]) -> str:
    """One child's answer as it is; several as labelled blocks. All failed: a tool error."""
    if all(o.failed for o in outcomes):
        if len(outcomes) == 1:
            child = outcomes[0].result
            raise ToolError(f"child {child.name!r} failed: {child.error}")
        lines = [f"[Task {i}: {o.result.name}] {o.result.error}" for i, o in enumerate(outcomes, 1)]
        raise ToolError("every child failed:\n" + "\n".join(lines))
    if len(outcomes) == 1:
        return outcomes[0].result.output
    blocks = []
    total = len(outcomes)
    for i, o in enumerate(outcomes, 1):
        child = o.result
        status = ": FAILED" if o.failed else ""
        body = f"Error: {child.error}" if o.failed else f"Answer:\n{child.output}"
        blocks.append(
            f"[Task {i} of {total}, {child.name}{status}]\nTask: {_short(child.task)}\n{body}"
        )
    return "\n\n".join(blocks)


def _short(text: str, limit: int = 120) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


_SPAWNER = "exo.spawner"


@functools.lru_cache(maxsize=256)
def _spawn_self_tool(description: str) -> Tool:
    """The ``spawn_self`` Tool for a description (its schema is built once, not per run)."""

    async def spawn_self(tasks: list[str], ctx: ToolContext) -> str:
        """Run copies of yourself on independent sub-tasks, concurrently.

        Args:
            tasks: One sub-task prompt per child. Each must be complete and self-contained:
                a child sees only its task, not this conversation.
        """
        spawner: _Spawner = ctx.extras[_SPAWNER]
        return await spawner(tasks, ctx)

    return Tool(spawn_self, name=SPAWN_TOOL, description=description)


def spawn_tool(runner: Runner, agent: Agent[Any], state: RunState, deps: LoopDeps) -> Tool:
    """Return this run's ``spawn_self`` tool (its spawner lives in ``deps.extras``)."""
    spawner = _Spawner(runner, agent, state, deps)
    deps.extras[_SPAWNER] = spawner
    nested = (
        "Children cannot spawn further."
        if state.depth + 1 >= agent.max_spawn_depth
        else "Children may spawn children of their own."
    )
    return _spawn_self_tool(
        "Run copies of yourself (same instructions and tools) on independent sub-tasks, "
        "concurrently, and get their answers back: one labelled block per task. "
        f"At most {agent.max_spawn_children} tasks per call and "
        f"{spawner.pool.limit} children in all. {nested}"
    )
