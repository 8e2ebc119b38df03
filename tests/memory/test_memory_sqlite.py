"""SQLite specifics: file format, schema version, locking and error messages."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest
from memory_samples import tool_turn

from exo.errors import AgentError
from exo.memory import SCHEMA_VERSION
from exo.memory_sqlite import SQLiteMemory


async def test_file_is_wal_with_a_schema_version(tmp_path: Path) -> None:
    memory = SQLiteMemory(tmp_path / "m.db")
    await memory.append("c1", tool_turn("a"))
    await memory.aclose()
    with sqlite3.connect(tmp_path / "m.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("SELECT version FROM exo_schema_version").fetchall() == [
            (SCHEMA_VERSION,)
        ]
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert {"exo_conversations", "exo_turns", "exo_messages"} <= tables


async def test_shares_a_file_with_the_applications_own_tables(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "app.db") as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
        conn.execute("INSERT INTO notes VALUES ('keep me')")
    memory = SQLiteMemory(tmp_path / "app.db")
    await memory.append("c1", tool_turn("a"))
    assert await memory.load("c1") == tool_turn("a")
    await memory.aclose()
    with sqlite3.connect(tmp_path / "app.db") as conn:
        assert conn.execute("SELECT body FROM notes").fetchall() == [("keep me",)]


async def test_a_newer_schema_is_refused_with_advice(tmp_path: Path) -> None:
    memory = SQLiteMemory(tmp_path / "m.db")
    await memory.append("c1", tool_turn("a"))
    await memory.aclose()
    with sqlite3.connect(tmp_path / "m.db") as conn:
        conn.execute("UPDATE exo_schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    newer = SQLiteMemory(tmp_path / "m.db")
    with pytest.raises(AgentError) as info:
        await newer.load("c1")
    assert "newer" in str(info.value)
    assert "upgrade exo-agents" in str(info.value)
    await newer.aclose()


async def test_a_writer_waits_for_another_connections_lock(tmp_path: Path) -> None:
    memory = SQLiteMemory(tmp_path / "m.db")
    await memory.list_conversations()  # create the file and tables
    holder = sqlite3.connect(tmp_path / "m.db", isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.3, lambda: holder.execute("COMMIT"))
    release.start()
    await memory.append("c1", tool_turn("a"))  # blocks on the lock, then succeeds
    release.join()
    holder.close()
    assert await memory.load("c1") == tool_turn("a")
    await memory.aclose()


async def test_a_lock_held_past_the_timeout_is_a_clear_error(tmp_path: Path) -> None:
    memory = SQLiteMemory(tmp_path / "m.db", timeout=0.05)
    await memory.append("c1", tool_turn("a"))
    holder = sqlite3.connect(tmp_path / "m.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(AgentError) as info:
            await memory.append("c1", tool_turn("b"))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert str(tmp_path / "m.db") in str(info.value)
    assert "appending a turn to conversation 'c1'" in str(info.value)
    assert "locked" in str(info.value)
    await memory.append("c1", tool_turn("c"))  # the failed turn left nothing behind
    assert await memory.load("c1") == tool_turn("a") + tool_turn("c")
    await memory.aclose()


async def test_an_unusable_path_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    memory = SQLiteMemory(tmp_path / "file" / "m.db")
    with pytest.raises(AgentError) as info:
        await memory.list_conversations()
    assert str(tmp_path / "file" / "m.db") in str(info.value)
    await memory.aclose()


async def test_a_corrupt_stored_message_is_reported(tmp_path: Path) -> None:
    memory = SQLiteMemory(tmp_path / "m.db")
    await memory.append("c1", tool_turn("a"))
    with sqlite3.connect(tmp_path / "m.db") as conn:
        conn.execute('UPDATE exo_messages SET data = \'{"role": "robot"}\' WHERE position = 1')
    with pytest.raises(AgentError) as info:
        await memory.load("c1")
    assert "stored conversation message is invalid" in str(info.value)
    await memory.aclose()


async def test_closing_is_idempotent_and_final(tmp_path: Path) -> None:
    memory = SQLiteMemory(tmp_path / "m.db")
    await memory.append("c1", tool_turn("a"))
    await memory.aclose()
    await memory.aclose()
    with pytest.raises(AgentError, match="closed"):
        await memory.load("c1")
    reopened = SQLiteMemory(tmp_path / "m.db")
    assert await reopened.load("c1") == tool_turn("a")
    await reopened.aclose()


async def test_close_waits_for_appends_already_queued(tmp_path: Path) -> None:
    memory = SQLiteMemory(tmp_path / "m.db")
    appends = [asyncio.create_task(memory.append(f"c{i}", tool_turn("a"))) for i in range(20)]
    await asyncio.sleep(0)  # the appends are queued on the worker thread
    await memory.aclose()
    await asyncio.gather(*appends)
    reopened = SQLiteMemory(tmp_path / "m.db")
    assert len(await reopened.list_conversations()) == 20
    await reopened.aclose()
