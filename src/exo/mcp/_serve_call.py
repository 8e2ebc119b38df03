"""One served call's run, as MCP sees it: its steps as progress lines, its outcome as the
tool's result (an answer, structured content, or an ``isError`` message), and the checks
of the call's arguments.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

import pydantic_core

from exo.agent import Agent
from exo.errors import ExoError, MemorySaveError
from exo.types import (
    PlanCompleteEvent,
    PlanSkippedEvent,
    PlanStartEvent,
    RunCompleteEvent,
    RunResult,
    StreamEvent,
    ToolCallEvent,
    ToolResultEvent,
    WarningEvent,
    text_of,
)

if TYPE_CHECKING:
    from mcp_types import CallToolResult

__all__ = [
    "Progress",
    "answer",
    "drive",
    "error",
    "parse_arguments",
    "paused_message",
    "progress_message",
]

log = logging.getLogger("exo.mcp.serve")

_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL|DSN", re.IGNORECASE)
_MAX_DETAIL = 200  # characters of a tool call's arguments or result in a progress message

Progress = Callable[[float, str], Awaitable[None]]
"""``(progress, message)``: reports one step of a running call to the client."""


def answer(agent: Agent[Any], result: RunResult[Any], note: str = "") -> CallToolResult:
    """The tool's result for a completed run: its text (and a ``note`` after it, if any),
    the typed answer as ``structuredContent`` when the agent has an ``output_type``, and what
    the run cost in ``_meta["exo/usage"]`` (tokens and model calls, planner and children
    included)."""
    from mcp_types import CallToolResult, TextContent

    usage = {**dataclasses.asdict(result.usage), "total_tokens": result.usage.total_tokens}
    notes = [TextContent(text=note)] if note else []
    return CallToolResult(
        content=[TextContent(text=result.text), *notes],
        structured_content=_structured(agent, result),
        _meta={"exo/usage": usage},
    )


async def drive(
    agent: Agent[Any], events: AsyncGenerator[StreamEvent, None], progress: Progress
) -> RunResult[Any] | CallToolResult:
    """Consume a run's events, reporting its steps as progress: its result, or the error
    result saying why it failed (the traceback goes to the server's log only).

    Cancelling the calling task cancels the run.
    """
    result: RunResult[Any] | None = None
    count = 0
    try:
        async with aclosing(events) as stream:
            async for event in stream:
                if isinstance(event, RunCompleteEvent) and not event.lineage:
                    result = event.result
                    continue
                message = progress_message(event)
                if message is not None:
                    count += 1
                    await progress(count, message)
    except MemorySaveError as exc:  # the answer is complete: give it, and say what failed
        log.warning("the served agent %r could not save its turn", agent.name, exc_info=True)
        cause = f": {exc.__cause__}" if exc.__cause__ is not None else ""
        note = f"(This turn was not saved to conversation {exc.result.conversation_id!r}{cause}.)"
        return answer(agent, exc.result, _scrub(note))
    except ExoError as exc:
        log.info("the served agent %r failed", agent.name, exc_info=True)
        hint = f" ({exc.hint})" if exc.hint else ""
        return error(_scrub(f"The agent {agent.name!r} failed: {exc.message}{hint}"))
    except Exception as exc:
        log.warning("the served agent %r failed", agent.name, exc_info=True)
        return error(_scrub(f"The agent {agent.name!r} failed: {type(exc).__name__}: {exc}"))
    assert result is not None  # the stream ends with RunCompleteEvent or raises
    return result


def _scrub(message: str) -> str:
    """Hide the server's secrets in a message for the client: the value of every environment
    variable named like a credential (``*_API_KEY``, ``*_TOKEN``, ``*_SECRET``, ...).

    exo's own errors never carry a key; an exception from the agent's code (an instructions
    function, a memory backend) might, and the client is another party.
    """
    for name, value in os.environ.items():
        if len(value) >= 8 and _SECRET_NAME.search(name):
            message = message.replace(value, "***")
    return message


def parse_arguments(arguments: Mapping[str, Any]) -> tuple[str, str | None, str | None]:
    """``(task, conversation_id, problem)``: problem says what is wrong with the call."""
    unknown = sorted(set(arguments) - {"task", "conversation_id"})
    if unknown:
        return (
            "",
            None,
            f"Unknown argument(s): {', '.join(unknown)}. Pass task (and conversation_id).",
        )
    task = arguments.get("task")
    if not isinstance(task, str) or not task.strip():
        return "", None, "The argument task must be a non-empty string: what the agent should do."
    conversation_id = arguments.get("conversation_id")
    if conversation_id is not None and (
        not isinstance(conversation_id, str) or not conversation_id
    ):
        return "", None, "The argument conversation_id must be a non-empty string when given."
    return task, conversation_id, None


def error(message: str) -> CallToolResult:
    from mcp_types import CallToolResult, TextContent

    return CallToolResult(content=[TextContent(text=message)], is_error=True)


def _structured(agent: Agent[Any], result: RunResult[Any]) -> Any:
    """The typed answer as the ``outputSchema`` describes it (``None`` for a text agent)."""
    if agent.output is None:
        return None
    data = pydantic_core.to_jsonable_python(result.output)
    return {"response": data} if agent.output.wrapped else data


def paused_message(agent: Agent[Any], result: RunResult[Any]) -> str:
    waiting = "; ".join(
        "its plan"
        if r.kind == "plan"
        else f"{r.tool_name}({json.dumps(r.arguments, ensure_ascii=False)[:_MAX_DETAIL]})"
        for r in result.pending
    )
    return (
        f"The agent {agent.name!r} stopped to wait for a person's approval of {waiting}, and "
        "the MCP client cannot be asked (it takes no elicitation on this connection), so "
        "nothing of it ran. Call it from a client that supports elicitation, serve the agent "
        "with an approval_handler (or `exo mcp serve --yes`), or without tools that need "
        "approval."
    )


def progress_message(event: StreamEvent) -> str | None:
    """The progress line for a run event, or ``None`` for events a client need not see
    (text deltas, steps, usage)."""
    who = f"[{' › '.join((*event.lineage, event.agent_name))}] " if event.lineage else ""
    if isinstance(event, PlanStartEvent):
        return f"{who}planning ({event.model})"
    if isinstance(event, PlanCompleteEvent):
        return f"{who}plan:\n{event.plan.text}" if event.plan.text else f"{who}plan: (empty)"
    if isinstance(event, PlanSkippedEvent):
        return f"{who}plan skipped: {event.reason}"
    if isinstance(event, ToolCallEvent):
        return f"{who}→ {event.tool_name}({_cut(event.arguments)})"
    if isinstance(event, ToolResultEvent):
        failed = " (error)" if event.is_error else ""
        return f"{who}← {event.tool_name}{failed}: {_cut(text_of(event.content))}"
    if isinstance(event, WarningEvent):
        return f"{who}warning: {event.message}"
    return None


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"
