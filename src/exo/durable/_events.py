"""Events of a durable run: each with a stable id and a ``replayed`` flag, kept in the database.

A recovered run executes the agent again from the top; its early events repeat ones a client
may have seen before the crash. Every event a durable run emits is wrapped in a
:class:`DurableEvent` whose id, ``{run id}:{step}:{sequence}``, is the same on every execution
(``step`` counts the model and tool steps the run has started, in order; ``sequence`` the
events since), and whose ``replayed`` flag says the event was rebuilt from the record, before
any step of that execution ran live.

The workflow writes its events, as JSON, to the run's DBOS stream ``exo:events`` (rows of
DBOS's ``streams`` table, each a list of the events of one write), so any process on the same
database can follow the run: :func:`follow` reads it through DBOS's own stream reader, in a
launched process or through a ``DBOSClient``. Ids only grow along a run, so the writer of a
recovered execution skips every event whose id is not past the last one the stream holds:
each id is written once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter

from exo.errors import AgentError, ConfigError
from exo.types import RunCompleteEvent, StreamEvent

__all__ = [
    "STREAM_KEY",
    "DurableEvent",
    "EventLog",
    "follow",
    "no_runs_yet",
    "open_client",
    "position",
]

STREAM_KEY = "exo:events"
"""The DBOS stream (of the run's workflow) a durable run's events are written to."""
FOLLOW_POLL_SECONDS = 0.05
"""How often a follower checks for new events where the database cannot notify it (SQLite)."""
_READ_BATCH = 100
MAX_PENDING = 256
"""Events a run may have queued for its log before it waits for the write."""


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


_EVENTS: TypeAdapter[list[DurableEvent]] = TypeAdapter(list[DurableEvent])


def position(event_id: str) -> tuple[int, int]:
    """The ``(step, seq)`` of an event id, which orders a run's events."""
    parts = event_id.rsplit(":", 2)
    try:
        if len(parts) != 3 or not parts[0]:
            raise ValueError(event_id)
        return int(parts[1]), int(parts[2])
    except ValueError:
        raise ConfigError(
            f"{event_id!r} is not a durable event id",
            hint="pass the id of an event you received: '{run_id}:{step}:{seq}'",
        ) from None


class EventLog:
    """Writes one execution's events to its run's stream, each id once (see the module).

    DBOS's public ``DBOS.write_stream`` called from a workflow is itself a checkpointed
    operation: it takes a place in the workflow's step sequence. Events of tools and children
    reach the workflow through a queue while their steps go on, so those places would depend
    on timing, and a replay would fail DBOS's check of the sequence. So the log writes the
    way DBOS writes from inside a step (``write_stream_from_step``: a row, no place in the
    sequence, refused to an execution that no longer owns the run) and dedupes by id itself.

    Writing does not hold the run up: one task writes in the background, and the events
    that came while it wrote go as one stream value (a list) in its next write, so a burst
    costs one database transaction. At most :data:`MAX_PENDING` events wait: past that the
    run waits for the write.
    """

    def __init__(self, run_id: str, *, enabled: bool = True) -> None:
        from dbos._dbos import _get_dbos_instance

        self.run_id = run_id
        self.enabled = enabled
        self._db: Any = _get_dbos_instance()._sys_db
        self._last: tuple[int, int] | None = None
        self._pending: list[DurableEvent] = []
        self._writer: asyncio.Task[None] | None = None

    async def write(self, event: DurableEvent) -> None:
        """Queue ``event`` for writing (it is skipped if the stream has it already)."""
        if not self.enabled:
            return
        self._pending.append(event)
        if self._writer is None or self._writer.done():
            if self._writer is not None:
                self._writer.result()  # a write that failed fails the run here
            # the task copies the context: DBOS's ownership check sees this execution
            self._writer = asyncio.ensure_future(self._drain())
        elif len(self._pending) >= MAX_PENDING:
            await asyncio.shield(self._writer)

    async def close(self) -> None:
        """Wait until every queued event is written (raise what a write raised)."""
        if self._writer is not None:
            await self._writer

    def abort(self) -> None:
        """Stop writing (the execution is cancelled; the next one writes what is missing)."""
        if self._writer is not None:
            self._writer.cancel()

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            await asyncio.to_thread(self._write, batch)

    def _write(self, batch: list[DurableEvent]) -> None:
        from dbos._context import get_local_dbos_context
        from dbos._serialization import WorkflowSerializationFormat

        if self._last is None:
            self._last = self._last_written()
        last = self._last
        new = [e for e in batch if (e.step, e.seq) > last]
        if not new:
            return  # written by an earlier execution of this run
        ctx = get_local_dbos_context()
        self._db.write_stream_from_step(
            self.run_id,
            ctx.function_id if ctx is not None else 0,  # DBOS's rewind cuts the stream by it
            STREAM_KEY,
            _EVENTS.dump_python(new, mode="json"),
            serialization_type=WorkflowSerializationFormat.PORTABLE,
        )
        self._last = (new[-1].step, new[-1].seq)

    def _last_written(self) -> tuple[int, int]:
        """The position of the last event in the stream ((-1, -1) when empty), read in
        batches so a long run's log is never held in memory."""
        from dbos._serialization import deserialize_value

        last = (-1, -1)
        offset = 0
        while True:
            _, rows = self._db.read_stream_values(self.run_id, STREAM_KEY, offset, _READ_BATCH)
            if rows:
                data: Any = deserialize_value(rows[-1][0], rows[-1][1], self._db.serializer)
                last = (int(data[-1]["step"]), int(data[-1]["seq"]))
            if len(rows) < _READ_BATCH:
                return last
            offset += len(rows)


def no_runs_yet(exc: BaseException) -> bool:
    """Whether ``exc`` is a query's failure on a database where DBOS never ran (no tables):
    a ``DBOSClient`` does not create DBOS's tables, a launched DBOS does."""
    import sqlalchemy.exc

    return isinstance(
        exc, sqlalchemy.exc.OperationalError | sqlalchemy.exc.ProgrammingError
    ) and "workflow_status" in str(exc)


def open_client(database_url: str, dbos_system_schema: str | None = None) -> Any:
    """A ``DBOSClient`` on ``database_url`` (no launched DBOS needed); ``destroy()`` it."""
    import os

    from exo.durable._agent import INSTALL_HINT, SCHEMA_ENV

    try:
        from dbos import DBOSClient
    except ImportError as exc:
        raise ConfigError(
            "durable runs need DBOS, which is not installed", hint=INSTALL_HINT
        ) from exc
    schema = dbos_system_schema or os.environ.get(SCHEMA_ENV) or "dbos"
    return DBOSClient(system_database_url=database_url, dbos_system_schema=schema)


async def follow(
    run_id: str,
    *,
    after: str | None = None,
    database_url: str | None = None,
    dbos_system_schema: str | None = None,
    idle_timeout: float | None = None,
) -> AsyncGenerator[DurableEvent, None]:
    """Yield the events of the durable run ``run_id``, from any process, until it ends.

    The run may be executing here, in another process, or waiting to be recovered: events
    come as the run writes them, and the iteration ends when the run ends: after its
    ``RunCompleteEvent``, when it is cancelled (``exo runs resume`` continues it; follow
    again with ``after``), or with ``AgentError`` when it failed. A run whose process died
    stays unfinished until a process recovers it; pass ``idle_timeout`` not to wait longer
    than that for the next event.

    Args:
        run_id: The run.
        after: The id of the last event already seen: only later ones are yielded (reattach
            after a disconnect or a crash without seeing an event twice).
        database_url: Read through a ``DBOSClient`` on this system database; default: this
            process's launched DBOS.
        dbos_system_schema: The PostgreSQL schema of DBOS's tables with ``database_url``
            (default ``$EXO_DURABLE_SCHEMA``, else ``dbos``).
        idle_timeout: Seconds to wait for each event; then ``TimeoutError``.

    Raises:
        ConfigError: No durable run has this id, or ``after`` is not an event id.
        AgentError: The run failed (a cancelled run just ends the iteration).
        TimeoutError: ``idle_timeout`` passed without an event.
    """
    from dbos._error import DBOSNonExistentWorkflowError, DBOSStreamTimeoutError

    seen = position(after) if after is not None else None
    client: Any = None
    source: Any
    if database_url is not None:
        source = client = open_client(database_url, dbos_system_schema)
    else:
        from exo.durable._agent import _dbos

        source = _dbos()
    values = source.read_stream_async(
        run_id, STREAM_KEY, polling_interval_sec=FOLLOW_POLL_SECONDS, timeout_seconds=idle_timeout
    )
    complete = False
    try:
        async for value in values:
            for event in _EVENTS.validate_python(value):  # one write: a list of events
                complete = isinstance(event.event, RunCompleteEvent) and not event.event.lineage
                if seen is None or (event.step, event.seq) > seen:
                    yield event
        if not complete:  # the run ended without its result: say why, unless cancelled
            [status] = await source.list_workflows_async(workflow_ids=[run_id]) or [None]
            if status is not None and status.status == "ERROR":
                raise AgentError(f"durable run {run_id!r} failed: {status.error}")
    except DBOSNonExistentWorkflowError:
        raise ConfigError(f"no durable run {run_id!r}", hint="exo runs list") from None
    except DBOSStreamTimeoutError:
        raise TimeoutError(
            f"durable run {run_id!r} wrote no event for {idle_timeout} s"
            " (is a process executing or recovering it?)"
        ) from None
    except Exception as exc:
        if not no_runs_yet(exc):
            raise
        raise ConfigError(
            f"no durable run {run_id!r}: no durable run has been started on this database"
        ) from None
    finally:
        await values.aclose()
        if client is not None:
            client.destroy()
