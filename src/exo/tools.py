"""Tools: plain functions the model can call, the ``@tool`` decorator, and ``ToolContext``.

A plain function with type hints and a docstring is a tool as it is; ``@tool`` overrides its
name or description or marks its output as large. Running a turn's calls
(:func:`execute_tool_calls`) never raises for a tool's sake: unknown tools, malformed JSON,
arguments that fail validation and exceptions inside the tool all become error results the
model can act on, and one bad call never fails its siblings.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import json
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, overload

from pydantic import BaseModel, ValidationError

from exo._schema import FunctionSchema, format_validation_error, function_schema
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
    """

    __slots__ = ("_sink", "agent_name", "context", "extras", "state", "tool_call_id")

    def __init__(
        self,
        *,
        agent_name: str,
        tool_call_id: str,
        context: Context,
        state: RunState,
        sink: EventSink | None = None,
        extras: dict[str, Any] | None = None,
    ) -> None:
        self.agent_name = agent_name
        self.tool_call_id = tool_call_id
        self.context = context
        self.state = state
        self._sink = sink
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
    """

    __slots__ = ("_schema", "description", "fn", "is_async", "large_output", "name", "spec")

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        large_output: bool = False,
    ) -> None:
        if not callable(fn):
            raise ConfigError(
                f"a tool must be a function, got {type(fn).__name__}: {fn!r}",
                parameter="tools",
                hint="pass plain functions (tools=[search]) or wrap them with @exo.tool",
            )
        self.fn = fn
        self.name = name or getattr(fn, "__name__", None) or type(fn).__name__
        if not self.name.replace("_", "").replace("-", "").isalnum():
            raise ConfigError(
                f"tool name {self.name!r} may contain only letters, digits, '_' and '-'",
                parameter="tools",
                hint="give it another name with @tool(name=...)",
            )
        self._schema: FunctionSchema = function_schema(fn, context_type=ToolContext, name=self.name)
        self.description = description or self._schema.description or self.name
        self.large_output = large_output
        target = fn if inspect.isroutine(fn) else type(fn).__call__
        self.is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(target)
        self.spec = ToolSpec(
            name=self.name, description=self.description, parameters=self._schema.json_schema
        )

    @property
    def takes_context(self) -> bool:
        """Whether the function declares a ``ToolContext`` parameter."""
        return self._schema.context_param is not None

    @property
    def parameters(self) -> dict[str, Any]:
        """The JSON schema of the arguments."""
        return self._schema.json_schema

    def __repr__(self) -> str:
        return f"Tool(name={self.name!r})"

    async def call(self, raw_arguments: str, ctx: ToolContext | None = None) -> Any:
        """Validate the model's raw JSON arguments and call the function.

        Raises:
            ValidationError: the arguments do not fit the schema (nothing is called).
        """
        kwargs = self._schema.validate_json(raw_arguments)
        if self._schema.context_param is not None:
            kwargs[self._schema.context_param] = ctx
        args = [kwargs.pop(p) for p in self._schema.positional]
        if self.is_async:
            return await self.fn(*args, **kwargs)
        return await asyncio.to_thread(self.fn, *args, **kwargs)


@overload
def tool(
    fn: Callable[..., Any],
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    large_output: bool = False,
) -> Tool: ...


@overload
def tool(
    *, name: str | None = None, description: str | None = None, large_output: bool = False
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    large_output: bool = False,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Make a function a :class:`Tool`, optionally renaming or re-describing it.

    Usable bare (``@tool``), with options (``@tool(name="web_search")``), or as a call
    (``tool(search, name="web_search")``).
    """
    if fn is not None:
        return Tool(fn, name=name, description=description, large_output=large_output)

    def wrap(f: Callable[..., Any]) -> Tool:
        return Tool(f, name=name, description=description, large_output=large_output)

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


def to_content(value: Any) -> MessageContent:
    """Turn a tool's return value into message content (text or content blocks)."""
    if isinstance(value, str):
        return value
    if isinstance(value, TextBlock | ImageBlock | DocumentBlock):
        return [value]
    if (
        isinstance(value, list)
        and value
        and all(isinstance(v, TextBlock | ImageBlock | DocumentBlock) for v in value)
    ):
        return list(value)
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return json.dumps(dataclasses.asdict(value), default=str)
    try:
        return json.dumps(value, default=str)
    except (TypeError, ValueError):
        return str(value)


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
    found = tools.get(call.name)
    if found is None:
        names = ", ".join(sorted(tools)) or "none"
        return _error(
            call, f"Unknown tool {call.name!r}. Available tools: {names}. Call one of those."
        )
    try:
        value = await found.call(call.arguments, make_ctx(call) if found.takes_context else None)
    except ValidationError as exc:
        return _error(call, format_validation_error(call.name, exc))
    except ToolError as exc:
        return _error(call, f"Error: {exc.message}")
    except Exception as exc:
        return _error(call, f"Error: tool {call.name!r} raised {type(exc).__name__}: {exc}")
    return ToolResult(tool_call_id=call.id, tool_name=call.name, content=to_content(value))


def _error(call: ToolCall, text: str) -> ToolResult:
    return ToolResult(tool_call_id=call.id, tool_name=call.name, content=text, is_error=True)


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
