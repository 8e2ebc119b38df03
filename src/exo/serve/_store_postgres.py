"""The PostgreSQL :class:`~exo.serve._store.RunStore`, through asyncpg (``exo-agents[postgres]``).

The same two tables as the SQLite store, in the ``public`` schema beside memory's, and the same
conventions as :mod:`exo.memory_postgres`: a pool opened on first use, passwords never in a
message. A server runs on one event loop, so one pool serves it for its whole life.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from exo.errors import AgentError
from exo.memory import redact_url
from exo.memory_postgres import _SCHEMA_NAME, _asyncpg
from exo.serve._store import SCHEMA, RunRecord, record_row, row_record

__all__ = ["PostgresRunStore"]

_COLUMNS = (
    "id, agent, status, input, conversation_id, detailed, created_at, updated_at, result, "
    "state, error"
)
_UPSERT = f"""
    INSERT INTO exo_runs ({_COLUMNS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)
    ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, updated_at = EXCLUDED.updated_at,
        result = EXCLUDED.result, state = EXCLUDED.state, error = EXCLUDED.error"""
_INSERT_EVENTS = """
    INSERT INTO exo_run_events (run_id, seq, data)
    SELECT $1, t.seq, t.data FROM unnest($2::integer[], $3::text[]) AS t (seq, data)
    ON CONFLICT DO NOTHING"""


class PostgresRunStore:
    """Runs in PostgreSQL.

    Args:
        dsn: A ``postgresql://`` URL (its password never appears in messages).
        schema: The schema of the tables (created if missing; memory's default is ``public``).
        max_connections: The pool's size.
    """

    def __init__(self, dsn: str, *, schema: str = "public", max_connections: int = 10) -> None:
        _asyncpg()  # an install hint now rather than at the first request
        if not _SCHEMA_NAME.fullmatch(schema):
            raise AgentError(f"schema={schema!r} is not a valid schema name")
        self._dsn = dsn
        self._schema = schema
        self._max_connections = max_connections
        self._pool: Any = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"PostgresRunStore({redact_url(self._dsn)!r})"

    async def save(self, record: RunRecord, events: Sequence[tuple[int, str]] = ()) -> None:
        """Insert or update ``record`` and add ``events``, in one transaction."""
        row = record_row(record)
        async with self._conn(f"saving run {record.id!r}") as conn, conn.transaction():
            await conn.execute(_UPSERT, *row)
            if events:
                seqs, data = [s for s, _ in events], [d for _, d in events]
                await conn.execute(_INSERT_EVENTS, record.id, seqs, data)

    async def get(self, run_id: str) -> RunRecord | None:
        """The run, or ``None``."""
        async with self._conn(f"reading run {run_id!r}") as conn:
            row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM exo_runs WHERE id = $1", run_id)
        return None if row is None else row_record(tuple(row))

    async def events(self, run_id: str, after: int = 0) -> list[tuple[int, str]]:
        """The run's events numbered above ``after``."""
        async with self._conn(f"reading the events of run {run_id!r}") as conn:
            rows = await conn.fetch(
                "SELECT seq, data FROM exo_run_events WHERE run_id = $1 AND seq > $2 ORDER BY seq",
                run_id,
                after,
            )
        return [(int(r[0]), str(r[1])) for r in rows]

    async def recent(self, limit: int) -> list[RunRecord]:
        """The newest runs, newest first."""
        async with self._conn("listing runs") as conn:
            rows = await conn.fetch(
                f"SELECT {_COLUMNS} FROM exo_runs ORDER BY created_at DESC, id DESC LIMIT $1",
                limit,
            )
        return [row_record(tuple(r)) for r in rows]

    async def aclose(self) -> None:
        """Close the pool (idempotent)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    @asynccontextmanager
    async def _conn(self, what: str) -> AsyncIterator[Any]:
        """Lend a pooled connection, turning database errors into AgentError."""
        asyncpg = _asyncpg()
        try:
            pool = await self._open()
            async with pool.acquire() as conn:
                yield conn
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            raise AgentError(
                f"PostgreSQL run store {redact_url(self._dsn)}: {what} failed: "
                f"{type(exc).__name__}: {exc}",
                hint="check that the server is reachable and the user may write its tables",
            ) from exc

    async def _open(self) -> Any:
        async with self._lock:
            if self._pool is None:
                pool = await _asyncpg().create_pool(
                    self._dsn,
                    min_size=1,
                    max_size=self._max_connections,
                    timeout=10,
                    server_settings={"search_path": self._schema},
                )
                try:
                    async with pool.acquire() as conn, conn.transaction():
                        # Serialize table creation across servers sharing the database.
                        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('exo.runs'))")
                        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self._schema}"')
                        for statement in SCHEMA:
                            await conn.execute(statement)
                except BaseException:
                    pool.terminate()
                    raise
                self._pool = pool
            return self._pool
