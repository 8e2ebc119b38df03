"""Test stores for the memory suite: one backend kind, opened as many times as a test needs.

PostgreSQL needs ``EXO_TEST_POSTGRES_DSN`` (``source .ci/postgres.sh`` starts a server and sets
it). Without it the PostgreSQL cases skip locally and FAIL when ``CI=true``: CI must never pass
without them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import exo
from exo.memory import InMemoryMemory, Memory
from exo.memory_postgres import PostgresMemory
from exo.memory_sqlite import SQLiteMemory

DSN_VAR = "EXO_TEST_POSTGRES_DSN"
SRC = Path(exo.__file__).resolve().parents[1]
WORKER = Path(__file__).with_name("worker.py")


def postgres_dsn() -> str:
    """Return the test server's DSN; skip (locally) or fail (in CI) without one."""
    dsn = os.environ.get(DSN_VAR, "")
    if dsn:
        return dsn
    if os.environ.get("CI", "").lower() in ("true", "1"):
        pytest.fail(
            f"{DSN_VAR} is not set but CI=true: the PostgreSQL memory tests must run in CI. "
            "Run `source .ci/postgres.sh` before pytest.",
            pytrace=False,
        )
    pytest.skip(f"PostgreSQL memory tests need {DSN_VAR} (run `source .ci/postgres.sh`)")


@dataclass
class Store:
    """One backend under test: opens instances on the same underlying store."""

    kind: str
    spec: dict[str, str] = field(default_factory=dict)
    opened: list[Memory] = field(default_factory=list)
    _shared: InMemoryMemory | None = None

    @property
    def persistent(self) -> bool:
        """Whether a new instance (or process) sees what another one wrote."""
        return self.kind != "memory"

    def open(self) -> Memory:
        """Open a backend instance (the in-memory backend is one shared instance)."""
        memory: Memory
        if self.kind == "memory":
            self._shared = self._shared or InMemoryMemory()
            return self._shared
        if self.kind == "sqlite":
            memory = SQLiteMemory(self.spec["path"])
        else:
            memory = PostgresMemory(self.spec["dsn"], schema=self.spec["schema"])
        self.opened.append(memory)
        return memory

    def spawn(self, *args: str) -> subprocess.Popen[str]:
        """Start tests/memory/worker.py on this store (persistent backends only)."""
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(WORKER.parent)])}
        return subprocess.Popen(
            [sys.executable, str(WORKER), json.dumps({"kind": self.kind, **self.spec}), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )


async def drop_schema(dsn: str, schema: str) -> None:
    """Remove a test schema and everything in it."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()
