"""History windowing: keep what a long run sends the model within a token budget.

:func:`window_messages` is a pure function of a transcript and a budget. It keeps

* the leading system prompt(s), untouched and in place (provider prompt caches key on the
  start of the prompt);
* the latest user message (the task) and any system messages right before it (an injected
  plan);
* the newest exchange;

and drops the oldest of the rest, a whole *unit* at a time: an assistant message with tool
calls always goes together with its tool results, so a call is never separated from its
result. Each gap is marked by a one-line user message saying what was left out (or a text of
yours, e.g. a summary of the dropped messages). The run's own transcript is never changed:
apply the window to the messages of each model request only.

To keep caches useful, the cut moves in steps of ``step`` × budget: as a transcript grows,
the same units stay dropped until the next step is reached, so successive requests share
their prefix.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from exo._tokens import estimate_tokens
from exo.types import (
    AssistantMessage,
    Message,
    SystemMessage,
    ToolResult,
    UserMessage,
)

__all__ = ["DEFAULT_NOTE", "Window", "estimate_tokens", "window_messages"]

DEFAULT_NOTE = (
    "[{count} earlier messages were left out here to keep the conversation within its "
    "context budget.]"
)
"""The text that marks a gap; ``{count}`` is the number of messages left out."""

TokenCounter = Callable[[Sequence[Message]], int]


@dataclass(frozen=True, slots=True)
class Window:
    """What :func:`window_messages` decided.

    Attributes:
        messages: The messages to send.
        dropped: The messages left out, oldest first (summarize them if you like).
        tokens: Estimated tokens of ``messages``; above the budget when even the kept
            minimum does not fit.
    """

    messages: list[Message]
    dropped: list[Message]
    tokens: int


def _units(body: Sequence[Message]) -> list[list[Message]]:
    """Split messages into units: an assistant message with its tool results, or one message."""
    units: list[list[Message]] = []
    for message in body:
        if isinstance(message, ToolResult) and units and _open_call(units[-1]):
            units[-1].append(message)
        else:
            units.append([message])
    return units


def _open_call(unit: list[Message]) -> bool:
    first = unit[0]
    return isinstance(first, AssistantMessage) and bool(first.tool_calls)


def _pinned(units: list[list[Message]]) -> set[int]:
    """Indices of units never dropped: the latest user message (+ system messages right
    before it) and the newest unit."""
    pinned = {len(units) - 1} if units else set()
    for index in range(len(units) - 1, -1, -1):
        if isinstance(units[index][0], UserMessage):
            pinned.add(index)
            before = index - 1
            while before >= 0 and isinstance(units[before][0], SystemMessage):
                pinned.add(before)
                before -= 1
            break
    return pinned


def window_messages(
    messages: Sequence[Message],
    max_tokens: int,
    *,
    count_tokens: TokenCounter = estimate_tokens,
    note: str = DEFAULT_NOTE,
    step: float = 0.25,
) -> Window:
    """Return the messages to send so that they fit ``max_tokens`` (see the module docstring).

    Args:
        messages: The whole transcript.
        max_tokens: The budget for the messages sent.
        count_tokens: Counts the tokens of messages (default: :func:`estimate_tokens`).
        note: Marks each gap, as a user message; ``{count}`` is replaced by the number of
            messages left out there. Empty: no marker.
        step: The cut moves in steps of this fraction of ``max_tokens`` (0: drop only what
            must go, at the price of a new prompt prefix on every request).
    """
    total = count_tokens(messages)
    if total <= max_tokens:
        return Window(list(messages), [], total)
    lead = 0
    while lead < len(messages) and isinstance(messages[lead], SystemMessage):
        lead += 1
    units = _units(messages[lead:])
    pinned = _pinned(units)
    chunk = max(1, int(max_tokens * step))
    need = math.ceil((total - max_tokens) / chunk) * chunk
    dropped_units: set[int] = set()
    freed = 0
    for index, unit in enumerate(units):
        if freed >= need:
            break
        if index not in pinned:
            dropped_units.add(index)
            freed += count_tokens(unit)
    return _assemble(list(messages[:lead]), units, dropped_units, note, count_tokens)


def _assemble(
    head: list[Message],
    units: list[list[Message]],
    dropped_units: set[int],
    note: str,
    count_tokens: TokenCounter,
) -> Window:
    kept: list[Message] = list(head)
    dropped: list[Message] = []
    gap = 0
    for index, unit in enumerate(units):
        if index in dropped_units:
            dropped.extend(unit)
            gap += len(unit)
            continue
        if gap and note:
            kept.append(UserMessage(content=note.format(count=gap)))
        gap = 0
        kept.extend(unit)
    return Window(kept, dropped, count_tokens(kept))
