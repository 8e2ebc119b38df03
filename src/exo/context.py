"""The Context a run shares with its planner, and the opt-in context tools.

A :class:`Context` holds what a run's tools share beyond the transcript: free-form
``state`` for your tools, named ``notes`` the model may read, a todo list the model may keep,
and the run's parked :class:`~exo.artifacts.ArtifactStore`. Pass one as
``Agent(context=Context())`` to keep it across runs, or ``run(..., context=...)`` for one run;
otherwise each run creates its own. The planner pre-pass gets the *same* object as the
executor (spec: "context: shared with the parent agent"). Tools reach it through
:class:`~exo.tools.ToolContext` (``ctx.context``).

With ``Agent(context_tools=True)`` a run also offers the model the context tools
(:func:`context_tools`): ``add_todo``, ``complete_todo``, ``list_todos``, ``list_notes`` and
``read_note``. The planner never gets them.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field

from exo.artifacts import DEFAULT_PAGE, ArtifactStore, page_text
from exo.errors import ToolError
from exo.tools import Tool, ToolContext

__all__ = ["CONTEXT_TOOL_NAMES", "Context", "Todo", "context_tools"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Todo:
    """One item of a context's todo list.

    Attributes:
        text: What is to be done.
        done: Whether it has been completed.
    """

    text: str
    done: bool = False


class Context:
    """State shared by a run, its planner and its tools.

    Args:
        state: Initial free-form state for your tools.
        notes: Named texts the model can list and read with the context tools.

    Attributes:
        state: Free-form key/value state for your tools.
        notes: Named texts the model can read (``list_notes`` / ``read_note``).
        todos: The todo list the model keeps with the context tools.
        artifacts: Large tool results parked by runs using this context.
    """

    __slots__ = ("_lock", "artifacts", "notes", "state", "todos")

    def __init__(
        self, state: dict[str, Any] | None = None, *, notes: dict[str, str] | None = None
    ) -> None:
        self.state: dict[str, Any] = dict(state or {})
        self.notes: dict[str, str] = dict(notes or {})
        self.todos: list[Todo] = []
        self.artifacts = ArtifactStore()
        self._lock = threading.Lock()

    def fork(self) -> Context:
        """Return a context for a child run: same state, notes and artifacts; its own todos.

        Children of ``spawn_self`` run concurrently, so each keeps its own todo list (the
        numbers the model uses stay its own), while tools still find the application's
        ``state`` and artifact ids stay unique across the whole run.
        """
        child = Context()
        child.state = self.state
        child.notes = self.notes
        child.artifacts = self.artifacts
        return child

    def add_todo(self, text: str) -> int:
        """Append a todo item; return its number (1-based)."""
        with self._lock:
            self.todos.append(Todo(text=text))
            return len(self.todos)

    def complete_todo(self, number: int) -> Todo:
        """Mark todo ``number`` (1-based) done and return it.

        Raises:
            IndexError: there is no such item.
        """
        with self._lock:
            if not 1 <= number <= len(self.todos):
                raise IndexError(number)
            item = Todo(text=self.todos[number - 1].text, done=True)
            self.todos[number - 1] = item
            return item

    def todo_text(self) -> str:
        """The todo list as a numbered checklist."""
        if not self.todos:
            return "The todo list is empty."
        return "\n".join(
            f"{i}. [{'x' if t.done else ' '}] {t.text}" for i, t in enumerate(self.todos, 1)
        )

    def __repr__(self) -> str:
        return (
            f"Context(state_keys={sorted(self.state)!r}, notes={sorted(self.notes)!r}, "
            f"todos={len(self.todos)}, artifacts={len(self.artifacts)})"
        )


# --------------------------------------------------------------------------- context tools


def add_todo(item: str, ctx: ToolContext) -> str:
    """Add an item to your todo list.

    Args:
        item: What is to be done, in a few words.
    """
    if not item.strip():
        raise ToolError("the todo item is empty; describe what is to be done")
    number = ctx.context.add_todo(item.strip())
    return f"Added todo {number}.\n{ctx.context.todo_text()}"


def complete_todo(number: int, ctx: ToolContext) -> str:
    """Mark an item of your todo list as done.

    Args:
        number: The item's number as list_todos shows it (1 for the first).
    """
    try:
        item = ctx.context.complete_todo(number)
    except IndexError:
        count = len(ctx.context.todos)
        raise ToolError(
            f"there is no todo {number}; "
            + (f"the list has items 1 to {count}" if count else "the list is empty")
        ) from None
    return f"Completed todo {number}: {item.text}\n{ctx.context.todo_text()}"


def list_todos(ctx: ToolContext) -> str:
    """Show your todo list, with done items checked."""
    return ctx.context.todo_text()


def list_notes(ctx: ToolContext) -> str:
    """List the notes and stored artifacts you can read with read_note."""
    context = ctx.context
    lines = [f"- {name} ({len(text):,} characters)" for name, text in context.notes.items()]
    lines += [
        f"- {a.id} ({a.size:,} characters, result of {a.tool_name})" for a in context.artifacts
    ]
    return "\n".join(lines) if lines else "There are no notes or artifacts."


def read_note(
    name: str,
    ctx: ToolContext,
    offset: Annotated[int, Field(ge=0)] = 0,
    length: Annotated[int, Field(ge=1)] = DEFAULT_PAGE,
) -> str:
    """Read a note or a stored artifact, page by page.

    Args:
        name: The note's name or the artifact's id, as list_notes shows it.
        offset: The first character to read (0 for the start).
        length: How many characters to read.
    """
    context = ctx.context
    text = context.notes.get(name)
    if text is None and (artifact := context.artifacts.get(name)) is not None:
        text = artifact.content
    if text is None:
        known = [*context.notes, *context.artifacts.ids()]
        raise ToolError(
            f"there is no note or artifact named {name!r}; "
            + (f"known: {', '.join(known[:40])}" if known else "there are none")
        )
    return page_text(
        text,
        name=name,
        offset=offset,
        length=min(length, DEFAULT_PAGE),
        tool="read_note",
        key="name",
    )


CONTEXT_TOOL_NAMES: tuple[str, ...] = (
    "add_todo",
    "complete_todo",
    "list_todos",
    "list_notes",
    "read_note",
)
"""Names of the context tools (reserved when ``context_tools=True``)."""


def context_tools() -> list[Tool]:
    """Return the context tools, in :data:`CONTEXT_TOOL_NAMES` order."""
    return list(_context_tools())


@functools.cache
def _context_tools() -> tuple[Tool, ...]:
    return tuple(Tool(fn) for fn in (add_todo, complete_todo, list_todos, list_notes, read_note))
