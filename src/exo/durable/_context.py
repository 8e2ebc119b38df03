"""Context changes made by user tools, recorded with the tool's step and re-applied on replay.

A user tool may change the run's :class:`~exo.context.Context` (``ctx.context.state``,
``notes``, the todo list). On replay its completed step does not run, so those changes would
be missing for the rest of the run. So a tool step that takes a ``ToolContext`` records what
the call changed (:class:`ContextChanges`, JSON) with its result, and a replay applies it.

State values are compared as JSON, so in-place changes of JSON data (a list appended to) are
seen. A value that is not JSON (a client object the application put there) is compared by
identity: a tool that replaces it with another non-JSON value fails the step loudly, since
the change could not be restored; mutating such an object in place is not seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pydantic_core
from pydantic import BaseModel, Field

from exo.context import Context, Todo
from exo.errors import ConfigError

__all__ = ["ContextChanges", "Snapshot", "apply", "changes", "snapshot"]


class ContextChanges(BaseModel):
    """What one tool call changed in the run's context."""

    state: dict[str, Any] = Field(default_factory=dict)
    """State keys set (added or changed), with their new JSON values."""
    state_deleted: list[str] = Field(default_factory=list)
    notes: dict[str, str] = Field(default_factory=dict)
    notes_deleted: list[str] = Field(default_factory=list)
    todos: list[Todo] | None = None
    """The whole todo list after the call, when it changed."""

    def __bool__(self) -> bool:
        return bool(
            self.state
            or self.state_deleted
            or self.notes
            or self.notes_deleted
            or self.todos is not None
        )


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A context as it was before a tool call: state values as JSON (or the object itself
    when it is not JSON), notes, todos."""

    state: dict[str, bytes | object]
    notes: dict[str, str]
    todos: list[Todo]


def _json(value: Any) -> bytes | None:
    try:
        return pydantic_core.to_json(value)
    except pydantic_core.PydanticSerializationError:
        return None


def snapshot(context: Context) -> Snapshot:
    """Take a snapshot of ``context`` before a tool call."""
    state = {k: (j if (j := _json(v)) is not None else v) for k, v in context.state.items()}
    return Snapshot(state=state, notes=dict(context.notes), todos=list(context.todos))


def changes(before: Snapshot, context: Context, *, tool: str) -> ContextChanges:
    """What changed in ``context`` since ``before`` (the call of ``tool``)."""
    state: dict[str, Any] = {}
    for key, value in context.state.items():
        old = before.state.get(key, _MISSING)
        now = _json(value)
        if now is None:
            if old is not value:
                raise ConfigError(
                    f"tool {tool!r} stored a value that is not JSON in ctx.context.state"
                    f"[{key!r}] ({type(value).__name__}): a durable run records a tool's "
                    "context changes as JSON to restore them after a crash",
                    hint="store JSON data (str, numbers, lists, dicts, pydantic models) there, "
                    "or keep the object outside the context",
                )
        elif old != now:
            state[key] = pydantic_core.from_json(now)
    notes = {k: v for k, v in context.notes.items() if before.notes.get(k) != v}
    return ContextChanges(
        state=state,
        state_deleted=[k for k in before.state if k not in context.state],
        notes=notes,
        notes_deleted=[k for k in before.notes if k not in context.notes],
        todos=list(context.todos) if context.todos != before.todos else None,
    )


def apply(recorded: ContextChanges, context: Context) -> None:
    """Make the changes a tool call recorded (its step is replayed, so it does not run)."""
    context.state.update(recorded.state)
    for key in recorded.state_deleted:
        context.state.pop(key, None)
    context.notes.update(recorded.notes)
    for key in recorded.notes_deleted:
        context.notes.pop(key, None)
    if recorded.todos is not None:
        context.todos[:] = recorded.todos


_MISSING: Any = object()
