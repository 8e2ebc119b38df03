"""A run in progress: its background task, its event log, and the streams that follow it.

A :class:`LiveRun` drives ``Runner.stream(..., detailed=True)`` in a task of its own, turns
each event into one JSON line numbered from 1 (``{"seq", "ts", "type", ...}``: the event's own
fields, its number and the server's clock), keeps the log in memory for the streams that follow
the run, and records it in the run store in batches and whenever the run pauses or ends.
Besides exo's events the log has ``{"type": "status", "status": ...}`` lines, one per change:
``running``, ``paused``, ``completed``, ``failed``, ``cancelled``.

A ``run_complete`` event carries the result's summary (:func:`summarize`), never the transcript
or a paused run's state: the state stays on the server, for ``POST /runs/{id}/approvals``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from datetime import UTC, datetime
from typing import Any

from pydantic import TypeAdapter

from exo.errors import ExoError
from exo.serve._hub import Hub
from exo.serve._store import RunRecord
from exo.types import RunCompleteEvent, RunResult, StreamEvent

__all__ = ["LiveRun", "now", "summarize"]

log = logging.getLogger("exo.serve")

_EVENT_ADAPTER: TypeAdapter[StreamEvent] = TypeAdapter(StreamEvent)
_FLUSH_EVERY = 256  # events kept unrecorded at most while a run goes on


def now() -> str:
    """The current UTC time as stored (ISO 8601, fixed width, so it sorts as text)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def summarize(result: RunResult[Any]) -> dict[str, Any]:
    """A result as the API shows it: everything but the transcript and the paused state."""
    data = result.to_dict()
    for key in ("messages", "new_messages", "state"):
        data.pop(key, None)
    cost = getattr(result, "cost", None)
    if cost is not None and "cost" not in data:  # a cost the result's to_dict leaves out
        data["cost"] = cost if isinstance(cost, int | float | dict) else str(cost)
    return data


def _event_data(event: StreamEvent) -> dict[str, Any]:
    if isinstance(event, RunCompleteEvent):
        return {
            "type": event.type,
            "agent_name": event.agent_name,
            "lineage": list(event.lineage),
            "result": summarize(event.result),
        }
    data: dict[str, Any] = _EVENT_ADAPTER.dump_python(event, mode="json")
    return data


class LiveRun:
    """A run of this process that is running or paused (see the module docstring).

    Args:
        record: The run's record (updated in place as the run goes on).
        log: Its events so far, as (seq, JSON) pairs (from the store, for a resumed run).
    """

    def __init__(self, record: RunRecord, log: list[tuple[int, str]] | None = None) -> None:
        self.record = record
        self.log: list[tuple[int, str]] = log or []
        self.task: asyncio.Task[None] | None = None
        self.lock = asyncio.Lock()
        """Held by whatever changes the run from outside (start, approve, cancel): one at a
        time, so a cancel never lands between an approval's check and its start."""
        self._recorded = len(self.log)
        self._changed = asyncio.Event()

    @property
    def last_seq(self) -> int:
        """The number of the newest event (0 before the first)."""
        return self.log[-1][0] if self.log else 0

    def since(self, after: int) -> list[tuple[int, str]]:
        """The events numbered above ``after`` (numbers are 1, 2, ... without gaps)."""
        return self.log[max(after, 0) :]

    def signal(self) -> asyncio.Event:
        """An event set when the next event is added (take it *before* reading the log)."""
        return self._changed

    def add(self, data: dict[str, Any]) -> None:
        """Append one event (``data`` has its ``type``) and wake the streams."""
        seq = self.last_seq + 1
        line = json.dumps({"seq": seq, "ts": round(time.time(), 6), **data}, ensure_ascii=False)
        self.log.append((seq, line))
        self._wake()

    def set_status(self, status: str, error: dict[str, Any] | None = None) -> None:
        """Change the status, and log it as a ``status`` event."""
        self.record.status = status
        self.record.updated_at = now()
        if error is not None:
            self.record.error = error
        self.add({"type": "status", "status": status, "error": error})

    def _wake(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def unrecorded(self) -> list[tuple[int, str]]:
        """The events not yet in the store (and mark them recorded)."""
        batch, self._recorded = self.log[self._recorded :], len(self.log)
        return batch

    def start(self, hub: Hub, stream: AsyncGenerator[StreamEvent, None]) -> None:
        """Drive ``stream`` in a background task (the run is registered as live meanwhile)."""
        hub.live[self.record.id] = self
        hub.metrics.run_started()
        self.task = asyncio.create_task(self._drive(hub, stream), name=f"exo-run-{self.record.id}")

    async def _drive(self, hub: Hub, stream: AsyncGenerator[StreamEvent, None]) -> None:
        result: RunResult[Any] | None = None
        status, error = "failed", None
        try:
            async with aclosing(stream) as events:
                async for event in events:
                    if isinstance(event, RunCompleteEvent) and not event.lineage:
                        result = event.result
                    self.add(_event_data(event))
                    if len(self.log) - self._recorded >= _FLUSH_EVERY:
                        await hub.store.save(self.record, self.unrecorded())
            assert result is not None  # the stream ends with its RunCompleteEvent or raises
            status = result.status
            self.record.result = summarize(result)
            self.record.state = result.state if status == "paused" else None
        except asyncio.CancelledError:
            status, error = "cancelled", {"message": "the run was cancelled", "type": "cancelled"}
        except Exception as exc:
            message = exc.message if isinstance(exc, ExoError) else f"{type(exc).__name__}: {exc}"
            error = {"message": message, "type": type(exc).__name__}
            log.warning("run %s of agent %r failed: %s", self.record.id, self.record.agent, message)
        finally:
            await self._finish(hub, status, error, result)

    async def end_cancelled(self, hub: Hub) -> None:
        """Record a run cancelled before its task took its first step.

        A task cancelled before it starts never runs its coroutine, so ``_drive``'s
        ``finally`` never records the end: the cancel does it here instead.
        """
        if self.record.status == "running":
            error = {"message": "the run was cancelled", "type": "cancelled"}
            await self._finish(hub, "cancelled", error, None)

    async def _finish(
        self,
        hub: Hub,
        status: str,
        error: dict[str, Any] | None,
        result: RunResult[Any] | None,
    ) -> None:
        self.set_status(status, error)
        hub.metrics.run_ended(status, result.usage if result is not None else None)
        try:
            await asyncio.shield(hub.store.save(self.record, self.unrecorded()))
        except Exception as exc:  # the run's outcome stays visible in this process
            log.error("run %s: recording it failed: %s", self.record.id, exc)
        if self.record.terminal:
            hub.live.pop(self.record.id, None)
