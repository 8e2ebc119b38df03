"""The benchmark task every driver runs, and the interface a driver implements.

The task: one tool, ``add(a: int, b: int)``; the mock model calls it three times
(1+2, 3+4, 5+6) and then answers ``EXPECTED``. That is four model calls per run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

MODEL = "gpt-4o-mini"
PROMPT = "Add 1 and 2, then 3 and 4, then 5 and 6, with the add tool; report the sums."
EXPECTED = "The sums are 3, 7 and 11."
MODEL_CALLS_PER_RUN = 4
API_KEY = "sk-bench-dummy"

FirstText = Callable[[], None]
"""Called by a streaming driver when the first non-empty text of the answer arrives."""


def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: The first number.
        b: The second number.
    """
    return a + b


ADD_SCHEMA: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "add",
        "description": "Add two integers.",
        "parameters": {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            "required": ["a", "b"],
            "additionalProperties": False,
        },
    },
}


class Driver(Protocol):  # a module may also define ``async def shutdown()``, called last
    """One framework set up to run the task against the mock."""

    async def run(self) -> str:
        """Run the task once; return the final answer text."""
        ...

    async def stream(self, first_text: FirstText) -> str:
        """Run the task once in streaming mode; call ``first_text`` on the first text token."""
        ...

    async def aclose(self) -> None:
        """Release clients and threads."""
        ...
