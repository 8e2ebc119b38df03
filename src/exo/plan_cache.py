"""The plan cache: reuse a plan when the planner would be asked exactly the same thing.

``Agent(plan_cache=True)`` (or a path, a PostgreSQL URL, or a :class:`PlanCache` object) makes
the planner pre-pass look its plan up first. A hit costs no model call: ``result.plan`` is the
stored text with ``cached=True``, zero usage and zero steps, and the stream's
``PlanCompleteEvent`` carries that same ``PlanResult``. Only successful, non-empty plans are
stored (a skipped or empty plan is planned again next time).

The key (:func:`plan_key`) is a SHA-256 over everything that shapes the planner's request:
the task and the history it sees, the planner's resolved system prompt (a callable's output,
not the callable), its model, its temperature and output limit, its step budget, the full
specs (name, description, parameters) of the tools the planner is offered (``planning_tools``
included), and ``planning_format`` when the agent has one. Tool *results* are not part of the
key: a planner that looks things up gets the world as it was when the plan was stored, for up
to the TTL (default one day).

Where plans live: ``plan_cache=True`` uses the agent's memory database when ``memory`` names
one (a SQLite path, ``"sqlite"``, a PostgreSQL URL, or a SQLiteMemory), else the default
SQLite file (``$EXO_HOME/memory.db`` or ``~/.exo/memory.db``); each store keeps plans in a
table of its own, ``exo_plan_cache``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

from exo.errors import AgentError, ConfigError, ExoError
from exo.memory import default_memory_path, encode_messages, redact_url
from exo.types import ContentBlock, Message, PlanResult, Usage, UserMessage

if TYPE_CHECKING:
    from exo.agent import Agent

__all__ = [
    "DEFAULT_TTL",
    "InMemoryPlanCache",
    "Lookup",
    "PlanCache",
    "PostgresPlanCache",
    "SQLitePlanCache",
    "lookup",
    "plan_key",
    "resolve_plan_cache",
]

DEFAULT_TTL = 86_400.0
"""How long a stored plan is reused, in seconds (one day)."""

_KEY_VERSION = "exo-plan-cache/1"  # bump when the key's inputs change meaning
Clock = Callable[[], float]


@runtime_checkable
class PlanCache(Protocol):
    """Where plans are kept: any object with these two methods is a plan cache."""

    async def get(self, key: str) -> str | None:
        """Return the plan stored under ``key`` if it is younger than the TTL, else ``None``."""
        ...

    async def put(self, key: str, plan: str) -> None:
        """Store ``plan`` under ``key`` (replacing an older one), stamped with the time now."""
        ...


def _check_ttl(ttl: float) -> float:
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not ttl > 0:
        raise ConfigError(f"ttl must be a number of seconds > 0, got {ttl!r}", parameter="ttl")
    return float(ttl)


class InMemoryPlanCache:
    """Plans kept in this process only (for tests, and for ``exo eval``'s cached variant).

    Args:
        ttl: Seconds a plan is reused.
        clock: Returns the time in seconds (injectable for tests).
    """

    def __init__(self, *, ttl: float = DEFAULT_TTL, clock: Clock = time.time) -> None:
        self.ttl = _check_ttl(ttl)
        self._clock = clock
        self._plans: dict[str, tuple[str, float]] = {}

    async def get(self, key: str) -> str | None:
        """See :meth:`PlanCache.get`."""
        found = self._plans.get(key)
        if found is None or self._clock() - found[1] >= self.ttl:
            return None
        return found[0]

    async def put(self, key: str, plan: str) -> None:
        """See :meth:`PlanCache.put`."""
        self._plans[key] = (plan, self._clock())


_SQLITE_SCHEMA = """CREATE TABLE IF NOT EXISTS exo_plan_cache (
    key TEXT PRIMARY KEY,
    plan TEXT NOT NULL,
    created_at REAL NOT NULL
) WITHOUT ROWID"""


class SQLitePlanCache:
    """Plans in a SQLite file (the memory database by default), shared by every process.

    Each operation opens its own short connection on a worker thread: a plan is looked up
    once per planned run, so there is no connection to keep, close or share between threads.

    Args:
        path: The database file (created with its directory on first use).
        ttl: Seconds a plan is reused.
        clock: Returns the time in seconds (injectable for tests).
        timeout: Seconds to wait for another process's write.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        ttl: float = DEFAULT_TTL,
        clock: Clock = time.time,
        timeout: float = 30.0,
    ) -> None:
        self.path = Path(path).expanduser()
        self.ttl = _check_ttl(ttl)
        self._clock = clock
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"SQLitePlanCache({str(self.path)!r}, ttl={self.ttl})"

    async def get(self, key: str) -> str | None:
        """See :meth:`PlanCache.get`."""
        oldest = self._clock() - self.ttl
        sql = "SELECT plan FROM exo_plan_cache WHERE key = ? AND created_at > ?"
        rows = await self._call(sql, (key, oldest), "reading a plan")
        return str(rows[0][0]) if rows else None

    async def put(self, key: str, plan: str) -> None:
        """See :meth:`PlanCache.put`."""
        sql = "INSERT OR REPLACE INTO exo_plan_cache (key, plan, created_at) VALUES (?, ?, ?)"
        await self._call(sql, (key, plan, self._clock()), "storing a plan")

    async def _call(self, sql: str, args: tuple[Any, ...], what: str) -> list[Any]:
        import sqlite3  # here, not at import: a run without a plan cache never loads it

        try:
            return await asyncio.to_thread(self._execute, sql, args)
        except (sqlite3.Error, OSError) as exc:
            raise AgentError(
                f"plan cache {str(self.path)!r}: {what} failed: {exc}",
                hint="check that the file is writable and on a local disk, or set plan_cache=False",
            ) from exc

    def _execute(self, sql: str, args: tuple[Any, ...]) -> list[Any]:
        import sqlite3

        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None)
        try:
            conn.execute(_SQLITE_SCHEMA)
            return conn.execute(sql, args).fetchall()
        finally:
            conn.close()


class PostgresPlanCache:
    """Plans in PostgreSQL (table ``exo_plan_cache`` in the connection's default schema).

    Each operation uses its own connection (asyncpg, imported when first used).

    Args:
        dsn: A ``postgresql://`` (or ``postgres://``) URL; its password never appears in
            ``repr()`` or error messages.
        ttl: Seconds a plan is reused.
        clock: Returns the time in seconds (injectable for tests).
    """

    def __init__(self, dsn: str, *, ttl: float = DEFAULT_TTL, clock: Clock = time.time) -> None:
        if urlsplit(dsn).scheme not in ("postgresql", "postgres"):
            raise ConfigError("PostgresPlanCache needs a postgresql:// URL", parameter="dsn")
        self._dsn = dsn
        self.ttl = _check_ttl(ttl)
        self._clock = clock
        self._created = False  # the table exists (checked once per cache object)

    def __repr__(self) -> str:
        return f"PostgresPlanCache({redact_url(self._dsn)!r}, ttl={self.ttl})"

    async def get(self, key: str) -> str | None:
        """See :meth:`PlanCache.get`."""
        sql = "SELECT plan FROM exo_plan_cache WHERE key = $1 AND created_at > $2"
        rows = await self._call(sql, (key, self._clock() - self.ttl), "reading a plan")
        return str(rows[0]["plan"]) if rows else None

    async def put(self, key: str, plan: str) -> None:
        """See :meth:`PlanCache.put`."""
        sql = """INSERT INTO exo_plan_cache (key, plan, created_at) VALUES ($1, $2, $3)
            ON CONFLICT (key)
            DO UPDATE SET plan = EXCLUDED.plan, created_at = EXCLUDED.created_at"""
        await self._call(sql, (key, plan, self._clock()), "storing a plan")

    async def _call(self, sql: str, args: tuple[Any, ...], what: str) -> list[Any]:
        try:
            import asyncpg
        except ImportError as exc:
            raise ConfigError(
                "a PostgreSQL plan cache needs asyncpg",
                parameter="plan_cache",
                hint="pip install 'exo-agents[postgres]'",
            ) from exc
        try:
            conn = await asyncpg.connect(self._dsn, timeout=10)
            try:
                if not self._created:
                    await _create_table(conn)
                    self._created = True
                return list(await conn.fetch(sql, *args))
            finally:
                await conn.close()
        except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
            raise AgentError(
                f"plan cache {redact_url(self._dsn)!r}: {what} failed: {exc}",
                hint="check the server and the URL, or set plan_cache=False",
            ) from exc


async def _create_table(conn: Any) -> None:
    """Create ``exo_plan_cache`` if missing, one process at a time.

    Concurrent ``CREATE TABLE IF NOT EXISTS`` of one table is not safe in PostgreSQL (the
    loser fails on ``pg_type``'s unique index), which many runs starting at once against a
    new database do: a transaction-scoped advisory lock on the schema serializes them.
    """
    async with conn.transaction():
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext('exo.plan_cache:' || current_schema()))"
        )
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS exo_plan_cache (key TEXT PRIMARY KEY, "
            "plan TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL)"
        )


def resolve_plan_cache(value: object, memory: object = None) -> PlanCache | None:
    """Turn ``Agent(plan_cache=...)`` into a cache, without I/O.

    Args:
        value: ``False``/``None`` (off), ``True`` (the memory database, see the module
            docstring), a SQLite path, a ``postgresql://`` URL, or a :class:`PlanCache`.
        memory: The agent's ``memory`` setting, consulted for ``True``.

    Raises:
        ConfigError: ``value`` is none of these.
    """
    if value is None or value is False:
        return None
    if value is True:
        return _from_memory(memory)
    if isinstance(value, os.PathLike):
        return SQLitePlanCache(value)
    if isinstance(value, str) and value.strip():
        if urlsplit(value).scheme in ("postgresql", "postgres"):
            return PostgresPlanCache(value)
        return SQLitePlanCache(default_memory_path() if value == "sqlite" else value)
    if isinstance(value, PlanCache):
        return value
    raise ConfigError(
        f"plan_cache={value!r} is not a plan cache",
        parameter="plan_cache",
        hint="pass True, a SQLite path, a postgresql:// URL, or an object with async get/put",
    )


def _from_memory(memory: object) -> PlanCache:
    """The cache of ``plan_cache=True``: the agent's memory database, else the default file."""
    if isinstance(memory, str | os.PathLike) and str(memory).strip().lower() != "memory":
        return resolve_plan_cache(memory) or SQLitePlanCache(default_memory_path())
    path = getattr(memory, "path", None)  # a SQLiteMemory object
    if isinstance(path, Path):
        return SQLitePlanCache(path)
    dsn = getattr(memory, "_dsn", None)  # a PostgresMemory object (same package)
    if isinstance(dsn, str):
        return PostgresPlanCache(dsn)
    return SQLitePlanCache(default_memory_path())


async def plan_key(
    agent: Agent[Any], task: str | list[ContentBlock], history: list[Message]
) -> str:
    """Return the cache key of the plan ``agent``'s planner would write for this input."""
    from exo.planning import build_planner

    planner = build_planner(agent)
    parts = {
        "v": _KEY_VERSION,
        "messages": encode_messages([*history, UserMessage(content=task)]),
        "instructions": await planner.resolve_instructions(),
        "model": planner.model,
        "temperature": planner.temperature,
        "max_tokens": planner.max_tokens,
        "max_steps": planner.max_steps,
        "tools": [
            [t.spec.name, t.spec.description, t.spec.parameters] for t in planner.tool_map.values()
        ],
        "format": agent.planning_format,
    }
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=repr)
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Lookup:
    """One run's cache look-up: the plan found (or ``None``), and how to store a new one.

    A cache that fails (a database down or locked, an object of the user's that raises) does
    not fail the run: the run plans as it would without a cache, and ``failed`` (or what
    :meth:`store` returns) says what went wrong, for a :class:`~exo.types.WarningEvent`.
    """

    plan: PlanResult | None = None
    cache: PlanCache | None = None
    key: str = ""
    failed: str | None = None

    async def store(self, plan: PlanResult) -> str | None:
        """Store a freshly planned, successful, non-empty plan (no-op on a hit or when off).

        Returns:
            Why the plan could not be stored, or ``None``.
        """
        if self.cache is None or self.plan is not None:
            return None
        if plan.skipped is None and plan.text:
            try:
                await self.cache.put(self.key, plan.text)
            except Exception as exc:
                return _failure("storing the plan", self.cache, exc)
        return None


def _failure(what: str, cache: PlanCache, exc: Exception) -> str:
    text = exc.message if isinstance(exc, ExoError) else f"{type(exc).__name__}: {exc}"
    return f"plan cache {cache!r}: {what} failed, so the run planned without it ({text})"


_OFF = Lookup()


async def lookup(
    agent: Agent[Any], task: str | list[ContentBlock], history: list[Message]
) -> Lookup:
    """Look the run's plan up in the agent's plan cache (at once when there is none)."""
    cache: PlanCache | None = getattr(agent, "plan_cache_backend", None)
    if cache is None:
        return _OFF
    key = await plan_key(agent, task, history)
    try:
        text = await cache.get(key)
    except Exception as exc:
        return Lookup(failed=_failure("looking the plan up", cache, exc))
    if not text:
        return Lookup(cache=cache, key=key)
    model = agent.planning_model or agent.model
    plan = PlanResult(text=text, model=model, usage=Usage(), cached=True)
    if agent.planning_format == "steps":  # the cached text is a rendered checklist: read it back
        from exo.plans import parse_steps  # only structured plans need the parser

        plan = dataclasses.replace(plan, checklist=tuple(parse_steps(text)))
    return Lookup(plan, cache, key)
