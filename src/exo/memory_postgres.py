"""PostgreSQL conversation memory through asyncpg (install ``exo-agents[postgres]``).

Each :class:`PostgresMemory` keeps an asyncpg connection pool, opened on first use. An append
is one transaction: it bumps the conversation's turn counter with an upsert (the row lock
this takes serializes concurrent appends to the *same* conversation, and nothing else), then
inserts the turn and all its messages. Turns are numbered per conversation under a unique key
and messages ordered by (turn, position), so concurrent turns never interleave.

A pool belongs to one event loop; when the backend is used from another loop (``run.sync``
starts one per call) it opens a new pool there and drops the old one.
"""

from __future__ import annotations

import asyncio
import importlib.util
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from itertools import groupby
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

from exo.errors import AgentError, ConfigError
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
    redact_url,
    utcnow,
)
from exo.types import Message, Usage

__all__ = ["PostgresMemory"]

_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_INSTALL_HINT = "pip install 'exo-agents[postgres]' (it installs asyncpg)"

_CREATE = """
CREATE TABLE IF NOT EXISTS {s}.exo_conversations (
    id text PRIMARY KEY,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    turn_count integer NOT NULL
);
CREATE TABLE IF NOT EXISTS {s}.exo_turns (
    conversation_id text NOT NULL REFERENCES {s}.exo_conversations (id) ON DELETE CASCADE,
    turn integer NOT NULL,
    created_at timestamptz NOT NULL,
    tokens integer NOT NULL,
    usage json,
    PRIMARY KEY (conversation_id, turn)
);
CREATE TABLE IF NOT EXISTS {s}.exo_messages (
    conversation_id text NOT NULL,
    turn integer NOT NULL,
    position integer NOT NULL,
    role text NOT NULL,
    data json NOT NULL,  -- json, not jsonb: kept verbatim, and "\\u0000" is allowed
    PRIMARY KEY (conversation_id, turn, position),
    FOREIGN KEY (conversation_id, turn)
        REFERENCES {s}.exo_turns (conversation_id, turn) ON DELETE CASCADE
);
CREATE TABLE {s}.exo_schema_version (version integer NOT NULL);
"""


_SCHEMA_EXISTS = "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)"
_TABLE_EXISTS = """SELECT EXISTS (
    SELECT 1 FROM pg_catalog.pg_class AS c
    JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
    WHERE n.nspname = $1 AND c.relname = $2)"""


@dataclass(frozen=True, slots=True)
class _Sql:
    """The statements, with the schema name filled in."""

    upsert: str
    insert_turn: str
    insert_messages: str
    load_all: str
    load_newest: str
    turn_heads: str
    turn_rows: str
    list_ids: str
    delete: str

    @classmethod
    def for_schema(cls, s: str) -> _Sql:
        messages = f"SELECT data::text FROM {s}.exo_messages WHERE conversation_id = $1"
        return cls(
            upsert=f"""
                INSERT INTO {s}.exo_conversations AS c (id, created_at, updated_at, turn_count)
                VALUES ($1, $2, $2, 1)
                ON CONFLICT (id) DO UPDATE
                SET turn_count = c.turn_count + 1, updated_at = EXCLUDED.updated_at
                RETURNING turn_count""",
            insert_turn=f"""
                INSERT INTO {s}.exo_turns (conversation_id, turn, created_at, tokens, usage)
                VALUES ($1, $2, $3, $4, $5::json)""",
            insert_messages=f"""
                INSERT INTO {s}.exo_messages (conversation_id, turn, position, role, data)
                SELECT $1, $2, t.position, t.role, t.data
                FROM unnest($3::integer[], $4::text[], $5::json[]) AS t (position, role, data)""",
            load_all=f"{messages} ORDER BY turn, position",
            # One statement: a turn committed meanwhile cannot overflow the window.
            load_newest=f"""{messages} AND turn >= (
                    SELECT min(turn) FROM (
                        SELECT turn, sum(tokens) OVER (ORDER BY turn DESC) AS total
                        FROM {s}.exo_turns WHERE conversation_id = $1
                    ) AS w WHERE total <= $2
                ) ORDER BY turn, position""",
            turn_heads=f"""SELECT turn, created_at, usage::text FROM {s}.exo_turns
                WHERE conversation_id = $1 ORDER BY turn""",
            turn_rows=f"""SELECT turn, data::text FROM {s}.exo_messages
                WHERE conversation_id = $1 ORDER BY turn, position""",
            list_ids=f"SELECT id FROM {s}.exo_conversations ORDER BY created_at, id",
            delete=f"DELETE FROM {s}.exo_conversations WHERE id = $1",
        )


class PostgresMemory:
    """Store conversations in PostgreSQL.

    Args:
        dsn: A ``postgresql://user:password@host:port/database`` URL (``postgres://`` works
            too). The password never appears in ``repr()`` or error messages.
        schema: The schema holding exo's tables (created if missing; lowercase name).
        max_connections: The size of the connection pool.
        connect_timeout: Seconds to wait for a connection to the server.

    Raises:
        ConfigError: A bad URL or schema name, or asyncpg is not installed.
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "public",
        max_connections: int = 10,
        connect_timeout: float = 10.0,
    ) -> None:
        if not isinstance(dsn, str) or urlsplit(dsn).scheme not in ("postgresql", "postgres"):
            raise ConfigError(
                "PostgresMemory needs a postgresql:// URL",
                parameter="dsn",
                hint="e.g. 'postgresql://user:password@127.0.0.1:5432/mydb'",
            )
        if not isinstance(schema, str) or not _SCHEMA_NAME.fullmatch(schema):
            raise ConfigError(
                f"schema={schema!r} is not a valid schema name",
                parameter="schema",
                hint="use lowercase letters, digits and underscores, starting with a letter",
            )
        if max_connections < 1:
            raise ConfigError("max_connections must be at least 1", parameter="max_connections")
        if importlib.util.find_spec("asyncpg") is None:
            raise ConfigError(
                "PostgreSQL memory needs asyncpg", parameter="memory", hint=_INSTALL_HINT
            )
        self._dsn = dsn
        self._schema = schema
        self._max_connections = max_connections
        self._connect_timeout = connect_timeout
        self._sql = _Sql.for_schema(f'"{schema}"')
        self._loop_pool: _LoopPool | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"PostgresMemory({redact_url(self._dsn)!r}, schema={self._schema!r})"

    async def load(self, conversation_id: str, *, max_tokens: int | None = None) -> list[Message]:
        """Return the conversation's messages (see :meth:`exo.memory.Memory.load`)."""
        check_conversation_id(conversation_id)
        limit = check_max_tokens(max_tokens)
        async with self._connection(f"loading conversation {conversation_id!r}") as conn:
            if limit is None:
                rows = await conn.fetch(self._sql.load_all, conversation_id)
            else:
                rows = await conn.fetch(self._sql.load_newest, conversation_id, limit)
        return decode_messages(row[0] for row in rows)

    async def append(
        self, conversation_id: str, messages: Sequence[Message], *, usage: Usage | None = None
    ) -> None:
        """Store one finished turn in one transaction (see :meth:`exo.memory.Memory.append`)."""
        check_conversation_id(conversation_id)
        encoded = encode_messages(messages)  # bad data fails here, before any write
        roles = [message.role for message in messages]
        tokens, usage_json, now = estimate_tokens(messages), encode_usage(usage), utcnow()
        what = f"appending a turn to conversation {conversation_id!r}"
        async with self._connection(what) as conn, conn.transaction():
            count = await conn.fetchval(self._sql.upsert, conversation_id, now)
            turn = count - 1
            await conn.execute(
                self._sql.insert_turn, conversation_id, turn, now, tokens, usage_json
            )
            positions = list(range(len(encoded)))
            await conn.execute(
                self._sql.insert_messages, conversation_id, turn, positions, roles, encoded
            )

    async def turns(self, conversation_id: str) -> list[Turn]:
        """Return the conversation's turns with their usage and timestamps."""
        check_conversation_id(conversation_id)
        what = f"reading the turns of conversation {conversation_id!r}"
        async with (
            self._connection(what) as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            heads = await conn.fetch(self._sql.turn_heads, conversation_id)
            rows = await conn.fetch(self._sql.turn_rows, conversation_id)
        grouped = {turn: [r[1] for r in group] for turn, group in groupby(rows, lambda r: r[0])}
        return [
            Turn(
                index=turn,
                messages=decode_messages(grouped.get(turn, [])),
                usage=decode_usage(usage),
                created_at=created_at,
            )
            for turn, created_at, usage in heads
        ]

    async def list_conversations(self) -> list[str]:
        """Return every conversation id, oldest first."""
        async with self._connection("listing conversations") as conn:
            rows = await conn.fetch(self._sql.list_ids)
        return [row[0] for row in rows]

    async def delete(self, conversation_id: str) -> None:
        """Delete a conversation and its turns (no error if it does not exist)."""
        check_conversation_id(conversation_id)
        async with self._connection(f"deleting conversation {conversation_id!r}") as conn:
            await conn.execute(self._sql.delete, conversation_id)

    async def aclose(self) -> None:
        """Close the connection pool (idempotent)."""
        self._closed = True
        current, self._loop_pool = self._loop_pool, None
        if current is None:
            return
        if current.loop is asyncio.get_running_loop():
            current.keeper.cancel()  # the keeper closes the pool as it ends
            await asyncio.wait([current.keeper])
        else:
            current.abandon()

    # ----------------------------------------------------------------------- internals

    @property
    def _where(self) -> str:
        return redact_url(self._dsn)

    @asynccontextmanager
    async def _connection(self, what: str) -> AsyncIterator[Any]:
        """Lend a pooled connection, turning database errors into AgentError."""
        asyncpg = _asyncpg()
        pool = await self._pool()
        try:
            async with pool.acquire() as conn:
                yield conn
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                # asyncpg may surface a cancelled query as a connection error: the
                # cancellation is what happened, so that is what the caller sees.
                raise asyncio.CancelledError from exc
            raise AgentError(
                f"PostgreSQL memory {self._where}: {what} failed: {type(exc).__name__}: {exc}",
                hint="check that the server is reachable and the user may write its tables",
            ) from exc

    async def _pool(self) -> Any:
        """Return this event loop's pool, opening it (once, shared by all callers) if needed."""
        if self._closed:
            raise AgentError(f"{self!r} is closed; open a new PostgresMemory after aclose()")
        loop = asyncio.get_running_loop()
        current = self._loop_pool
        if current is None or current.loop is not loop or current.failed:
            if current is not None:
                current.abandon()
            ready: asyncio.Future[Any] = loop.create_future()
            keeper = loop.create_task(self._keep_pool(ready), name="exo-postgres-pool")
            self._loop_pool = current = _LoopPool(loop=loop, ready=ready, keeper=keeper)
        # Shielded: one caller being cancelled must not cancel the pool the others wait for.
        return await asyncio.shield(current.ready)

    async def _keep_pool(self, ready: asyncio.Future[Any]) -> None:
        """Open the pool, hand it out through ``ready``, and close it when cancelled.

        The task lives as long as its event loop: ``asyncio.run`` (and so ``run.sync``)
        cancels it on the way out, and the pool's connections close while the loop still runs.
        """
        try:
            pool = await self._open_pool()
        except asyncio.CancelledError:
            ready.cancel()
            raise
        except BaseException as exc:
            ready.set_exception(exc)
            return
        ready.set_result(pool)
        try:
            await asyncio.get_running_loop().create_future()  # until cancelled
        finally:
            await _close_pool(pool)

    async def _open_pool(self) -> Any:
        asyncpg = _asyncpg()
        try:
            pool = await asyncpg.create_pool(
                self._dsn,
                min_size=1,
                max_size=self._max_connections,
                timeout=self._connect_timeout,
            )
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            raise AgentError(
                f"could not connect to PostgreSQL memory at {self._where}: "
                f"{type(exc).__name__}: {exc}",
                hint="check the URL, that the server is running, and the user's password",
            ) from exc
        try:
            await self._migrate(pool)
        except BaseException:
            _terminate(pool)
            raise
        return pool

    async def _migrate(self, pool: Any) -> None:
        """Create the schema and tables, or check they are a version this code understands."""
        s = f'"{self._schema}"'
        async with pool.acquire() as conn:
            if await self._schema_version(conn) == SCHEMA_VERSION:
                return
            async with conn.transaction():
                # Serialize migrations of this schema across every process.
                await conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtext($1))", f"exo.memory:{self._schema}"
                )
                version = await self._schema_version(conn)
                if version > SCHEMA_VERSION:
                    raise AgentError(
                        f"PostgreSQL memory {self._where} (schema {self._schema!r}) has schema "
                        f"version {version}, newer than this exo understands ({SCHEMA_VERSION})",
                        hint="upgrade exo-agents, or use another schema= for this exo",
                    )
                if version == 0:
                    if not await conn.fetchval(_SCHEMA_EXISTS, self._schema):
                        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {s}")
                    await conn.execute(_CREATE.format(s=s))
                    await conn.execute(
                        f"INSERT INTO {s}.exo_schema_version (version) VALUES ($1)", SCHEMA_VERSION
                    )

    async def _schema_version(self, conn: Any) -> int:
        # A catalog query, not to_regclass(): the latter may answer from a stale cache after
        # another session created the table while we waited for the migration lock.
        if not await conn.fetchval(_TABLE_EXISTS, self._schema, "exo_schema_version"):
            return 0
        table = f'"{self._schema}".exo_schema_version'
        return int(await conn.fetchval(f"SELECT coalesce(max(version), 0) FROM {table}"))


def _asyncpg() -> ModuleType:
    try:
        import asyncpg
    except ImportError as exc:  # pragma: no cover - checked at construction
        raise ConfigError("PostgreSQL memory needs asyncpg", hint=_INSTALL_HINT) from exc
    module: ModuleType = asyncpg
    return module


@dataclass(slots=True, kw_only=True)
class _LoopPool:
    """The pool of one event loop, and the task that owns it."""

    loop: asyncio.AbstractEventLoop
    ready: asyncio.Future[Any]
    keeper: asyncio.Task[None]

    @property
    def failed(self) -> bool:
        """Whether opening the pool failed (the next call tries again)."""
        return self.ready.done() and (self.ready.cancelled() or self.ready.exception() is not None)

    def abandon(self) -> None:
        """Drop a pool from another event loop; close it if that loop never did."""
        if self.ready.done() and not self.failed and not self.keeper.done():
            _terminate(self.ready.result())


async def _close_pool(pool: Any) -> None:
    """Close a pool gracefully, or at once if that takes too long or fails."""
    closed = False
    try:
        await asyncio.wait_for(pool.close(), timeout=5)
        closed = True
    except Exception:
        pass
    finally:
        if not closed:
            _terminate(pool)


def _terminate(pool: Any) -> None:
    """Close a pool's connections at once, even if its event loop is gone."""
    # Best effort: a finished loop may refuse; the server drops the connections anyway.
    with suppress(Exception):
        pool.terminate()
