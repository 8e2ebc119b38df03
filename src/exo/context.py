"""The Context a run shares with its planner (and that tools reach via ``ToolContext``).

Pass one as ``Agent(context=Context())`` to keep state across runs, or let each run create
its own. The planner pre-pass gets the *same* object as the executor (spec: "context: shared
with the parent agent").
"""

from __future__ import annotations

from typing import Any

__all__ = ["Context"]


class Context:
    """State shared by a run, its planner and its tools.

    Attributes:
        state: Free-form key/value state for your tools.
    """

    def __init__(self, state: dict[str, Any] | None = None) -> None:
        self.state: dict[str, Any] = dict(state or {})

    def __repr__(self) -> str:
        return f"Context(keys={sorted(self.state)!r})"
