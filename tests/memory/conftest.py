"""Fixtures that run the same memory behaviour suite against every backend.

``store`` is parametrized over the backends: ``memory`` (in-process), ``sqlite`` (a fresh file
per test) and ``postgres`` (a fresh schema per test in the server named by
``EXO_TEST_POSTGRES_DSN``; skipped locally without it, a failure when ``CI=true``).
``durable_store`` is the same over the backends that outlive a process (crash and
multi-process tests).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from memory_store import Store, drop_schema, postgres_dsn

from exo.memory import Memory

POSTGRES = pytest.param("postgres", marks=pytest.mark.postgres)


@pytest.fixture(params=["memory", "sqlite", POSTGRES])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """Every backend, each on a fresh, empty store."""
    async with open_store(request.param, tmp_path) as backend:
        yield backend


@pytest.fixture(params=["sqlite", POSTGRES])
async def durable_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """The backends that outlive a process, each on a fresh, empty store."""
    async with open_store(request.param, tmp_path) as backend:
        yield backend


@pytest.fixture
async def memory(store: Store) -> Memory:
    """A backend instance on a fresh store."""
    return store.open()


@asynccontextmanager
async def open_store(kind: str, tmp_path: Path) -> AsyncIterator[Store]:
    """A fresh store of one kind; closes what the test opened and removes the store after."""
    if kind == "memory":
        yield Store(kind)
        return
    if kind == "sqlite":
        backend = Store(kind, {"path": str(tmp_path / "memory.db")})
    else:
        schema = f"exo_test_{uuid.uuid4().hex[:12]}"
        backend = Store(kind, {"dsn": postgres_dsn(), "schema": schema})
    try:
        yield backend
    finally:
        for memory in backend.opened:
            await memory.aclose()
        if kind == "postgres":
            await drop_schema(backend.spec["dsn"], backend.spec["schema"])
