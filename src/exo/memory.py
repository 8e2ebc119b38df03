"""Conversation memory: the :class:`Memory` protocol, the in-process backend, and
:func:`resolve_memory`.

A conversation is an ordered list of *turns*. A turn is what one successful run added: the
user's original input, then every assistant message and tool result of the run. Backends store
whole turns atomically and hand history back as whole turns, so a model never sees half a turn
or a tool call without its result.

Backends:

- :class:`InMemoryMemory` (here): this process only, gone when it exits.
- :class:`exo.memory_sqlite.SQLiteMemory`: one SQLite file; the embedded default.
- :class:`exo.memory_postgres.PostgresMemory`: PostgreSQL via asyncpg (``exo-agents[postgres]``).

The helpers below (:func:`encode_messages`, :func:`decode_messages`, :func:`estimate_tokens`,
:func:`check_conversation_id`) are what the built-in backends share; your own backend may use
them too.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable
from urllib.parse import urlsplit

from pydantic import ValidationError
from pydantic_core import PydanticSerializationError

from exo._lazy import lazy_adapter
from exo._tokens import estimate_tokens
from exo.errors import AgentError, ConfigError
from exo.types import (
    MESSAGES_ADAPTER,
    AssistantMessage,
    Message,
    SystemMessage,
    ToolResult,
    Usage,
    UserMessage,
)

if TYPE_CHECKING:
    from pydantic import TypeAdapter

    from exo.memory_postgres import PostgresMemory
    from exo.memory_sqlite import SQLiteMemory

__all__ = [
    "InMemoryMemory",
    "Memory",
    "Turn",
    "check_conversation_id",
    "decode_messages",
    "decode_usage",
    "default_memory_path",
    "encode_messages",
    "encode_usage",
    "estimate_tokens",
    "resolve_memory",
]

SCHEMA_VERSION = 1
"""The storage schema version the SQL backends write (stored in ``exo_schema_version``)."""

MAX_CONVERSATION_ID_LENGTH = 512
_MESSAGE_TYPES = (SystemMessage, UserMessage, AssistantMessage, ToolResult)
_USAGE_ADAPTER: TypeAdapter[Usage] = lazy_adapter(Usage)


@runtime_checkable
class Memory(Protocol):
    """Where conversations live between runs.

    Implementations must be safe for many concurrent runs, store each turn atomically, and
    return history as whole turns.
    """

    async def load(self, conversation_id: str, *, max_tokens: int | None = None) -> list[Message]:
        """Return the conversation's messages in order (``[]`` for an unknown conversation).

        Args:
            conversation_id: The conversation to read.
            max_tokens: When set, only the newest whole turns whose estimated size fits in
                this many tokens (possibly none). A turn is never split, so a tool call always
                comes with its results and history always starts at a user turn.
        """
        ...

    async def append(
        self, conversation_id: str, messages: Sequence[Message], *, usage: Usage | None = None
    ) -> None:
        """Store one finished turn atomically, creating the conversation if it is new.

        Args:
            conversation_id: The conversation to extend.
            messages: The turn's messages, in order.
            usage: What the turn cost, stored with it.
        """
        ...

    async def list_conversations(self) -> list[str]:
        """Return every conversation id, oldest conversation first."""
        ...

    async def delete(self, conversation_id: str) -> None:
        """Delete a conversation and all its turns (no error if it does not exist)."""
        ...

    async def aclose(self) -> None:
        """Release connections and threads; the backend is unusable afterwards."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Turn:
    """One stored turn of a conversation.

    Attributes:
        index: The turn's position in its conversation, from 0.
        messages: The turn's messages, in order.
        usage: What the turn cost, when it was stored with one.
        created_at: When the turn was stored (UTC).
    """

    index: int
    messages: list[Message]
    usage: Usage | None
    created_at: datetime


# --------------------------------------------------------------------------- shared helpers


def check_conversation_id(conversation_id: str) -> str:
    """Return ``conversation_id`` if it is usable.

    Raises:
        ConfigError: It is not a non-empty string of at most 512 characters without NULs.
    """
    if not isinstance(conversation_id, str):
        raise ConfigError(
            f"conversation_id must be a str, not {type(conversation_id).__name__}",
            parameter="conversation_id",
            hint="pass the id of the conversation, e.g. conversation_id='user-42'",
        )
    if not conversation_id or len(conversation_id) > MAX_CONVERSATION_ID_LENGTH:
        raise ConfigError(
            f"conversation_id must be 1 to {MAX_CONVERSATION_ID_LENGTH} characters, "
            f"got {len(conversation_id)}",
            parameter="conversation_id",
        )
    if "\x00" in conversation_id:
        raise ConfigError(
            "conversation_id must not contain NUL characters", parameter="conversation_id"
        )
    return conversation_id


def check_max_tokens(max_tokens: int | None) -> int | None:
    """Return ``max_tokens`` if it is ``None`` or a non-negative int.

    Raises:
        ConfigError: It is anything else.
    """
    if max_tokens is None:
        return None
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 0:
        raise ConfigError(
            f"max_tokens must be None or an int >= 0, got {max_tokens!r}",
            parameter="max_tokens",
        )
    return max_tokens


def encode_messages(messages: Sequence[Message]) -> list[str]:
    """Serialize each message to its own JSON text, validating the whole turn first.

    Raises:
        TypeError: An item is not an exo message.
        ValueError: The turn is empty, or a message cannot be serialized (the error names it).
    """
    if isinstance(messages, str | bytes) or not isinstance(messages, Sequence):
        raise TypeError("messages must be a sequence of exo messages (a list)")
    if not messages:
        raise ValueError("a turn needs at least one message; there is nothing to append")
    encoded: list[str] = []
    for position, message in enumerate(messages):
        if not isinstance(message, _MESSAGE_TYPES):
            raise TypeError(
                f"messages[{position}] is a {type(message).__name__}, not an exo message "
                "(SystemMessage, UserMessage, AssistantMessage or ToolResult)"
            )
        try:
            # Dumping a one-item list keeps to MESSAGES_ADAPTER; strip its brackets.
            data = MESSAGES_ADAPTER.dump_json([message], warnings="error")[1:-1]
        except PydanticSerializationError as exc:
            raise ValueError(f"messages[{position}] cannot be stored as JSON: {exc}") from exc
        encoded.append(data.decode())
    return encoded


def decode_messages(rows: Iterable[str]) -> list[Message]:
    """Validate messages stored by :func:`encode_messages`, in the order given.

    Raises:
        AgentError: A stored message is corrupt or from an incompatible exo version.
    """
    try:
        return MESSAGES_ADAPTER.validate_json("[" + ",".join(rows) + "]")
    except ValidationError as exc:
        raise AgentError(
            f"a stored conversation message is invalid: {exc}",
            hint="the memory store may be corrupt or written by an incompatible exo version",
        ) from exc


def encode_usage(usage: Usage | None) -> str | None:
    """Serialize a turn's usage to JSON text (``None`` stays ``None``)."""
    if usage is None:
        return None
    if not isinstance(usage, Usage):
        raise TypeError(f"usage must be an exo Usage or None, not {type(usage).__name__}")
    return _USAGE_ADAPTER.dump_json(usage).decode()


def decode_usage(data: str | None) -> Usage | None:
    """Validate usage stored by :func:`encode_usage`."""
    return None if data is None else _USAGE_ADAPTER.validate_json(data)


def newest_turns_start(turn_tokens: Sequence[int], max_tokens: int | None) -> int:
    """Return the index of the oldest turn kept when the newest turns must fit ``max_tokens``.

    Returns ``len(turn_tokens)`` when not even the newest turn fits.
    """
    if max_tokens is None:
        return 0
    total = 0
    for index in range(len(turn_tokens) - 1, -1, -1):
        total += turn_tokens[index]
        if total > max_tokens:
            return index + 1
    return 0


def utcnow() -> datetime:
    """Return the current UTC time (turn timestamps)."""
    return datetime.now(UTC)


# --------------------------------------------------------------------------- in-memory backend


@dataclass(frozen=True, slots=True, kw_only=True)
class _StoredTurn:
    messages: list[str]
    tokens: int
    usage: str | None
    created_at: datetime = field(default_factory=utcnow)


class InMemoryMemory:
    """Keep conversations in this process only; they are gone when it exits.

    Messages are stored serialized, exactly as the database backends store them, so the
    behaviour (validation, copies, round-trips) is the same; use it for tests and scripts.
    """

    def __init__(self) -> None:
        self._conversations: dict[str, list[_StoredTurn]] = {}

    def __repr__(self) -> str:
        return f"InMemoryMemory(conversations={len(self._conversations)})"

    async def load(self, conversation_id: str, *, max_tokens: int | None = None) -> list[Message]:
        """Return the conversation's messages (see :meth:`Memory.load`)."""
        turns = self._conversations.get(check_conversation_id(conversation_id), [])
        start = newest_turns_start([t.tokens for t in turns], check_max_tokens(max_tokens))
        return decode_messages(row for turn in turns[start:] for row in turn.messages)

    async def append(
        self, conversation_id: str, messages: Sequence[Message], *, usage: Usage | None = None
    ) -> None:
        """Store one finished turn (see :meth:`Memory.append`)."""
        check_conversation_id(conversation_id)
        turn = _StoredTurn(
            messages=encode_messages(messages),
            tokens=estimate_tokens(messages),
            usage=encode_usage(usage),
        )
        # No await between here and the end: the turn lands whole or not at all.
        self._conversations.setdefault(conversation_id, []).append(turn)

    async def turns(self, conversation_id: str) -> list[Turn]:
        """Return the conversation's turns with their usage and timestamps."""
        stored = self._conversations.get(check_conversation_id(conversation_id), [])
        return [
            Turn(
                index=index,
                messages=decode_messages(turn.messages),
                usage=decode_usage(turn.usage),
                created_at=turn.created_at,
            )
            for index, turn in enumerate(stored)
        ]

    async def list_conversations(self) -> list[str]:
        """Return every conversation id, oldest first."""
        return list(self._conversations)

    async def delete(self, conversation_id: str) -> None:
        """Delete a conversation (no error if it does not exist)."""
        self._conversations.pop(check_conversation_id(conversation_id), None)

    async def aclose(self) -> None:
        """Do nothing: there is nothing to release (the conversations stay readable)."""


# --------------------------------------------------------------------------- resolve_memory


def default_memory_path() -> Path:
    """Return the default SQLite file: ``$EXO_HOME/memory.db``, else ``~/.exo/memory.db``."""
    home = os.environ.get("EXO_HOME")
    base = Path(home).expanduser() if home else Path.home() / ".exo"
    return base / "memory.db"


_ACCEPTED = (
    "None (no memory), 'memory' (this process only), 'sqlite' (the file "
    "$EXO_HOME/memory.db or ~/.exo/memory.db), a SQLite file path such as './chat.db', a "
    "'postgresql://user:password@host:5432/db' URL, or an object implementing exo.memory.Memory"
)


def resolve_memory(value: Memory | str | os.PathLike[str] | None) -> Memory | None:
    """Turn the ``memory=`` setting into a backend, without any I/O.

    Args:
        value: ``None`` (no memory); ``"memory"`` (in-process); ``"sqlite"`` (SQLite at
            :func:`default_memory_path`); a path (a string containing ``/`` or ``\\``, or
            ending in ``.db``/``.sqlite``, or an ``os.PathLike``) for SQLite there; a
            ``postgresql://`` or ``postgres://`` URL for PostgreSQL; or any object with the
            :class:`Memory` methods, returned as is.

    Raises:
        ConfigError: ``value`` is none of these (``parameter == "memory"``).
    """
    if value is None:
        return None
    if isinstance(value, os.PathLike):
        return _sqlite(os.fspath(value))
    if isinstance(value, str):
        return _resolve_string(value)
    if isinstance(value, Memory):
        return value
    raise ConfigError(
        f"memory={type(value).__name__} object is not a memory backend",
        parameter="memory",
        hint=f"pass {_ACCEPTED}",
    )


def _resolve_string(value: str) -> Memory:
    text = value.strip()
    scheme = urlsplit(text).scheme.lower() if "://" in text else ""
    if len(scheme) == 1:  # a Windows drive, as in "C://chats/chat.db"
        scheme = ""
    if scheme in ("postgresql", "postgres"):
        from exo.memory_postgres import PostgresMemory

        return PostgresMemory(text)
    if scheme:
        raise ConfigError(
            f"memory={redact_url(text)!r} uses an unsupported URL scheme {scheme!r}",
            parameter="memory",
            hint=f"pass {_ACCEPTED}",
        )
    if text.lower() == "memory":
        return InMemoryMemory()
    if text.lower() == "sqlite":
        return _sqlite(default_memory_path())
    if "/" in text or "\\" in text or text.lower().endswith((".db", ".sqlite")):
        return _sqlite(text)
    raise ConfigError(
        f"memory={value!r} is not a known memory backend",
        parameter="memory",
        hint=f"pass {_ACCEPTED}",
    )


def _sqlite(path: str | Path) -> SQLiteMemory:
    from exo.memory_sqlite import SQLiteMemory

    return SQLiteMemory(path)


def redact_url(url: str) -> str:
    """Return ``url`` with its password hidden, for reprs and error messages.

    Both places a PostgreSQL URL may carry one are masked with ``***``: the user info
    (``user:password@``) and a ``password=`` query parameter.
    """
    parts = urlsplit(url)
    if parts.password is not None:
        host = parts.netloc.rpartition("@")[2]
        parts = parts._replace(netloc=f"{parts.username or ''}:***@{host}")
    if parts.query:
        query = "&".join(
            "password=***" if item.lower().startswith("password=") else item
            for item in parts.query.split("&")
        )
        parts = parts._replace(query=query)
    return parts.geturl()


if TYPE_CHECKING:  # the backends satisfy the protocol
    _in_memory: Memory = InMemoryMemory()
    _sqlite_memory: Memory = SQLiteMemory("x.db")
    _postgres_memory: Memory = PostgresMemory("postgresql://localhost/db")
