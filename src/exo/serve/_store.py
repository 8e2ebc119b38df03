"""Where ``exo serve`` records runs: the :class:`RunStore` protocol and its SQLite backend.

Runs live in the same database as conversation memory (two tables beside memory's,
``exo_runs`` and ``exo_run_events``), so one file or one PostgreSQL database holds everything
a server did. A run's row holds its summary, its paused state (so approvals work after a
restart) and its error; its events are rows of JSON, numbered from 1, the ids of the event
stream. The SQLite backend follows :mod:`exo.memory_sqlite`: one connection on one worker
thread, WAL mode, every write one transaction.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable

from exo.errors import AgentError
from exo.memory import default_memory_path, redact_url
from exo.memory_sqlite import SQLiteWorker, _enable_wal, _transaction

__all__ = ["RunRecord", "RunStore", "SQLiteRunStore", "open_store"]

_T = TypeVar("_T")

TERMINAL = frozenset({"completed", "failed", "cancelled"})
"""Statuses after which a run never changes again."""


@dataclass(slots=True, kw_only=True)
class RunRecord:
    """One run as stored.

    Attributes:
        id: The run id (``run_...``).
        agent: The agent's name.
        status: ``running``, ``paused``, ``completed``, ``failed`` or ``cancelled``.
        input: The task as JSON data (text, or content blocks).
        conversation_id: The memory conversation, if any.
        detailed: Whether event streams include detailed events by default.
        created_at: When it started (ISO 8601, UTC).
        updated_at: When its status last changed.
        result: The run's result summary (no transcript, no state), once it has one.
        state: A paused run's state, to resume it.
        error: ``{"message", "type"}`` when it failed or was cancelled.
    """

    id: str
    agent: str
    status: str
    input: Any
    conversation_id: str | None = None
    detailed: bool = False
    created_at: str
    updated_at: str
    result: dict[str, Any] | None = None
    state: dict[str, Any] | None = None
    error: dict[str, Any] | None = None

    @property
    def terminal(self) -> bool:
        """Whether the run is over (completed, failed or cancelled)."""
        return self.status in TERMINAL


@runtime_checkable
class RunStore(Protocol):
    """Storage of runs and their events."""

    async def save(self, record: RunRecord, events: Sequence[tuple[int, str]] = ()) -> None:
        """Insert or update ``record`` and add ``events`` ((seq, JSON) pairs), atomically."""
        ...

    async def get(self, run_id: str) -> RunRecord | None:
        """The run, or ``None``."""
        ...

    async def events(self, run_id: str, after: int = 0) -> list[tuple[int, str]]:
        """The run's events numbered above ``after``, in order."""
        ...

    async def recent(self, limit: int) -> list[RunRecord]:
        """The newest runs, newest first."""
        ...

    async def aclose(self) -> None:
        """Release connections (idempotent)."""
        ...


def open_store(database_url: str | None) -> RunStore:
    """The store for a database: SQLite by path (default: memory's file), or a PostgreSQL URL."""
    if database_url is None:
        return SQLiteRunStore(default_memory_path())
    if database_url.startswith(("postgresql://", "postgres://")):
        from exo.serve._store_postgres import PostgresRunStore

        return PostgresRunStore(database_url)
    if "://" in database_url:
        raise AgentError(
            f"database {redact_url(database_url)!r} is neither a SQLite path nor a "
            "postgresql:// URL",
            hint="pass a file path such as ./exo.db, or postgresql://user:pw@host/db",
        )
    return SQLiteRunStore(database_url)


SCHEMA = (
    """CREATE TABLE IF NOT EXISTS exo_runs (
        id TEXT PRIMARY KEY,
        agent TEXT NOT NULL,
        status TEXT NOT NULL,
        input TEXT NOT NULL,
        conversation_id TEXT,
        detailed INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        result TEXT,
        state TEXT,
        error TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS exo_runs_created ON exo_runs (created_at)",
    """CREATE TABLE IF NOT EXISTS exo_run_events (
        run_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (run_id, seq)
    )""",
)

_COLUMNS = (
    "id, agent, status, input, conversation_id, detailed, created_at, updated_at, result, "
    "state, error"
)


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


def record_row(record: RunRecord) -> tuple[Any, ...]:
    """The record's column values, JSON fields as text (for both backends)."""
    return (
        record.id,
        record.agent,
        record.status,
        json.dumps(record.input, ensure_ascii=False),
        record.conversation_id,
        int(record.detailed),
        record.created_at,
        record.updated_at,
        _dump(record.result),
        _dump(record.state),
        _dump(record.error),
    )


def row_record(row: Sequence[Any]) -> RunRecord:
    """A record from its column values (as :func:`record_row` wrote them)."""

    def load(text: str | None) -> Any:
        return None if text is None else json.loads(text)

    return RunRecord(
        id=row[0],
        agent=row[1],
        status=row[2],
        input=load(row[3]),
        conversation_id=row[4],
        detailed=bool(row[5]),
        created_at=str(row[6]),
        updated_at=str(row[7]),
        result=load(row[8]),
        state=load(row[9]),
        error=load(row[10]),
    )


class SQLiteRunStore(SQLiteWorker):
    """Runs in a SQLite file (the memory file by default), on one worker thread.

    Args:
        path: The database file (created with its directory on first use).
        timeout: Seconds to wait for another process's write.
    """

    _label = "SQLite run store"

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 30.0) -> None:
        super().__init__(path, timeout=timeout, thread_name="exo-runs")

    def __repr__(self) -> str:
        return f"SQLiteRunStore({str(self.path)!r})"

    async def save(self, record: RunRecord, events: Sequence[tuple[int, str]] = ()) -> None:
        """Insert or update ``record`` and add ``events``, in one transaction."""
        row, batch = record_row(record), [(record.id, seq, data) for seq, data in events]

        def job(conn: sqlite3.Connection) -> None:
            with _transaction(conn):
                conn.execute(
                    f"INSERT INTO exo_runs ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
                    " ON CONFLICT (id) DO UPDATE SET status = excluded.status,"
                    " updated_at = excluded.updated_at, result = excluded.result,"
                    " state = excluded.state, error = excluded.error",
                    row,
                )
                conn.executemany(
                    "INSERT OR IGNORE INTO exo_run_events (run_id, seq, data) VALUES (?, ?, ?)",
                    batch,
                )

        await self._call(job, f"saving run {record.id!r}")

    async def get(self, run_id: str) -> RunRecord | None:
        """The run, or ``None``."""

        def job(conn: sqlite3.Connection) -> RunRecord | None:
            row = conn.execute(f"SELECT {_COLUMNS} FROM exo_runs WHERE id = ?", (run_id,))
            found = row.fetchone()
            return None if found is None else row_record(found)

        return await self._call(job, f"reading run {run_id!r}")

    async def events(self, run_id: str, after: int = 0) -> list[tuple[int, str]]:
        """The run's events numbered above ``after``."""

        def job(conn: sqlite3.Connection) -> list[tuple[int, str]]:
            rows = conn.execute(
                "SELECT seq, data FROM exo_run_events WHERE run_id = ? AND seq > ? ORDER BY seq",
                (run_id, after),
            )
            return [(int(seq), str(data)) for seq, data in rows]

        return await self._call(job, f"reading the events of run {run_id!r}")

    async def recent(self, limit: int) -> list[RunRecord]:
        """The newest runs, newest first."""

        def job(conn: sqlite3.Connection) -> list[RunRecord]:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM exo_runs ORDER BY created_at DESC, id DESC LIMIT ?",
                (limit,),
            )
            return [row_record(row) for row in rows]

        return await self._call(job, "listing runs")

    def _open(self) -> sqlite3.Connection:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self._path, timeout=self._timeout, isolation_level=None)
        try:
            _enable_wal(conn, self._timeout)
            # Run records are not conversations: a power loss may lose the last few, a
            # crashed process none (WAL), and a busy server is not held up by fsyncs.
            conn.execute("PRAGMA synchronous = NORMAL")
            with _transaction(conn):
                for statement in SCHEMA:
                    conn.execute(statement)
        except BaseException:
            conn.close()
            raise
        return conn
