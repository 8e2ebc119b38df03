"""SQLite conversation memory: one file, safe for many concurrent runs and processes.

Design: each :class:`SQLiteMemory` owns one stdlib ``sqlite3`` connection and one worker
thread, and every operation is a single synchronous function run on that thread (a whole
transaction per hop). This is simpler and more robust than driving a connection statement by
statement from the event loop (as aiosqlite does):

- Operations of one instance are serialized by the single thread, so hundreds of concurrent
  runs never interleave statements inside one connection's transaction, and no asyncio lock
  (which is bound to one event loop) is needed: the backend works across ``run.sync`` calls
  that each start a new event loop.
- Cancelling an ``append`` cannot stop a transaction half-way: a job not yet started is
  dropped; a started one commits or rolls back as a whole.

Across processes, the file is in WAL mode (readers never block the writer), every write takes
the write lock up front with ``BEGIN IMMEDIATE``, and a busy timeout makes a process wait for
another's write instead of failing. ``synchronous=FULL`` makes a committed turn survive even a
power loss, not just a killed process.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from itertools import groupby
from pathlib import Path
from typing import TypeVar

from exo.errors import AgentError
from exo.memory import (
    SCHEMA_VERSION,
    Turn,
    check_conversation_id,
    check_max_tokens,
    decode_messages,
    decode_usage,
    encode_messages,
    encode_usage,
    estimate_tokens,
    utcnow,
)
from exo.types import Message, Usage

__all__ = ["SQLiteMemory"]

_T = TypeVar("_T")

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS exo_conversations (
        id TEXT PRIMARY KEY,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        turn_count INTEGER NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS exo_turns (
        conversation_id TEXT NOT NULL REFERENCES exo_conversations (id) ON DELETE CASCADE,
        turn INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        tokens INTEGER NOT NULL,
        usage TEXT,
        PRIMARY KEY (conversation_id, turn)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS exo_messages (
        conversation_id TEXT NOT NULL,
        turn INTEGER NOT NULL,
        position INTEGER NOT NULL,
        role TEXT NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (conversation_id, turn, position),
        FOREIGN KEY (conversation_id, turn)
            REFERENCES exo_turns (conversation_id, turn) ON DELETE CASCADE
    ) WITHOUT ROWID""",
)

# The turn number comes from the conversation row, which the write lock protects.
_UPSERT_CONVERSATION = """
    INSERT INTO exo_conversations (id, created_at, updated_at, turn_count) VALUES (?, ?, ?, 1)
    ON CONFLICT (id) DO UPDATE SET turn_count = turn_count + 1, updated_at = excluded.updated_at
    RETURNING turn_count"""

_LOAD_ALL = """
    SELECT data FROM exo_messages WHERE conversation_id = ? ORDER BY turn, position"""

# One statement, so a turn committed meanwhile cannot slip into (and overflow) the window.
_LOAD_NEWEST = """
    SELECT data FROM exo_messages
    WHERE conversation_id = :id AND turn >= (
        SELECT min(turn) FROM (
            SELECT turn, sum(tokens) OVER (ORDER BY turn DESC) AS total
            FROM exo_turns WHERE conversation_id = :id
        ) WHERE total <= :max_tokens
    )
    ORDER BY turn, position"""


class SQLiteWorker:
    """One SQLite connection, opened on first use and used only on one worker thread.

    The base of exo's SQLite stores (memory, runs): ``_call`` runs a job on the thread and
    turns SQLite and file errors into AgentError; subclasses open the connection
    (``_open``) with their own pragmas and schema.
    """

    _label = "SQLite database"
    """How errors name the store (``"SQLite memory"``, ...)."""

    def __init__(self, path: str | os.PathLike[str], *, timeout: float, thread_name: str) -> None:
        self._path = Path(path).expanduser()
        self._timeout = timeout
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=thread_name)
        self._conn: sqlite3.Connection | None = None  # touched only on the worker thread
        self._closed = False

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    async def aclose(self) -> None:
        """Close the connection and stop the worker thread (idempotent)."""
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._close_connection)
        finally:
            self._executor.shutdown(wait=False)

    async def _call(self, job: Callable[[sqlite3.Connection], _T], what: str) -> _T:
        """Run ``job`` on the worker thread, turning SQLite errors into AgentError."""
        if self._closed:
            raise AgentError(f"{self!r} is closed; {what} is not possible after aclose()")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, self._run, job)
        except (sqlite3.Error, OSError) as exc:
            raise AgentError(
                f"{self._label} {str(self._path)!r}: {what} failed: {exc}",
                hint="check that the file is writable, on a local disk, and not corrupt",
            ) from exc

    def _run(self, job: Callable[[sqlite3.Connection], _T]) -> _T:
        if self._conn is None:
            self._conn = self._open()
        return job(self._conn)

    def _open(self) -> sqlite3.Connection:
        raise NotImplementedError

    def _close_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class SQLiteMemory(SQLiteWorker):
    """Store conversations in a SQLite file (created on first use, with its directory).

    Args:
        path: The database file. Tables are prefixed ``exo_``, so it may be shared with an
            application's own tables.
        timeout: Seconds to wait for another process's write before failing.
    """

    _label = "SQLite memory"

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 30.0) -> None:
        super().__init__(path, timeout=timeout, thread_name="exo-sqlite")

    def __repr__(self) -> str:
        return f"SQLiteMemory({str(self._path)!r})"

    async def load(self, conversation_id: str, *, max_tokens: int | None = None) -> list[Message]:
        """Return the conversation's messages (see :meth:`exo.memory.Memory.load`)."""
        check_conversation_id(conversation_id)
        limit = check_max_tokens(max_tokens)

        def job(conn: sqlite3.Connection) -> list[Message]:
            if limit is None:
                rows = conn.execute(_LOAD_ALL, (conversation_id,)).fetchall()
            else:
                params = {"id": conversation_id, "max_tokens": limit}
                rows = conn.execute(_LOAD_NEWEST, params).fetchall()
            return decode_messages(row[0] for row in rows)

        return await self._call(job, f"loading conversation {conversation_id!r}")

    async def append(
        self, conversation_id: str, messages: Sequence[Message], *, usage: Usage | None = None
    ) -> None:
        """Store one finished turn in one transaction (see :meth:`exo.memory.Memory.append`)."""
        check_conversation_id(conversation_id)
        encoded = encode_messages(messages)  # bad data fails here, before any write
        roles = [message.role for message in messages]
        tokens, usage_json = estimate_tokens(messages), encode_usage(usage)

        def job(conn: sqlite3.Connection) -> None:
            rows = list(zip(roles, encoded, strict=True))
            _insert_turn(conn, conversation_id, rows, tokens=tokens, usage=usage_json)

        await self._call(job, f"appending a turn to conversation {conversation_id!r}")

    async def turns(self, conversation_id: str) -> list[Turn]:
        """Return the conversation's turns with their usage and timestamps."""
        check_conversation_id(conversation_id)

        def job(conn: sqlite3.Connection) -> list[Turn]:
            with _transaction(conn, "BEGIN"):  # one read transaction: a consistent snapshot
                heads = conn.execute(
                    "SELECT turn, created_at, usage FROM exo_turns"
                    " WHERE conversation_id = ? ORDER BY turn",
                    (conversation_id,),
                ).fetchall()
                rows = conn.execute(
                    "SELECT turn, data FROM exo_messages"
                    " WHERE conversation_id = ? ORDER BY turn, position",
                    (conversation_id,),
                ).fetchall()
            grouped = {turn: [r[1] for r in group] for turn, group in groupby(rows, lambda r: r[0])}
            return [
                Turn(
                    index=turn,
                    messages=decode_messages(grouped.get(turn, [])),
                    usage=decode_usage(usage),
                    created_at=datetime.fromisoformat(created_at),
                )
                for turn, created_at, usage in heads
            ]

        return await self._call(job, f"reading the turns of conversation {conversation_id!r}")

    async def list_conversations(self) -> list[str]:
        """Return every conversation id, oldest first."""

        def job(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute("SELECT id FROM exo_conversations ORDER BY created_at, id")
            return [row[0] for row in rows]

        return await self._call(job, "listing conversations")

    async def delete(self, conversation_id: str) -> None:
        """Delete a conversation and its turns (no error if it does not exist)."""
        check_conversation_id(conversation_id)

        def job(conn: sqlite3.Connection) -> None:
            with _transaction(conn):
                conn.execute("DELETE FROM exo_conversations WHERE id = ?", (conversation_id,))

        await self._call(job, f"deleting conversation {conversation_id!r}")

    # ----------------------------------------------------------------------- internals

    def _open(self) -> sqlite3.Connection:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self._path, timeout=self._timeout, isolation_level=None)
        try:
            _enable_wal(conn, self._timeout)
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            _migrate(conn, self._path)
        except BaseException:
            conn.close()
            raise
        return conn


def _enable_wal(conn: sqlite3.Connection, timeout: float) -> None:
    """Switch the file to WAL mode, waiting while another connection holds it.

    Changing the journal mode needs the file to itself, and SQLite reports "database is
    locked" at once, without its busy handler, while another connection is opening or
    writing a fresh file; so we wait here ourselves (on the backend's worker thread).
    """
    deadline = time.monotonic() + timeout
    delay = 0.002
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


@contextmanager
def _transaction(conn: sqlite3.Connection, begin: str = "BEGIN IMMEDIATE") -> Iterator[None]:
    """Run the block in one transaction, committed at the end or rolled back on any error.

    ``BEGIN IMMEDIATE`` takes the write lock up front (waiting up to the busy timeout), so a
    writer never fails half-way through because another process wrote first.
    """
    conn.execute(begin)
    try:
        yield
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _insert_turn(
    conn: sqlite3.Connection,
    conversation_id: str,
    messages: Sequence[tuple[str, str]],
    *,
    tokens: int,
    usage: str | None,
) -> None:
    """Insert one turn (``messages`` as (role, JSON) pairs) in one write transaction."""
    now = _stamp(utcnow())
    with _transaction(conn):
        (count,) = conn.execute(_UPSERT_CONVERSATION, (conversation_id, now, now)).fetchone()
        turn = count - 1
        conn.execute(
            "INSERT INTO exo_turns (conversation_id, turn, created_at, tokens, usage)"
            " VALUES (?, ?, ?, ?, ?)",
            (conversation_id, turn, now, tokens, usage),
        )
        conn.executemany(
            "INSERT INTO exo_messages (conversation_id, turn, position, role, data)"
            " VALUES (?, ?, ?, ?, ?)",
            [
                (conversation_id, turn, position, role, data)
                for position, (role, data) in enumerate(messages)
            ],
        )


def _schema_version(conn: sqlite3.Connection) -> int:
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'exo_schema_version'"
    ).fetchone()
    if exists is None:
        return 0
    row = conn.execute("SELECT max(version) FROM exo_schema_version").fetchone()
    return int(row[0] or 0)


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Create the tables, or check they are a version this code understands."""
    if _schema_version(conn) == SCHEMA_VERSION:
        return
    with _transaction(conn):  # re-check under the write lock: another process may be migrating
        version = _schema_version(conn)
        if version > SCHEMA_VERSION:
            raise AgentError(
                f"SQLite memory {str(path)!r} has schema version {version}, newer than this "
                f"exo understands ({SCHEMA_VERSION})",
                hint="upgrade exo-agents, or point memory= at another file",
            )
        if version == 0:
            for statement in _SCHEMA:
                conn.execute(statement)
            conn.execute("CREATE TABLE exo_schema_version (version INTEGER NOT NULL)")
            conn.execute("INSERT INTO exo_schema_version (version) VALUES (?)", (SCHEMA_VERSION,))


def _stamp(moment: datetime) -> str:
    """Format a UTC time with a fixed width, so stored timestamps sort as text."""
    return moment.isoformat(timespec="microseconds")
