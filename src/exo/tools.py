"""Tools: plain functions the model can call, the ``@tool`` decorator, and ``ToolContext``.

A plain function with type hints and a docstring is a tool as it is; ``@tool`` overrides its
name or description or marks its output as large. Running a turn's calls
(:func:`execute_tool_calls`) never raises for a tool's sake: unknown tools, malformed JSON,
arguments that fail validation, anything the tool raises (any ``BaseException``: also
``StopIteration``, ``GeneratorExit``, ``SystemExit`` and a ``CancelledError`` nobody asked for)
and return values that cannot become text all become error results the model can act on, and
one bad call never fails its siblings. Only ``KeyboardInterrupt`` and a real cancellation of
the run pass through. Sync tools run in worker threads of exo's own pool (``exo._threads``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import json
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, overload

from pydantic import BaseModel, ValidationError

from exo._schema import ArgumentsError, FunctionSchema, format_validation_error, function_schema
from exo._text import describe, encodable, encodable_content, encodable_json
from exo._threads import Outcome, ToolLane, capture, run_in_own_thread
from exo.errors import ConfigError, ToolError
from exo.models.base import ToolSpec
from exo.types import (
    DocumentBlock,
    ImageBlock,
    MessageContent,
    StreamEvent,
    TextBlock,
    ToolCall,
    ToolResult,
    Usage,
)

if TYPE_CHECKING:
    from exo._state import RunState
    from exo.context import Context

__all__ = ["Tool", "ToolContext", "execute_tool_calls", "to_tool", "tool"]

EventSink = Callable[[StreamEvent], None]


class ToolContext:
    """What a tool can reach of the run that called it.

    Declare a parameter annotated ``ToolContext`` (any name) and the run passes it in; it is
    hidden from the model's schema.

    Attributes:
        agent_name: The agent whose model made the call.
        tool_call_id: The id of this call.
        context: The run's shared :class:`~exo.context.Context` (the planner shares it too).
        state: The run's :class:`~exo._state.RunState` (transcript, usage, depth, lineage).
        idempotency_key: In a durable run (``exo.durable``), a key for this call that stays
            the same when a recovered run runs the call again: pass it to the API the tool
            changes so a repeat is recognised. ``None`` outside durable runs.
    """

    __slots__ = (
        "_lane",
        "_sink",
        "agent_name",
        "context",
        "extras",
        "idempotency_key",
        "state",
        "tool_call_id",
    )

    def __init__(
        self,
        *,
        agent_name: str,
        tool_call_id: str,
        context: Context,
        state: RunState,
        sink: EventSink | None = None,
        extras: dict[str, Any] | None = None,
        lane: ToolLane | None = None,
        idempotency_key: str | None = None,
    ) -> None:
        self.agent_name = agent_name
        self.idempotency_key = idempotency_key
        self.tool_call_id = tool_call_id
        self.context = context
        self.state = state
        self._sink = sink
        self._lane = lane
        self.extras: dict[str, Any] = extras if extras is not None else {}

    @property
    def usage(self) -> Usage:
        """The run's usage so far (its own calls, planner and children)."""
        return self.state.total_usage()

    def emit(self, event: StreamEvent) -> None:
        """Send an event to the run's stream (shown with ``run.stream(..., detailed=True)``)."""
        if self._sink is not None:
            self._sink(event)


class Tool:
    """A function the model can call.

    Args:
        fn: The function (sync or async). Sync functions run in a worker thread.
        name: The name the model sees (default: the function's name).
        description: What the tool does (default: the docstring's description).
        large_output: Always park the result as an artifact of the run (the model sees a
            pointer and can page through it with ``retrieve_artifact``).
        requires_approval: A person must approve each call before it runs (the run pauses,
            or the agent's ``approval_handler`` answers; see ``docs/approval.md``).
        inline: Call a sync function right in the event loop instead of a worker thread:
            only for quick code that never blocks (arithmetic, a dict lookup), for which
            the hand-off to a thread costs more than the call. A blocking inline tool
            stalls every run in the process while it runs. No effect on async functions.
    """

    __slots__ = (
        "_schema",
        "description",
        "fn",
        "inline",
        "is_async",
        "large_output",
        "name",
        "requires_approval",
        "spec",
    )

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        large_output: bool = False,
        requires_approval: bool = False,
        inline: bool = False,
    ) -> None:
        if not callable(fn):
            raise ConfigError(
                f"a tool must be a function, got {type(fn).__name__}: {fn!r}",
                parameter="tools",
                hint="pass plain functions (tools=[search]) or wrap them with @exo.tool",
            )
        self.fn = fn
        self.name = _check_name(name or getattr(fn, "__name__", None) or type(fn).__name__)
        self._schema: FunctionSchema = function_schema(fn, context_type=ToolContext, name=self.name)
        # text from docstrings may be generated (file names): sendable once, here
        self.description = encodable(description or self._schema.description or self.name)
        self.large_output = large_output
        if not isinstance(requires_approval, bool):
            raise ConfigError(
                f"tool {self.name!r}: requires_approval must be True or False, "
                f"got {requires_approval!r}",
                parameter="requires_approval",
            )
        self.requires_approval = requires_approval
        if not isinstance(inline, bool):
            raise ConfigError(
                f"tool {self.name!r}: inline must be True or False, got {inline!r}",
                parameter="inline",
            )
        self.inline = inline
        target = fn if inspect.isroutine(fn) else type(fn).__call__
        self.is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(target)
        self.spec = ToolSpec(
            name=self.name,
            description=self.description,
            parameters=encodable_json(self._schema.json_schema),
        )

    @classmethod
    def from_schema(
        cls,
        name: str,
        description: str,
        parameters: dict[str, Any],
        fn: Callable[[dict[str, Any]], Awaitable[Any]],
        *,
        large_output: bool = False,
        requires_approval: bool = False,
    ) -> Tool:
        """Make a tool from a JSON schema and an async function taking the parsed arguments.

        The model's arguments are checked against ``parameters`` (with ``jsonschema``, which
        ``exo-agents[mcp]`` installs) before ``fn`` is called: a call that does not fit
        becomes an error result the model can fix, and ``fn`` is not called.

        Args:
            name: The name the model sees (1-64 ASCII letters, digits, ``_`` or ``-``).
            description: What the tool does.
            parameters: The JSON schema of the arguments (an object schema).
            fn: ``async fn(arguments: dict) -> result``; what it returns becomes the result
                as for any tool, and a :class:`~exo.errors.ToolError` it raises is the error
                text the model reads.
            large_output: As for :class:`Tool`.
            requires_approval: As for :class:`Tool`.

        Raises:
            ConfigError: a bad name, a schema that is not a valid JSON schema, ``fn`` not
                an async callable, or ``jsonschema`` missing.
        """
        from exo._schema_tool import SchemaTool

        return SchemaTool(
            name,
            description,
            parameters,
            fn,
            large_output=large_output,
            requires_approval=requires_approval,
        )

    @property
    def takes_context(self) -> bool:
        """Whether the function declares a ``ToolContext`` parameter."""
        return self._schema.context_param is not None

    @property
    def parameters(self) -> dict[str, Any]:
        """The JSON schema of the arguments (as sent: its text made encodable)."""
        return self.spec.parameters

    def __repr__(self) -> str:
        return f"Tool(name={self.name!r})"

    async def call(self, raw_arguments: str, ctx: ToolContext | None = None) -> Any:
        """Validate the model's raw JSON arguments and call the function.

        Raises:
            ValidationError: the arguments do not fit the schema (nothing is called).
            BaseException: whatever the function raised.
        """
        outcome = await self.invoke(self.bind(raw_arguments), ctx)
        if outcome.error is not None:
            raise outcome.error
        return outcome.value

    def bind(self, raw_arguments: str) -> dict[str, Any]:
        """Validate the model's raw JSON arguments into keyword arguments.

        Raises:
            ValidationError: the arguments do not fit the schema.
        """
        return self._schema.validate_json(raw_arguments)

    async def invoke(self, kwargs: dict[str, Any], ctx: ToolContext | None = None) -> Outcome:
        """Call the function with validated arguments; return what it returned or raised.

        A sync function runs in a worker thread of the run's own pool (see ``ctx``), or in a
        thread of its own outside a run (``inline`` ones right here); an awaitable it returns
        is awaited. A real cancellation of the calling task propagates; every other
        exception is returned.
        """
        if self._schema.context_param is not None:
            kwargs[self._schema.context_param] = ctx
        args = [kwargs.pop(p) for p in self._schema.positional]
        if not self.is_async:
            lane = ctx._lane if ctx is not None else None
            if self.inline:
                outcome = capture(self.fn, args, kwargs)
            elif lane is not None:
                outcome = await lane.run(self.fn, args, kwargs)
            else:
                outcome = await run_in_own_thread(self.fn, args, kwargs)
            if outcome.error is not None or not inspect.isawaitable(outcome.value):
                return outcome
            return await _settle(outcome.value)
        try:
            return Outcome(value=await self.fn(*args, **kwargs))
        except BaseException as exc:
            return _outcome_of(exc)


@overload
def tool(
    fn: Callable[..., Any],
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    large_output: bool = False,
    requires_approval: bool = False,
    inline: bool = False,
) -> Tool: ...


@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    large_output: bool = False,
    requires_approval: bool = False,
    inline: bool = False,
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    large_output: bool = False,
    requires_approval: bool = False,
    inline: bool = False,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Make a function a :class:`Tool`, optionally renaming or re-describing it.

    Usable bare (``@tool``), with options (``@tool(name="web_search")``,
    ``@tool(requires_approval=True)``, ``@tool(inline=True)``), or as a call
    (``tool(search, name="web_search")``).
    """
    if fn is not None:
        return Tool(
            fn,
            name=name,
            description=description,
            large_output=large_output,
            requires_approval=requires_approval,
            inline=inline,
        )

    def wrap(f: Callable[..., Any]) -> Tool:
        return Tool(
            f,
            name=name,
            description=description,
            large_output=large_output,
            requires_approval=requires_approval,
            inline=inline,
        )

    return wrap


def to_tool(obj: object) -> Tool:
    """Return ``obj`` as a :class:`Tool` (plain functions are wrapped)."""
    if isinstance(obj, Tool):
        return obj
    if isinstance(obj, str | bytes | int | float) or not callable(obj):
        raise ConfigError(
            f"tools must be functions or Tool objects, got {type(obj).__name__}: {obj!r}",
            parameter="tools",
            hint="pass the function itself (tools=[search]), not its name or result",
        )
    return Tool(obj)


# --------------------------------------------------------------------------- execution


_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _check_name(name: object) -> str:
    """A tool name every model API accepts: ASCII letters, digits, ``_`` and ``-``, 1-64."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        shown = repr(name) if not isinstance(name, str) or len(name) <= 80 else repr(name[:77])
        raise ConfigError(
            f"tool name {shown} is not accepted by model APIs: use 1 to 64 ASCII letters, "
            "digits, '_' or '-'",
            parameter="tools",
            hint="give it another name with @tool(name=...), e.g. 'web_search'",
        )
    return name


def _cancelled() -> bool:
    """Whether someone asked to cancel the task running this code (a real cancellation)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _outcome_of(exc: BaseException) -> Outcome:
    """A tool's exception as its outcome, unless the run itself is being cancelled."""
    if _cancelled():
        if isinstance(exc, asyncio.CancelledError):
            raise exc
        raise asyncio.CancelledError() from exc
    return Outcome(error=exc)


async def _settle(awaitable: Any) -> Outcome:
    """Await what a sync tool returned (e.g. a partial of an async function)."""
    try:
        return Outcome(value=await awaitable)
    except BaseException as exc:
        return _outcome_of(exc)


_SCALARS = frozenset({int, float, bool, type(None)})


def to_content(value: Any) -> MessageContent:
    """Turn a tool's return value into message content (text or content blocks).

    Raises:
        Exception: the value cannot be turned into text (e.g. its ``__str__`` raises).
    """
    if isinstance(value, str):
        return encodable(value)
    if type(value) in _SCALARS:  # the common result of a small tool: JSON is its repr
        return json.dumps(value)
    if isinstance(value, TextBlock | ImageBlock | DocumentBlock):
        return encodable_content([value])
    if (
        isinstance(value, list)
        and value
        and all(isinstance(v, TextBlock | ImageBlock | DocumentBlock) for v in value)
    ):
        return encodable_content(list(value))
    if isinstance(value, BaseModel):
        return encodable(value.model_dump_json())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return encodable(json.dumps(dataclasses.asdict(value), default=str))
    try:
        return encodable(json.dumps(value, default=str))
    except (TypeError, ValueError, RecursionError):
        text = str(value)
        if not isinstance(text, str):
            raise TypeError(f"__str__ returned {type(text).__name__}") from None
        return encodable(text)


def _describe_error(exc: BaseException) -> str:
    """``TypeName: message``; for StopIteration turned into RuntimeError, the original."""
    cause = exc.__cause__
    if isinstance(exc, RuntimeError) and isinstance(cause, StopIteration | StopAsyncIteration):
        exc = cause
    if isinstance(exc, SystemExit):
        return f"SystemExit: the tool called sys.exit({describe(exc.code)})"
    text = describe(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def _one(
    call: ToolCall,
    tools: dict[str, Tool],
    make_ctx: Callable[[ToolCall], ToolContext],
) -> tuple[ToolResult, float]:
    start = time.perf_counter()
    result = await _invoke(call, tools, make_ctx)
    return result, (time.perf_counter() - start) * 1000


async def _invoke(
    call: ToolCall, tools: dict[str, Tool], make_ctx: Callable[[ToolCall], ToolContext]
) -> ToolResult:
    """Run one call; every outcome but KeyboardInterrupt and a real cancellation is a result."""
    found = tools.get(call.name)
    if found is None:
        names = ", ".join(sorted(tools)) or "none"
        return _error(
            call, f"Unknown tool {call.name!r}. Available tools: {names}. Call one of those."
        )
    try:
        kwargs = found.bind(call.arguments)
    except ValidationError as exc:
        return _error(call, format_validation_error(call.name, exc))
    except ArgumentsError as exc:
        return _error(call, str(exc))
    # a sync tool runs in the run's lane of threads, which its context carries
    needs_ctx = found.takes_context or not (found.is_async or found.inline)
    outcome = await found.invoke(kwargs, make_ctx(call) if needs_ctx else None)
    error = outcome.error
    if error is None:
        try:
            content = to_content(outcome.value)
        except Exception as exc:
            return _error(
                call,
                f"Error: tool {call.name!r} returned a {type(outcome.value).__name__} that "
                f"cannot be turned into text ({_describe_error(exc)}); return text, JSON-ready "
                "data or content blocks",
            )
        return ToolResult(tool_call_id=call.id, tool_name=call.name, content=content)
    if isinstance(error, KeyboardInterrupt):
        raise error  # Ctrl-C stops the program, wherever it lands
    if isinstance(error, ToolError):
        return _error(call, f"Error: {describe(error.message)}")
    return _error(call, f"Error: tool {call.name!r} raised {_describe_error(error)}")


def _error(call: ToolCall, text: str) -> ToolResult:
    return ToolResult(
        tool_call_id=call.id, tool_name=call.name, content=encodable(text), is_error=True
    )


async def execute_tool_calls(
    calls: Sequence[ToolCall],
    tools: dict[str, Tool],
    make_ctx: Callable[[ToolCall], ToolContext],
) -> list[tuple[ToolResult, float]]:
    """Run one turn's tool calls concurrently.

    Returns:
        ``(result, duration_ms)`` per call, in call order.

    Cancellation propagates to every call still running (nothing is left behind).
    """
    if len(calls) == 1:
        return [await _one(calls[0], tools, make_ctx)]
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(_one(c, tools, make_ctx)) for c in calls]
    return [t.result() for t in tasks]
