"""The durable seam: every model call, user tool call and memory access of a run is a DBOS step.

:class:`DurableEffects` is the run's :class:`~exo.Effects`. Each model call (the planner's, the
executor's, a child's) is a step named ``model:{agent}``; each user tool call a step named
``tool:{name}``. A step's output is stored as exo's own types in JSON (a pydantic
``TypeAdapter`` over :class:`~exo.models.base.ModelResponse` or :class:`~exo.types.ToolResult`),
so a replay gets back exactly what the first run saw, and a replay that diverges from the
record (another call at the same position) fails with DBOS's ``DBOSUnexpectedStepError``
instead of feeding one call's output to another. DBOS's step retries stay off: exo's one retry
layer runs inside the step.

A user tool's changes to the run's :class:`~exo.context.Context` are recorded with its step
and re-applied when the step is replayed (see :mod:`exo.durable._context`).

Built-in tools that only touch run state (``spawn_self``, ``retrieve_artifact``, the context
and plan tools) are not steps: they run again on replay and rebuild the same state.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter

from exo._retry import RetryPolicy, complete_model
from exo.durable._context import ContextChanges, Snapshot, apply, changes, snapshot
from exo.errors import ToolError
from exo.models.base import ModelChunk, ModelRequest, ModelResponse, Provider, TextDelta
from exo.tools import Tool, ToolContext, execute_tool_calls
from exo.types import ChildResult, Message, ToolCall, ToolResult, Usage

if TYPE_CHECKING:
    from exo.durable._children import DurableChildren

__all__ = [
    "BUILTIN_TOOLS",
    "DurableEffects",
    "DurableMemory",
    "durable_instructions",
    "run_step",
    "step_key",
]

BUILTIN_TOOLS = frozenset(
    {
        "spawn_self",
        "retrieve_artifact",
        "add_todo",
        "complete_todo",
        "list_todos",
        "list_notes",
        "read_note",
        "request_replan",
    }
)
"""Tools that only read or change the run's own state: replayed by running them again."""

_RESPONSE: TypeAdapter[ModelResponse] = TypeAdapter(ModelResponse)
_OUTCOME: TypeAdapter[tuple[ToolResult, float]] = TypeAdapter(tuple[ToolResult, float])
_TOOL_STEP: TypeAdapter[tuple[ToolResult, float] | tuple[ToolResult, float, ContextChanges]] = (
    TypeAdapter(tuple[ToolResult, float] | tuple[ToolResult, float, ContextChanges])
)
"""A tool step's record: result and duration, and the context changes of a tool that takes
a ``ToolContext``."""
_MESSAGES: TypeAdapter[list[Message]] = TypeAdapter(list[Message])


async def run_step(name: str, body: Callable[[], Coroutine[Any, Any, str]]) -> str:
    """Run ``body`` as the DBOS step ``name`` of the current workflow; return its JSON text.

    Outside a workflow (``DBOS`` not running one) the body simply runs.
    """
    from dbos import DBOS, StepOptions

    options: StepOptions = {"name": name, "retries_allowed": False}
    return await DBOS.run_step_async(options, body)


def step_key() -> str:
    """The idempotency key of the step running now: ``{workflow id}:{step id}``."""
    from dbos import DBOS

    return f"{DBOS.workflow_id}:{DBOS.step_id}"


class DurableEffects:
    """Make each model call and user tool call of a run a DBOS step (see the module).

    Args:
        root: The run tree's top-level run id (its spawn pool's key).
        children: Runs ``spawn_self`` children as child workflows (read by ``exo.spawn``);
            ``None``: a run that may not spawn.
        limit: The provider's rate limit, held around each live model call (a step
            replayed from the record takes no grant); ``None``: no limit.
    """

    __slots__ = ("children", "flush", "limit", "live", "lock", "root", "steps")

    def __init__(
        self,
        root: str = "",
        children: DurableChildren | None = None,
        limit: Callable[[Provider], AbstractAsyncContextManager[None]] | None = None,
    ) -> None:
        self.steps = 0
        self.live = False
        self.root = root
        self.children = children
        self.limit = limit
        self.lock = asyncio.Lock()  # a run's spawn_self calls take turns (see _children)
        self.flush: Callable[[], Awaitable[None]] | None = None
        """Awaited before a turn's steps start: the run's event log writes what came before
        (so a crash inside a step never loses an earlier event)."""

    def __repr__(self) -> str:
        return f"DurableEffects(steps={self.steps}, live={self.live})"

    async def spawn_children(
        self, spawner: Any, tasks: list[str], ctx: ToolContext
    ) -> list[ChildResult]:
        """Run one ``spawn_self`` call's children, each a child workflow (``exo.spawn``)."""
        if self.children is None:
            raise ToolError("this durable run cannot spawn children (no DBOSAgent runs it)")
        return await self.children.spawn(self, spawner, tasks, ctx)

    async def step(self, name: str, body: Callable[[], Coroutine[Any, Any, str]]) -> str:
        """Run ``body`` as step ``name``; count it, and note when a step runs live."""
        self.steps += 1  # before the first await: steps are counted in the order they start

        async def live() -> str:
            self.live = True
            return await body()

        return await run_step(name, live)

    async def model_call(
        self, provider: Provider, request: ModelRequest, *, stream: bool, policy: RetryPolicy
    ) -> AsyncGenerator[ModelChunk, None]:
        """Make the call as step ``model:{agent}`` (whole, not streamed: a step records one
        value); a streaming run gets the answer's text as one delta."""
        response = await self.model_complete(provider, request, policy=policy)
        if stream and response.message.content:
            yield TextDelta(text=response.message.content)
        yield response

    async def model_complete(
        self, provider: Provider, request: ModelRequest, *, policy: RetryPolicy
    ) -> ModelResponse:
        """Make the whole call as step ``model:{agent}``; a replay returns the recorded one."""

        async def call() -> str:
            async with self.limit(provider) if self.limit is not None else nullcontext():
                response = await complete_model(provider, request, policy=policy)
            return _RESPONSE.dump_json(response).decode()

        if self.flush is not None:
            await self.flush()
        return _RESPONSE.validate_json(await self.step(f"model:{request.agent_name}", call))

    async def tool_calls(
        self,
        calls: Sequence[ToolCall],
        tools: dict[str, Tool],
        make_ctx: Callable[[ToolCall], ToolContext],
    ) -> list[tuple[ToolResult, float]]:
        """Run the turn's calls concurrently, each user tool call as step ``tool:{name}``.

        The steps are started in call order (DBOS numbers a step when it starts), so a
        replay finds each call's record at the same position.
        """
        if self.flush is not None:  # before the first step of the turn: keeps their order
            await self.flush()
        runs = [self._one_call(call, tools, make_ctx) for call in calls]
        return list(await asyncio.gather(*runs))

    async def _one_call(
        self, call: ToolCall, tools: dict[str, Tool], make_ctx: Callable[[ToolCall], ToolContext]
    ) -> tuple[ToolResult, float]:
        if call.name in BUILTIN_TOOLS or call.name not in tools:
            (outcome,) = await execute_tool_calls([call], tools, make_ctx)
            return outcome
        watch = tools[call.name].takes_context  # only these can reach the context
        seen: list[tuple[ToolContext, Snapshot]] = []

        def keyed(c: ToolCall) -> ToolContext:
            ctx = make_ctx(c)
            ctx.idempotency_key = step_key()
            if watch:
                seen.append((ctx, snapshot(ctx.context)))
            return ctx

        async def body() -> str:
            (outcome,) = await execute_tool_calls([call], tools, keyed)
            if not seen:
                return _OUTCOME.dump_json(outcome).decode()
            ctx, before = seen[0]
            made = changes(before, ctx.context, tool=call.name)
            return _TOOL_STEP.dump_json((*outcome, made)).decode()

        recorded = _TOOL_STEP.validate_json(await self.step(f"tool:{call.name}", body))
        if len(recorded) == 3 and not seen:  # replayed: restore the call's context changes
            apply(recorded[2], make_ctx(call).context)
        return recorded[0], recorded[1]


FLUSH: ContextVar[Callable[[], Awaitable[None]] | None] = ContextVar("exo_flush", default=None)
"""The running durable run's event-log flush (set by its workflow), for the steps that are not
the effects' own: memory load and append write the events before them first, so a crash
inside them loses no earlier event (a follower would otherwise see it replayed)."""


async def _flush() -> None:
    flush = FLUSH.get()
    if flush is not None:
        await flush()


class DurableMemory:
    """A memory backend whose load and append are DBOS steps (``memory:load``,
    ``memory:append``): a recovered run reads the history it read first, and appends its
    turn exactly once."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __repr__(self) -> str:
        return f"DurableMemory({self.inner!r})"

    async def load(self, conversation_id: str, *, max_tokens: int | None = None) -> list[Message]:
        """Load the history inside step ``memory:load``."""

        async def body() -> str:
            loaded = await self.inner.load(conversation_id, max_tokens=max_tokens)
            return _MESSAGES.dump_json(list(loaded)).decode()

        await _flush()
        return _MESSAGES.validate_json(await run_step("memory:load", body))

    async def append(
        self, conversation_id: str, messages: Sequence[Message], *, usage: Usage | None = None
    ) -> None:
        """Append the turn inside step ``memory:append``."""

        async def body() -> str:
            await self.inner.append(conversation_id, messages, usage=usage)
            return ""

        await _flush()
        await run_step("memory:append", body)

    async def list_conversations(self) -> list[str]:
        """The inner backend's conversations."""
        return list(await self.inner.list_conversations())

    async def delete(self, conversation_id: str) -> None:
        """Delete from the inner backend."""
        await self.inner.delete(conversation_id)

    async def aclose(self) -> None:
        """Close the inner backend."""
        await self.inner.aclose()


def durable_instructions(agent: Any) -> Callable[[], Awaitable[str]]:
    """Callable instructions of ``agent``, computed once, in step ``instructions``: a
    recovered run sends the same system prompt as the first (the clock may have moved on)."""

    async def instructions() -> str:
        async def body() -> str:
            return str(await agent.resolve_instructions())

        return await run_step("instructions", body)

    return instructions
