"""A rate limit on model requests per provider, shared by every worker of a durable app.

:class:`RateLimit` says how many requests may reach one provider in any window of
``per_seconds``. The window slides. Each request holds a *grant*, stamped with a time that is
never before the request reached the provider: while the request runs, its grant time plus
:data:`ARRIVAL_BOUND`; once answered, the time of the answer (if sooner). A request is let
through only when fewer than ``requests`` grants are stamped within the ``per_seconds``
before now. So for any ``requests + 1`` arrivals in one window, the last one granted would
have counted the other ``requests``, whatever the delays between a grant and its request
reaching the provider (a busy machine, a slow network): the limit holds at the provider,
not only at the granting. The key is the provider's backend and host
(``openai@api.openai.com``), so every agent calling one provider draws from one window.

On PostgreSQL the grants are rows of a table beside DBOS's (``exo_rate_limit`` in DBOS's
schema): a request takes a transaction-scoped advisory lock on its key, drops the grants
older than the window, counts the rest and, under the limit, inserts its own, all on the
database's clock, so it holds across processes and machines. On SQLite (one process) they
are kept in memory. A durable run asks inside its model step, so a step replayed from the
record takes no grant.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from exo.errors import ConfigError

__all__ = ["ARRIVAL_BOUND", "LocalWindow", "RateLimit", "SharedWindow", "Window", "limit_key"]

ARRIVAL_BOUND = 5.0
"""Seconds after its grant by which a request has surely reached its provider: a grant is
stamped at most this late, so a worker that dies holding one frees it after this plus the
window."""


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``requests`` model requests to one provider in any ``per_seconds``.

    Args:
        requests: Requests allowed per window (at least 1).
        per_seconds: The window's length in seconds (default one minute).
    """

    requests: int
    per_seconds: float = 60.0

    def __post_init__(self) -> None:
        if isinstance(self.requests, bool) or not isinstance(self.requests, int):
            raise ConfigError("RateLimit(requests=...) must be an int", parameter="requests")
        if self.requests < 1:
            raise ConfigError(
                f"RateLimit(requests={self.requests}) must allow at least 1 request",
                parameter="requests",
            )
        if not self.per_seconds > 0:
            raise ConfigError(
                f"RateLimit(per_seconds={self.per_seconds}) must be positive",
                parameter="per_seconds",
            )


def limit_key(provider: Any) -> str:
    """The window a provider's requests count in: ``{backend}@{host}`` (the backend alone
    when the provider has no ``base_url``)."""
    backend = str(getattr(provider, "backend", type(provider).__name__))
    base_url = getattr(provider, "base_url", None)
    if not base_url:
        return backend
    from urllib.parse import urlsplit

    return f"{backend}@{urlsplit(str(base_url)).netloc or base_url}"


class Window(Protocol):
    """Where grants are counted."""

    def slot(self, key: str) -> AbstractAsyncContextManager[None]:
        """Wait for a grant under ``key``; hold it while the request runs."""
        ...


class _Sliding:
    """The waiting common to both windows: ask for a grant until one is given, hold it while
    the request runs, stamp it when answered. Subclasses say where grants are counted."""

    async def _ask(self, key: str) -> tuple[float, int]:
        """A grant now ``(0.0, id)``, or how long to wait before asking again."""
        raise NotImplementedError

    async def _release(self, key: str, grant: int) -> None:
        """Stamp ``grant`` with the answer's time (if sooner than its bound)."""
        raise NotImplementedError

    @asynccontextmanager
    async def slot(self, key: str) -> AsyncIterator[None]:
        """Wait for a grant under ``key``; stamp it with the answer's time when done."""
        while True:
            wait, grant = await self._ask(key)
            if wait <= 0:
                break
            await asyncio.sleep(wait)  # until the oldest grant leaves the window
        try:
            yield
        finally:
            await self._release(key, grant)


class LocalWindow(_Sliding):
    """The sliding window in this process (SQLite apps: one process runs them)."""

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self._grants: dict[str, dict[int, float]] = {}  # key -> grant id -> its stamp
        self._ids = itertools.count()
        self._lock = threading.Lock()  # runs may execute on DBOS's loop and the caller's

    def __repr__(self) -> str:
        return f"LocalWindow({self.limit})"

    def _try(self, key: str) -> tuple[float, int]:
        """A grant now ``(0.0, id)``, or how long to wait before asking again."""
        per = self.limit.per_seconds
        with self._lock:
            now = time.monotonic()
            grants = self._grants.setdefault(key, {})
            for gone in [g for g, at in grants.items() if at <= now - per]:
                del grants[gone]
            if len(grants) < self.limit.requests:
                grant = next(self._ids)
                grants[grant] = now + ARRIVAL_BOUND
                return 0.0, grant
            return min(grants.values()) + per - now, -1

    def _answered(self, key: str, grant: int) -> None:
        with self._lock:
            grants = self._grants.get(key, {})
            if grant in grants:
                grants[grant] = min(grants[grant], time.monotonic())

    async def _ask(self, key: str) -> tuple[float, int]:
        return self._try(key)

    async def _release(self, key: str, grant: int) -> None:
        self._answered(key, grant)


class SharedWindow(_Sliding):
    """The sliding window in a PostgreSQL table, shared by every process that uses it.

    Args:
        limit: The limit.
        database_url: The PostgreSQL database (DBOS's system database).
        schema: The schema the table lives in (DBOS's).
    """

    def __init__(self, limit: RateLimit, database_url: str, schema: str) -> None:
        self.limit = limit
        self.schema = schema
        self.table = f'"{schema}".exo_rate_limit'
        self._url = database_url
        self._engine: Any = None
        self._ready = threading.Lock()

    def __repr__(self) -> str:
        return f"SharedWindow({self.limit}, schema={self.schema!r})"

    def _connect(self) -> Any:
        """The engine, and the table (created once; the DDL itself takes a lock)."""
        import sqlalchemy as sa

        with self._ready:
            if self._engine is None:
                url = sa.make_url(self._url).set(drivername="postgresql+psycopg")
                engine = sa.create_engine(url, pool_size=4, max_overflow=16, pool_pre_ping=True)
                with engine.begin() as c:
                    c.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('exo_rate_limit'))"))
                    c.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"'))
                    c.execute(
                        sa.text(
                            f"CREATE TABLE IF NOT EXISTS {self.table} (id BIGSERIAL PRIMARY KEY,"
                            " key TEXT NOT NULL, at DOUBLE PRECISION NOT NULL)"
                        )
                    )
                    c.execute(
                        sa.text(
                            "CREATE INDEX IF NOT EXISTS exo_rate_limit_key_at "
                            f"ON {self.table} (key, at)"
                        )
                    )
                self._engine = engine
            return self._engine

    def _try(self, key: str) -> tuple[float, int]:
        """A grant now ``(0.0, id)``, or how long to wait; one short transaction."""
        import sqlalchemy as sa

        per, table = self.limit.per_seconds, self.table
        with self._connect().begin() as c:
            c.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": key})
            now = float(c.scalar(sa.text("SELECT extract(epoch FROM clock_timestamp())")))
            c.execute(
                sa.text(f"DELETE FROM {table} WHERE key = :k AND at <= :t"),
                {"k": key, "t": now - per},
            )
            count, oldest = c.execute(
                sa.text(f"SELECT count(*), min(at) FROM {table} WHERE key = :k"), {"k": key}
            ).one()
            if count < self.limit.requests:
                grant = c.scalar(
                    sa.text(f"INSERT INTO {table} (key, at) VALUES (:k, :t) RETURNING id"),
                    {"k": key, "t": now + ARRIVAL_BOUND},
                )
                return 0.0, int(grant)
            return float(oldest) + per - now, -1

    def _answered(self, grant: int) -> None:
        import sqlalchemy as sa

        with self._connect().begin() as c:
            c.execute(
                sa.text(
                    f"UPDATE {self.table} SET at = "
                    "LEAST(at, extract(epoch FROM clock_timestamp())) WHERE id = :g"
                ),
                {"g": grant},
            )

    async def _ask(self, key: str) -> tuple[float, int]:
        return await asyncio.to_thread(self._try, key)  # a blocking transaction

    async def _release(self, key: str, grant: int) -> None:
        await asyncio.to_thread(self._answered, grant)

    def close(self) -> None:
        """Close the connections."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
