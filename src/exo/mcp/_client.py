"""MCP servers as toolsets: :class:`MCPServerStdio` and :class:`MCPServerHTTP`.

A server connects on first use (the first run that lists its tools) or when entered with
``async with``; the connection then serves every run, concurrent ones too, in that event
loop. It closes when the ``async with`` block ends, on :meth:`MCPServer.aclose`, or when the
event loop ends (``asyncio.run`` cancels the connection's owner task, which shuts the server
down). A server whose connection was lost is connected again by the next run.
"""

from __future__ import annotations

import asyncio
import importlib.util
import re
import shlex
import weakref
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from exo.errors import ConfigError, ToolsetError
from exo.mcp._connection import Connection, reason
from exo.mcp._convert import DEFAULT_MAX_RESULT_CHARS
from exo.tools import Tool

__all__ = ["MCPServer", "MCPServerHTTP", "MCPServerStdio"]

DEFAULT_TIMEOUT = 60.0
"""Seconds one tool call may take before it becomes an error result."""

DEFAULT_CONNECT_TIMEOUT = 30.0
"""Seconds a server may take to start, initialize and list its tools."""

_PREFIX = re.compile(r"[A-Za-z0-9_-]{1,40}")
_INSTALL_HINT = "pip install 'exo-agents[mcp]' (the official `mcp` SDK)"


def _require_sdk(what: str) -> None:
    if importlib.util.find_spec("mcp") is None:
        raise ConfigError(f"{what} needs the MCP SDK, which is not installed", hint=_INSTALL_HINT)


def _positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigError(f"{name} must be a number of seconds > 0, got {value!r}", parameter=name)
    return float(value)


class MCPServer:
    """The tools of an MCP server, as a :class:`~exo.toolsets.Toolset` (base class).

    Args:
        name: Names the server in errors and in ``planning_tools``.
        prefix: Put ``prefix_`` before each tool's name (to tell servers' tools apart).
        timeout: Seconds one tool call may take; a call that takes longer is cancelled and
            becomes an error result the model reads.
        connect_timeout: Seconds the server may take to start and list its tools (each
            listing of its changed tools, too).
        max_result_chars: Characters of one tool result kept (text and image data); the
            rest is cut, with a note the model reads.
    """

    def __init__(
        self,
        *,
        name: str,
        prefix: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        max_result_chars: int = DEFAULT_MAX_RESULT_CHARS,
    ) -> None:
        _require_sdk(type(self).__name__)
        if (
            isinstance(max_result_chars, bool)
            or not isinstance(max_result_chars, int)
            or max_result_chars < 1
        ):
            raise ConfigError(
                f"max_result_chars must be an integer >= 1, got {max_result_chars!r}",
                parameter="max_result_chars",
            )
        self.max_result_chars = max_result_chars
        if prefix is not None and (not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix)):
            raise ConfigError(
                f"prefix must be 1 to 40 ASCII letters, digits, '_' or '-', got {prefix!r}",
                parameter="prefix",
            )
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"name must be a non-empty string, got {name!r}", parameter="name")
        self.name = name
        self.prefix = prefix
        self.timeout = _positive("timeout", timeout)
        self.connect_timeout = _positive("connect_timeout", connect_timeout)
        self._connections: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Connection] = (
            weakref.WeakKeyDictionary()
        )
        self._entered = 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"

    def _transport(self) -> AbstractAsyncContextManager[tuple[Any, Any]]:
        """The SDK transport to the server (its read and write streams)."""
        raise NotImplementedError

    async def list_tools(self) -> Sequence[Tool]:
        """Return the server's tools, connecting first if this event loop has no connection.

        The list is cached per connection and listed again, in the background, when the
        server says it changed; the same tuple comes back while nothing changed.

        Raises:
            ToolsetError: the server could not be started, connected or listed.
        """
        connection = await self._connection()
        return connection.tools

    async def connect(self) -> None:
        """Connect now (and list the tools) instead of on first use.

        Raises:
            ToolsetError: the server could not be started, connected or listed.
        """
        await self._connection()

    async def aclose(self) -> None:
        """Close this event loop's connection (the server process ends); a later run
        connects again."""
        loop = asyncio.get_running_loop()
        connection = self._connections.pop(loop, None)
        if connection is not None:
            connection.close()
            await asyncio.gather(asyncio.shield(connection.task), return_exceptions=True)

    async def __aenter__(self) -> Self:
        await self.connect()
        self._entered += 1
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._entered -= 1
        if self._entered == 0:
            await self.aclose()

    async def _connection(self) -> Connection:
        loop = asyncio.get_running_loop()
        connection = self._connections.get(loop)
        if connection is None or (connection.lost is not None and connection.ready.done()):
            if connection is not None:
                connection.close()
            connection = Connection(self, loop)  # no await before it is stored: one per loop
            self._connections[loop] = connection
        if connection.ready.done() and connection.lost is None:
            return connection
        try:
            await asyncio.wait_for(asyncio.shield(connection.ready), self.connect_timeout)
        except TimeoutError:
            self._forget(connection)
            connection.task.cancel()
            raise ToolsetError(
                f"MCP server {self.name!r} did not start and list its tools within "
                f"{self.connect_timeout:g} seconds",
                hint="check that the server starts on its own, or raise connect_timeout=",
            ) from None
        except Exception as exc:
            self._forget(connection)
            raise ToolsetError(
                f"MCP server {self.name!r} could not be connected: {reason(exc)}",
                hint=self._hint(),
            ) from exc
        return connection

    def _forget(self, connection: Connection) -> None:
        loop = asyncio.get_running_loop()
        if self._connections.get(loop) is connection:
            del self._connections[loop]

    def _hint(self) -> str:
        return "check the server's address or command line, and its own error output"


class MCPServerStdio(MCPServer):
    """An MCP server run as a child process, speaking over its stdin and stdout.

    Args:
        command: The program, e.g. ``"python"`` or ``"npx"``.
        args: Its arguments, e.g. ``["my_server.py"]``.
        env: Extra environment variables for it (the SDK passes a safe minimum otherwise:
            ``PATH``, ``HOME``, ...).
        cwd: Its working directory.
        name: Names the server (default: the prefix, else the command line).
        prefix: Put ``prefix_`` before each tool's name.
        timeout: Seconds one tool call may take (then it is an error result).
        connect_timeout: Seconds the server may take to start and list its tools.
        max_result_chars: Characters of one tool result kept (the rest is cut, with a note).
    """

    def __init__(
        self,
        command: str,
        args: Sequence[str] = (),
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
        name: str | None = None,
        prefix: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        max_result_chars: int = DEFAULT_MAX_RESULT_CHARS,
    ) -> None:
        if not isinstance(command, str) or not command.strip():
            raise ConfigError("command must be a non-empty string", parameter="command")
        if isinstance(args, str) or not all(isinstance(a, str) for a in args):
            raise ConfigError(
                "args must be a list of strings", parameter="args", hint="args=['server.py']"
            )
        self.command = command
        self.args = list(args)
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        label = name or prefix or shlex.join([command, *self.args])
        super().__init__(
            name=label,
            prefix=prefix,
            timeout=timeout,
            connect_timeout=connect_timeout,
            max_result_chars=max_result_chars,
        )

    @classmethod
    def from_command_line(cls, command_line: str, **options: Any) -> MCPServerStdio:
        """A server from one shell-style command line, e.g. ``"python my_server.py"``."""
        try:
            words = shlex.split(command_line)
        except ValueError as exc:
            raise ConfigError(
                f"cannot split the MCP command line {command_line!r}: {exc}", parameter="mcp"
            ) from None
        if not words:
            raise ConfigError("the MCP server's command line is empty", parameter="mcp")
        return cls(words[0], words[1:], **options)

    def _transport(self) -> AbstractAsyncContextManager[tuple[Any, Any]]:
        from mcp import StdioServerParameters

        from exo.mcp._stdio import stdio_transport

        params = StdioServerParameters(
            command=self.command, args=self.args, env=self.env, cwd=self.cwd
        )
        return stdio_transport(params)

    def _hint(self) -> str:
        return f"check that `{shlex.join([self.command, *self.args])}` starts an MCP server"


class MCPServerHTTP(MCPServer):
    """An MCP server reached over streamable HTTP.

    Args:
        url: The server's MCP endpoint, e.g. ``"http://127.0.0.1:8000/mcp"``.
        headers: HTTP headers for every request (e.g. ``{"Authorization": "Bearer ..."}``).
        name: Names the server (default: the prefix, else the URL without credentials).
        prefix: Put ``prefix_`` before each tool's name.
        timeout: Seconds one tool call may take (then it is an error result).
        connect_timeout: Seconds the server may take to answer and list its tools.
        max_result_chars: Characters of one tool result kept (the rest is cut, with a note).
    """

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        name: str | None = None,
        prefix: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        max_result_chars: int = DEFAULT_MAX_RESULT_CHARS,
    ) -> None:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ConfigError(
                f"url must be an http:// or https:// address, got {url!r}", parameter="url"
            )
        self.url = url
        self.headers = dict(headers) if headers is not None else None
        shown = re.sub(r"//[^/@]*@", "//", url)  # never a password in a name or a message
        super().__init__(
            name=name or prefix or shown,
            prefix=prefix,
            timeout=timeout,
            connect_timeout=connect_timeout,
            max_result_chars=max_result_chars,
        )

    def _transport(self) -> AbstractAsyncContextManager[tuple[Any, Any]]:
        return _http(self.url, self.headers)

    def _hint(self) -> str:
        return "check that the server is running and that the URL ends with its MCP path"


@asynccontextmanager
async def _http(url: str, headers: dict[str, str] | None) -> AsyncIterator[tuple[Any, Any]]:
    """The streamable HTTP transport over an HTTP client of its own (closed after it)."""
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    async with (
        create_mcp_http_client(headers=headers) as client,
        streamable_http_client(url, http_client=client) as streams,
    ):
        yield streams
