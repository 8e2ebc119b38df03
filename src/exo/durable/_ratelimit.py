"""A rate limit on model requests per provider, shared by every worker of a durable app.

:class:`RateLimit` says how many requests may start in any window of ``per_seconds``. The
window slides: a request is let through only when fewer than ``requests`` were let through in
the ``per_seconds`` before it. Its key is the provider's backend and host
(``openai@api.openai.com``), so every agent calling one provider draws from one window.

On PostgreSQL the window is a table beside DBOS's (``exo_rate_limit`` in DBOS's schema): a
request takes a transaction-scoped advisory lock on its key, drops the grants older than the
window, counts the rest and, under the limit, records its own, all on the database's clock, so
it holds across processes and machines. On SQLite (one process) the window is kept in memory.
A durable run asks inside its model step, so a step replayed from the record takes no slot.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

from exo.errors import ConfigError

__all__ = ["GRANT_MARGIN", "LocalWindow", "RateLimit", "SharedWindow", "Window", "limit_key"]

GRANT_MARGIN = 0.25
"""Seconds a grant is kept past its window: the time between a grant and the request reaching
the provider varies a little, and that must not let ``requests + 1`` arrive in one window."""


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

    async def acquire(self, key: str) -> None:
        """Wait until a request under ``key`` may start, and count it."""
        ...


class LocalWindow:
    """The sliding window in this process (SQLite apps: one process runs them)."""

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self._grants: dict[str, deque[float]] = {}
        self._lock = threading.Lock()  # runs may execute on DBOS's loop and the caller's

    def __repr__(self) -> str:
        return f"LocalWindow({self.limit})"

    def _try(self, key: str) -> float:
        """Grant now (0.0), or say how long to wait before asking again."""
        span = self.limit.per_seconds + GRANT_MARGIN
        with self._lock:
            now = time.monotonic()
            grants = self._grants.setdefault(key, deque())
            while grants and grants[0] <= now - span:
                grants.popleft()
            if len(grants) < self.limit.requests:
                grants.append(now)
                return 0.0
            return grants[0] + span - now

    async def acquire(self, key: str) -> None:
        """Wait for a slot under ``key``."""
        while True:
            wait = self._try(key)
            if wait <= 0:
                return
            await asyncio.sleep(wait)  # until the oldest grant leaves the window


class SharedWindow:
    """The sliding window in a PostgreSQL table, shared by every process that uses it.

    Args:
        limit: The limit.
        database_url: The PostgreSQL database (DBOS's system database).
        schema: The schema the table lives in (DBOS's).
    """

    def __init__(self, limit: RateLimit, database_url: str, schema: str) -> None:
        self.limit = limit
        self.schema = schema
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
                engine = sa.create_engine(url, pool_size=4, max_overflow=8, pool_pre_ping=True)
                table = f'"{self.schema}".exo_rate_limit'
                with engine.begin() as c:
                    c.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('exo_rate_limit'))"))
                    c.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"'))
                    c.execute(
                        sa.text(
                            f"CREATE TABLE IF NOT EXISTS {table} "
                            "(key TEXT NOT NULL, at DOUBLE PRECISION NOT NULL)"
                        )
                    )
                    c.execute(
                        sa.text(
                            f"CREATE INDEX IF NOT EXISTS exo_rate_limit_key_at ON {table} (key, at)"
                        )
                    )
                self._engine = engine
            return self._engine

    def _try(self, key: str) -> float:
        """Grant now (0.0), or say how long to wait; one short transaction."""
        import sqlalchemy as sa

        span = self.limit.per_seconds + GRANT_MARGIN
        table = f'"{self.schema}".exo_rate_limit'
        with self._connect().begin() as c:
            c.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": key})
            now = float(c.scalar(sa.text("SELECT extract(epoch FROM clock_timestamp())")))
            c.execute(
                sa.text(f"DELETE FROM {table} WHERE key = :k AND at <= :t"),
                {"k": key, "t": now - span},
            )
            count, oldest = c.execute(
                sa.text(f"SELECT count(*), min(at) FROM {table} WHERE key = :k"), {"k": key}
            ).one()
            if count < self.limit.requests:
                c.execute(sa.text(f"INSERT INTO {table} VALUES (:k, :t)"), {"k": key, "t": now})
                return 0.0
            return float(oldest) + span - now

    async def acquire(self, key: str) -> None:
        """Wait for a slot under ``key``."""
        while True:
            wait = await asyncio.to_thread(self._try, key)
            if wait <= 0:
                return
            await asyncio.sleep(wait)  # until the oldest grant leaves the window

    def close(self) -> None:
        """Close the connections."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
