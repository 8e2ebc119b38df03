"""The run stores: SQLite always, PostgreSQL against the server of EXO_TEST_POSTGRES_DSN."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from exo.errors import AgentError
from exo.serve._store import RunRecord, RunStore, SQLiteRunStore, open_store


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[RunStore]:
    if request.param == "sqlite":
        backend: RunStore = SQLiteRunStore(tmp_path / "runs.db")
        yield backend
        await backend.aclose()
        return
    dsn = os.environ.get("EXO_TEST_POSTGRES_DSN")
    if not dsn:
        if os.environ.get("CI"):
            pytest.fail("EXO_TEST_POSTGRES_DSN is not set in CI")
        pytest.skip("PostgreSQL tests need EXO_TEST_POSTGRES_DSN (source .ci/postgres.sh)")
    from exo.serve._store_postgres import PostgresRunStore

    schema = f"exo_test_{uuid.uuid4().hex[:12]}"
    backend = PostgresRunStore(dsn, schema=schema)
    yield backend
    async with backend._conn("dropping the test schema") as conn:
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    await backend.aclose()


def _record(run_id: str, created: str, status: str = "running") -> RunRecord:
    return RunRecord(
        id=run_id,
        agent="helper",
        status=status,
        input=[{"type": "text", "text": "héllo"}],
        conversation_id="c1",
        detailed=True,
        created_at=created,
        updated_at=created,
    )


async def test_runs_and_events_round_trip(store: RunStore) -> None:
    first = _record("run_a", "2026-01-01T00:00:00.000001+00:00")
    await store.save(first, [(1, '{"type": "status"}'), (2, '{"type": "text", "text": "\\u0000"}')])
    later = _record("run_b", "2026-01-02T00:00:00.000001+00:00")
    await store.save(later)
    first.status, first.updated_at = "paused", "2026-01-03T00:00:00.000001+00:00"
    first.state = {"format": "exo.paused_run/1", "nested": [1, 2]}
    first.result = {"output": "ok", "usage": {"requests": 1}}
    await store.save(first, [(3, '{"type": "status", "status": "paused"}')])
    got = await store.get("run_a")
    assert got == first
    assert await store.get("run_missing") is None
    assert [r.id for r in await store.recent(10)] == ["run_b", "run_a"]
    assert [r.id for r in await store.recent(1)] == ["run_b"]
    events = await store.events("run_a")
    assert [seq for seq, _ in events] == [1, 2, 3]
    assert json.loads(events[1][1]) == {"type": "text", "text": "\x00"}
    assert [seq for seq, _ in await store.events("run_a", after=2)] == [3]
    await store.save(first, [(3, '{"type": "status", "status": "paused"}')])  # again: no dup
    assert len(await store.events("run_a")) == 3


def test_open_store_picks_the_backend(tmp_path: Path) -> None:
    assert isinstance(open_store(str(tmp_path / "x.db")), SQLiteRunStore)
    with pytest.raises(AgentError, match=r"\*\*\*"):  # the password never shows
        open_store("mysql://user:secret@host/db")


def _twin(store: RunStore) -> RunStore:
    """A second store on the same database, as a second server process would open it."""
    if isinstance(store, SQLiteRunStore):
        return SQLiteRunStore(store.path)
    from exo.serve._store_postgres import PostgresRunStore

    assert isinstance(store, PostgresRunStore)
    return PostgresRunStore(store._dsn, schema=store._schema)


async def test_concurrent_writers_lose_and_duplicate_nothing(store: RunStore) -> None:
    """Two stores on one database (two servers), each saving 30 runs at once in event
    batches, the same batch twice too (a flush retried): every run and event is there once."""
    other = _twin(store)

    async def write(backend: RunStore, name: str) -> None:
        record = _record(name, "2026-01-01T00:00:00.000001+00:00")
        for start in range(1, 31, 10):
            batch = [
                (seq, json.dumps({"type": "text", "seq": seq})) for seq in range(start, start + 10)
            ]
            await backend.save(record, batch)
            await backend.save(record, batch)
        record.status = "completed"
        await backend.save(record)

    try:
        await asyncio.gather(*(write(store if i % 2 else other, f"run_{i}") for i in range(60)))
        runs = await store.recent(100)
        assert sorted(r.id for r in runs) == sorted(f"run_{i}" for i in range(60))
        assert {r.status for r in runs} == {"completed"}
        for i in (0, 1, 59):
            events = await other.events(f"run_{i}")
            assert [seq for seq, _ in events] == list(range(1, 31))
    finally:
        await other.aclose()
