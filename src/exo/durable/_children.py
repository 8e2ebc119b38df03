"""``spawn_self`` children of a durable run, each a DBOS child workflow of its own.

A child's id is derived from its parent's: ``{parent workflow id}:child:{n}``, ``n`` counting
the parent's children in spawn order, so a grandchild is ``{root}:child:1:child:2`` and the
ids of a whole tree share the prefix ``{root}:child:``. Children of one call run concurrently;
each records its steps in its own workflow, so the order within each stays deterministic.

A child is started directly (``DBOS.start_workflow_async``), not put on the agent's bounded
queue: a worker whose every slot holds a parent waiting for its children can never deadlock.
After a crash DBOS's recovery puts a child on its internal queue, which has no limit either.

The parent's part is recorded: the tree-wide spawn limit's answer is a step (``spawn_self``),
each child's start and result are DBOS operations of the parent. Because DBOS numbers the
result of a child when it is awaited, one call's children are awaited in spawn order, and a
run's ``spawn_self`` calls take turns (a lock per run).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel, TypeAdapter

from exo.errors import MaxStepsExceeded, ToolError
from exo.spawn import SpawnPool, _Tally
from exo.types import ApprovalRequiredEvent, ChildResult, ErrorEvent, StreamEvent

if TYPE_CHECKING:
    from exo._options import RunOptions
    from exo._retry import RetryPolicy
    from exo.context import Context
    from exo.cost import Budget
    from exo.durable._agent import DBOSAgent
    from exo.durable._steps import DurableEffects
    from exo.models.base import Provider
    from exo.spawn import _Spawner
    from exo.tools import ToolContext

__all__ = ["ChildRequest", "DurableChildren", "child_id"]

_CHILD: TypeAdapter[ChildResult] = TypeAdapter(ChildResult)
POLL_SECONDS = 0.05
"""How often a parent waiting for a child executed elsewhere checks its status."""


def child_id(parent_id: str, child_name: str) -> str:
    """``{parent_id}:child:{n}`` for the child named ``{agent}_child_{n}``."""
    return f"{parent_id}:child:{child_name.rsplit('_', 1)[1]}"


class ChildRequest(BaseModel):
    """A child workflow's input: plain JSON, because DBOS stores it."""

    root: str
    name: str
    task: str
    max_steps: int
    depth: int
    lineage: list[str]
    priced_as: str


@dataclass(frozen=True, slots=True)
class _Handoff:
    """What a child started in this process takes from its parent's run (not stored: a
    child recovered elsewhere resolves them from its agent instead)."""

    provider: Provider
    context: Context
    policy: RetryPolicy
    budget: Budget | None
    emit: Callable[[StreamEvent], None] | None


class DurableChildren:
    """One DBOSAgent's child workflow (``exo:{name}:child``), its run trees' spawn pools and
    the handoffs to children started in this process."""

    def __init__(self, owner: DBOSAgent, workflow_name: str) -> None:
        from dbos import DBOS

        self.owner = owner
        self.pools: dict[str, SpawnPool] = {}  # run tree (root id) -> its pool, in this process
        self.handoffs: dict[str, _Handoff] = {}  # child id -> what its parent handed it

        async def workflow(request: str) -> str:
            return await self._run_child(ChildRequest.model_validate_json(request))

        workflow.__qualname__ = workflow.__name__ = workflow_name
        self.workflow = DBOS.workflow(name=workflow_name)(workflow)

    def __repr__(self) -> str:
        return f"DurableChildren({self.owner.name!r}, trees={len(self.pools)})"

    async def pool(self, root: str, limit: int) -> SpawnPool:
        """The tree ``root``'s pool in this process: on first use here, it counts the children
        the tree has in the database (a descendant recovered in a fresh process)."""
        pool = self.pools.get(root)
        if pool is None:
            from dbos import DBOS

            found = await DBOS.list_workflows_async(
                workflow_id_prefix=f"{root}:child:", load_input=False, load_output=False
            )
            pool = self.pools.get(root)  # another call may have made it meanwhile
            if pool is None:
                pool = self.pools[root] = SpawnPool(limit)
                pool.used = len(found)
        return pool

    async def _reserve(self, effects: DurableEffects, spawner: _Spawner, tasks: list[str]) -> int:
        """Ask the tree's pool for ``len(tasks)`` children in step ``spawn_self``; return the
        model calls each may make. A replay reads the recorded answer, never the pool."""

        async def body() -> str:
            pool = await self.pool(effects.root, spawner.pool.limit)
            spawner.pool = pool
            try:
                steps_left = spawner.check(tasks)
            except ToolError as exc:
                return json.dumps({"error": str(exc)})
            pool.used += len(tasks)  # no await since the check: no call can overdraw
            return json.dumps({"steps_left": steps_left})

        answer = json.loads(await effects.step("spawn_self", body))
        if "error" in answer:
            raise ToolError(answer["error"])
        return int(answer["steps_left"])

    async def spawn(
        self, effects: DurableEffects, spawner: _Spawner, tasks: list[str], ctx: ToolContext
    ) -> list[ChildResult]:
        """Start one call's children as child workflows; return their results in order."""
        from dbos import DBOS, SetWorkflowID

        async with effects.lock:
            steps_left = await self._reserve(effects, spawner, tasks)
            deps, state = spawner.deps, spawner.state
            ids, handles = [], []
            for job in spawner.jobs(tasks, steps_left):
                request = ChildRequest(
                    root=effects.root,
                    name=job.name,
                    task=job.task,
                    max_steps=job.max_steps,
                    depth=state.depth + 1,
                    lineage=[*state.lineage, state.agent_name],
                    priced_as=deps.priced_as,
                )
                ids.append(cid := child_id(DBOS.workflow_id or "", job.name))
                self.handoffs[cid] = _Handoff(
                    provider=deps.provider,
                    context=deps.context.fork(),  # each child its own, as in a plain run
                    policy=deps.policy,
                    budget=deps.budget,
                    emit=ctx.emit if deps.detailed else None,
                )
                with SetWorkflowID(cid):
                    started = await DBOS.start_workflow_async(
                        self.workflow, request.model_dump_json()
                    )
                handles.append(started)
            try:
                # in spawn order: DBOS numbers each result as it is awaited
                return [
                    _CHILD.validate_json(await h.get_result(polling_interval_sec=POLL_SECONDS))
                    for h in handles
                ]
            finally:
                for cid in ids:  # a child replayed from the record never took its handoff
                    self.handoffs.pop(cid, None)

    def _options(self, request: ChildRequest, handoff: _Handoff | None) -> RunOptions:
        """How the child runs: as its parent handed it over, else resolved from the agent."""
        from exo._options import RunOptions
        from exo.durable._steps import DurableEffects

        return RunOptions(
            provider=handoff.provider if handoff else self.owner.provider,
            context=handoff.context if handoff else None,
            retry=handoff.policy if handoff else None,
            effects=DurableEffects(root=request.root, children=self, limit=self.owner.limit),
            detailed=True,
            depth=request.depth,
            lineage=tuple(request.lineage),
            max_steps=request.max_steps,
            budget=handoff.budget if handoff else None,
        )

    async def _run_child(self, request: ChildRequest) -> str:
        """The child workflow's body: run the child; its failure is its result, as in a plain
        run (DBOS's own errors, e.g. a diverged replay, propagate)."""
        from dbos import DBOS
        from dbos._error import DBOSException

        from exo import run

        handoff = self.handoffs.pop(DBOS.workflow_id or "", None)
        name, task = request.name, request.task
        agent = self.owner._agent().replace(
            name=name, planning_enabled=False, approve_plan=False, memory=None, output_type=str
        )
        options = self._options(request, handoff)
        emit = handoff.emit if handoff else None
        tally = _Tally(name, tuple(request.lineage), request.priced_as)
        try:
            async with aclosing(run.events(agent, task, options)) as events:
                async for event in events:
                    result = tally.see(event)
                    if result is not None and result.status == "paused":
                        raise ToolError(
                            f"child {name!r} asked for an approval, which a durable "
                            "child cannot wait for"
                        )
                    if result is not None:
                        calls = [*result.calls, *(c for g in result.children for c in g.calls)]
                        child = ChildResult(
                            name=name,
                            task=task,
                            output=str(result.output),
                            usage=result.usage,
                            steps=result.steps,
                            calls=calls,
                        )
                        return _CHILD.dump_json(child).decode()
                    if (
                        emit is not None
                        and not tally.own(event, ErrorEvent)
                        and type(event) is not ApprovalRequiredEvent
                    ):
                        emit(event)
            raise ToolError(f"child {name!r} ended without an answer")
        except DBOSException:
            raise
        except Exception as exc:
            steps = exc.result.steps if isinstance(exc, MaxStepsExceeded) else tally.steps
            failed = ChildResult(
                name=name,
                task=task,
                usage=tally.usage,
                steps=steps,
                error=f"{type(exc).__name__}: {exc}",
                calls=tally.calls,
            )
            return _CHILD.dump_json(failed).decode()
