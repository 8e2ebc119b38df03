"""resolve_memory: the `memory=` setting → a backend, with no I/O and clear errors."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from exo.errors import ConfigError
from exo.memory import InMemoryMemory, Memory, resolve_memory
from exo.memory_postgres import PostgresMemory
from exo.memory_sqlite import SQLiteMemory
from exo.types import Message, Usage


class ListMemory:
    """A user-written backend: anything with the protocol's methods is accepted as is."""

    async def load(self, conversation_id: str, *, max_tokens: int | None = None) -> list[Message]:
        return []

    async def append(
        self, conversation_id: str, messages: Sequence[Message], *, usage: Usage | None = None
    ) -> None:
        return None

    async def list_conversations(self) -> list[str]:
        return []

    async def delete(self, conversation_id: str) -> None:
        return None

    async def aclose(self) -> None:
        return None


def test_none_means_no_memory() -> None:
    assert resolve_memory(None) is None


def test_memory_word_gives_a_fresh_in_process_store() -> None:
    first, second = resolve_memory("memory"), resolve_memory("memory")
    assert isinstance(first, InMemoryMemory)
    assert first is not second


def test_sqlite_word_uses_exo_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EXO_HOME", str(tmp_path / "exo-home"))
    memory = resolve_memory("sqlite")
    assert isinstance(memory, SQLiteMemory)
    assert memory.path == tmp_path / "exo-home" / "memory.db"


def test_sqlite_word_defaults_to_the_home_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("EXO_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    memory = resolve_memory("SQLite")
    assert isinstance(memory, SQLiteMemory)
    assert memory.path == tmp_path / ".exo" / "memory.db"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("./chat.db", "chat.db"),
        ("data/chat", "data/chat"),
        ("chat.db", "chat.db"),
        ("chat.SQLITE", "chat.SQLITE"),
        ("C:\\chats\\chat", "C:\\chats\\chat"),
        ("C://chats/chat.db", "C://chats/chat.db"),
    ],
)
def test_paths_give_sqlite_there(value: str, expected: str) -> None:
    memory = resolve_memory(value)
    assert isinstance(memory, SQLiteMemory)
    assert memory.path == Path(expected)


def test_path_objects_and_home_paths(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    by_object = resolve_memory(tmp_path / "a.db")
    by_tilde = resolve_memory("~/b.db")
    assert isinstance(by_object, SQLiteMemory) and by_object.path == tmp_path / "a.db"
    assert isinstance(by_tilde, SQLiteMemory) and by_tilde.path == tmp_path / "b.db"


async def test_resolving_does_no_io_until_first_use(tmp_path: Path) -> None:
    memory = resolve_memory(str(tmp_path / "new-dir" / "chat.db"))
    assert memory is not None
    assert not (tmp_path / "new-dir").exists()
    await memory.list_conversations()
    assert (tmp_path / "new-dir" / "chat.db").exists()
    await memory.aclose()


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "PostgreSQL"])
def test_postgres_urls_give_postgres_with_the_password_hidden(scheme: str) -> None:
    memory = resolve_memory(f"{scheme}://exo:hunter2@127.0.0.1:5432/chats")
    assert isinstance(memory, PostgresMemory)
    assert "hunter2" not in repr(memory)
    assert "127.0.0.1:5432/chats" in repr(memory)


def test_an_object_with_the_protocol_is_used_as_is() -> None:
    mine = ListMemory()
    assert isinstance(mine, Memory)
    assert resolve_memory(mine) is mine
    sqlite = SQLiteMemory("x.db")
    assert resolve_memory(sqlite) is sqlite


@pytest.mark.parametrize("value", ["redis", "", "  ", "sqlite3", 42, object(), b"memory", False])
def test_anything_else_is_a_config_error_naming_the_choices(value: object) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_memory(value)  # type: ignore[arg-type]
    assert info.value.parameter == "memory"
    text = str(info.value)
    for choice in ("'memory'", "'sqlite'", "postgresql://", "exo.memory.Memory"):
        assert choice in text


def test_other_url_schemes_are_rejected_without_leaking_the_password() -> None:
    with pytest.raises(ConfigError) as info:
        resolve_memory("mysql://root:hunter2@db.internal/app")
    assert info.value.parameter == "memory"
    assert "mysql" in str(info.value)
    assert "hunter2" not in str(info.value)
    with pytest.raises(ConfigError) as info:
        resolve_memory("postgress://root:hunter2@db/app")  # a typo is not a file path
    assert "hunter2" not in str(info.value)
