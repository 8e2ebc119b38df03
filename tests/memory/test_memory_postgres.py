"""PostgreSQL specifics: configuration, secrets, schemas, and the CI guard on the DSN."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from memory_samples import tool_turn
from memory_store import DSN_VAR, drop_schema, postgres_dsn

from exo.errors import AgentError, ConfigError
from exo.memory import SCHEMA_VERSION
from exo.memory_postgres import PostgresMemory

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"dsn": "mysql://u:p@h/db"}, "dsn"),
        ({"dsn": "127.0.0.1:5432"}, "dsn"),
        ({"dsn": "postgresql://h/db", "schema": "Bad-Name"}, "schema"),
        ({"dsn": "postgresql://h/db", "schema": 'x"; DROP TABLE y; --'}, "schema"),
        ({"dsn": "postgresql://h/db", "max_connections": 0}, "max_connections"),
    ],
)
def test_bad_settings_are_config_errors(kwargs: dict[str, object], parameter: str) -> None:
    with pytest.raises(ConfigError) as info:
        PostgresMemory(**kwargs)  # type: ignore[arg-type]
    assert info.value.parameter == parameter


def test_repr_hides_the_password_wherever_it_is() -> None:
    in_userinfo = PostgresMemory("postgresql://app:s3cret@127.0.0.1:5432/chats")
    in_query = PostgresMemory("postgresql://127.0.0.1/chats?user=app&password=s3cret&x=1")
    for memory in (in_userinfo, in_query):
        assert "s3cret" not in repr(memory)
        assert "***" in repr(memory)


async def test_an_unreachable_server_is_a_clear_error_without_the_password() -> None:
    # Port 1 on loopback: nothing listens, the connection is refused at once.
    memory = PostgresMemory("postgresql://app:s3cret@127.0.0.1:1/chats", connect_timeout=5)
    with pytest.raises(AgentError) as info:
        await memory.load("c1")
    text = f"{info.value} {info.value.__cause__}"
    assert "could not connect to PostgreSQL memory at" in text
    assert "127.0.0.1:1/chats" in text
    assert "s3cret" not in text
    with pytest.raises(AgentError):  # the next call tries again (and fails the same way)
        await memory.list_conversations()
    await memory.aclose()


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    """A fresh schema name, dropped afterwards."""
    dsn = postgres_dsn()
    name = f"exo_test_{uuid.uuid4().hex[:12]}"
    yield name
    await drop_schema(dsn, name)


@pytest.mark.postgres
async def test_schemas_keep_stores_apart(schema: str) -> None:
    dsn = postgres_dsn()
    other = f"{schema}_b"
    first = PostgresMemory(dsn, schema=schema)
    second = PostgresMemory(dsn, schema=other)
    try:
        await first.append("c1", tool_turn("first"))
        await second.append("c1", tool_turn("second"))
        assert await first.load("c1") == tool_turn("first")
        assert await second.load("c1") == tool_turn("second")
    finally:
        await first.aclose()
        await second.aclose()
        await drop_schema(dsn, other)


@pytest.mark.postgres
async def test_a_newer_schema_is_refused_with_advice(schema: str) -> None:
    dsn = postgres_dsn()
    memory = PostgresMemory(dsn, schema=schema)
    await memory.append("c1", tool_turn("a"))
    await memory.aclose()

    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            f'UPDATE "{schema}".exo_schema_version SET version = $1', SCHEMA_VERSION + 1
        )
    finally:
        await conn.close()
    newer = PostgresMemory(dsn, schema=schema)
    with pytest.raises(AgentError) as info:
        await newer.load("c1")
    assert "newer" in str(info.value)
    assert "upgrade exo-agents" in str(info.value)
    await newer.aclose()


@pytest.mark.postgres
async def test_closing_is_idempotent_and_final(schema: str) -> None:
    memory = PostgresMemory(postgres_dsn(), schema=schema)
    await memory.append("c1", tool_turn("a"))
    await memory.aclose()
    await memory.aclose()
    with pytest.raises(AgentError, match="closed"):
        await memory.load("c1")


def _pytest_postgres_case(env_overrides: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in (DSN_VAR, "CI")}
    env.update(env_overrides)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/memory/test_memory_behaviour.py::test_list_and_delete",
            "-k",
            "postgres",
            "-p",
            "no:cacheprovider",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_missing_dsn_fails_in_ci_and_skips_locally() -> None:
    in_ci = _pytest_postgres_case({"CI": "true"})
    assert in_ci.returncode != 0, in_ci.stdout
    assert f"{DSN_VAR} is not set but CI=true" in in_ci.stdout

    # Locally the skip says why after the run, without -rs (the conftest's summary line).
    local = _pytest_postgres_case({})
    assert local.returncode == 0, local.stdout
    summary = f"1 skipped: PostgreSQL memory tests need {DSN_VAR} (run `source .ci/postgres.sh`)"
    assert summary in local.stdout.splitlines()
