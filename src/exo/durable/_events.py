"""Events of a durable run: each with a stable id and a ``replayed`` flag.

A recovered run executes the agent again from the top; its early events repeat ones a client
may have seen before the crash. Every event a durable run streams is wrapped in a
:class:`DurableEvent` whose id, ``{run id}:{step}:{sequence}``, is the same on every execution
(``step`` counts the model and tool steps the run has started, in order; ``sequence``
the events since), and
whose ``replayed`` flag says the event was rebuilt from the record, before any step ran live.
A client reattaching to a resumed run skips the ids it already has.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from exo.types import StreamEvent

__all__ = ["END", "DurableEvent", "Sink"]

END: Any = object()
"""Put on a sink when the run's execution in this process ends."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DurableEvent:
    """One event of a durable run.

    Attributes:
        id: ``{run_id}:{step}:{seq}``, the same on every execution of the run.
        run_id: The durable run (its DBOS workflow id).
        step: How many steps the run had started when the event came.
        seq: The event's place among those since that step.
        replayed: Rebuilt from the record (no step of this execution had run live yet).
        event: The run's own event.
    """

    id: str
    run_id: str
    step: int
    seq: int
    replayed: bool
    event: StreamEvent


class Sink:
    """Hands a run's events to a reader in this process, from whichever event loop runs it
    (the caller's, or DBOS's own for a recovered run)."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[Any] = asyncio.Queue()

    def put(self, item: Any) -> None:
        """Queue ``item`` (thread- and loop-safe)."""
        try:
            same = asyncio.get_running_loop() is self.loop
        except RuntimeError:
            same = False
        if same:
            self.queue.put_nowait(item)
        else:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
