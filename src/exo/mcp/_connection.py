"""One live MCP session, owned by a task of its own.

The SDK's transports and ``ClientSession`` are anyio task groups, which must be left by the
task that entered them. A run's task cannot own them (the connection outlives the run and
serves concurrent runs), so each connection gets an owner task that enters the transport and
the session, lists the tools, then waits to be told to stop and leaves them in order. Runs
only send requests through the session, which any task of the loop may do.

When the event loop ends, ``asyncio.run`` cancels the owner like any task left running: it
leaves the session and the transport, whose own shutdown (shielded and bounded in the SDK)
closes the server's stdin, waits for it, then kills its process group, so nothing is left
behind and nothing warns.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

from exo._text import describe
from exo.errors import ToolError
from exo.mcp._convert import convert_result
from exo.mcp._names import tool_names
from exo.tools import Tool

if TYPE_CHECKING:
    from exo.mcp._client import MCPServer

__all__ = ["Connection"]

log = logging.getLogger("exo.mcp")

_LIST_CHANGED = "notifications/tools/list_changed"
_CONNECTION_CLOSED = -32000  # mcp_types.CONNECTION_CLOSED (JSON-RPC implementation error range)


def reason(exc: BaseException) -> str:
    """The innermost cause of ``exc`` as ``TypeName: message`` (task groups wrap it)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = describe(exc)
    if getattr(exc, "explained", False):  # a message of exo's own, already naming the cause
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Connection:
    """A session to one MCP server in one event loop, and its current tool list."""

    def __init__(self, server: MCPServer, loop: asyncio.AbstractEventLoop) -> None:
        self.server = server
        self._loop = loop
        self.session: Any = None
        self.tools: tuple[Tool, ...] = ()
        self.lost: str | None = None  # why calls can no longer go through, once they cannot
        self.ready: asyncio.Future[None] = loop.create_future()
        self.ready.add_done_callback(_consume)  # a failed start nobody waited for stays quiet
        self._stop = asyncio.Event()
        self._refresh: asyncio.Task[None] | None = None
        self._again = False
        self.task = loop.create_task(self._own(), name=f"exo.mcp {server.name}")

    async def _own(self) -> None:
        """Open the transport and the session, list the tools, and hold them until told."""
        from mcp import ClientSession

        try:
            async with AsyncExitStack() as stack:
                read, write = await stack.enter_async_context(self.server._transport())
                session = await stack.enter_async_context(
                    ClientSession(_Watched(read, self), write, message_handler=self._on_message)
                )
                await session.initialize()
                self.session = session
                self.tools = await self._list()
                self.ready.set_result(None)
                try:
                    await self._stop.wait()
                finally:
                    await self._stop_refresh()
        except BaseException as exc:  # the owner ends here: cancelled (the loop ends) or failed
            if not self.ready.done():
                if isinstance(exc, Exception):
                    self.ready.set_exception(exc)
                else:
                    self.ready.cancel()
            elif isinstance(exc, Exception):
                log.warning(
                    "MCP server %r: the connection ended: %s", self.server.name, reason(exc)
                )
        finally:
            self.lost = self.lost or "the connection to it was closed"
            self._forget()

    def _forget(self) -> None:
        """Leave the server's table of connections (if still in it).

        The table is keyed weakly by event loop, but this connection refers to its loop (its
        futures and tasks do), so the entry would keep every ended loop alive: one for each
        ``run.sync`` call of a program.
        """
        connections = self.server._connections
        if connections.get(self._loop) is self:
            del connections[self._loop]

    def close(self) -> None:
        """Tell the owner to leave the session and the transport."""
        self.lost = self.lost or "the connection to it was closed"
        self._stop.set()

    # ------------------------------------------------------------------ tools

    async def _list(self) -> tuple[Tool, ...]:
        """List every page of the server's tools and make exo tools of them."""
        from mcp.types import PaginatedRequestParams

        listed: list[Any] = []
        cursor: str | None = None
        while True:
            params = PaginatedRequestParams(cursor=cursor) if cursor else None
            page = await asyncio.wait_for(
                self.session.list_tools(params=params), self.server.connect_timeout
            )
            listed.extend(page.tools)
            cursor = page.next_cursor
            if not cursor:
                break
        names = tool_names(
            [t.name for t in listed], prefix=self.server.prefix, server=self.server.name
        )
        tools: list[Tool] = []
        for spec, name in zip(listed, names, strict=True):
            try:
                tools.append(self._tool(spec, name))
            except Exception as exc:  # one malformed tool should not cost the server's others
                log.warning("MCP server %r: tool %r left out: %s", self.server.name, spec.name, exc)
        return tuple(tools)

    def _tool(self, spec: Any, name: str) -> Tool:
        remote: str = spec.name

        async def call(arguments: dict[str, Any]) -> Any:
            return await self.call(remote, arguments)

        description = spec.description or getattr(spec, "title", None) or remote
        return Tool.from_schema(name, description, dict(spec.input_schema), call)

    async def _on_message(self, message: Any) -> None:
        if getattr(message, "method", None) == _LIST_CHANGED:
            self._start_refresh()

    def _start_refresh(self) -> None:
        """List the tools again in the background; runs keep the old list meanwhile."""
        if self._refresh is not None and not self._refresh.done():
            self._again = True  # a change announced while listing: list once more after
            return
        self._refresh = asyncio.get_running_loop().create_task(self._relist())

    async def _relist(self) -> None:
        while True:
            self._again = False
            try:
                self.tools = await self._list()
            except Exception as exc:
                log.warning(
                    "MCP server %r: listing its changed tools failed (%s); keeping the old list",
                    self.server.name,
                    reason(exc),
                )
            if not self._again:
                return

    async def _stop_refresh(self) -> None:
        task = self._refresh
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    # ------------------------------------------------------------------ calls

    async def call(self, remote: str, arguments: dict[str, Any]) -> Any:
        """Call tool ``remote``; return its exo result.

        Raises:
            ToolError: the server answered with an error, timed out, or is gone.
        """
        server = self.server
        if self.lost is not None:
            raise ToolError(
                f"MCP server {server.name!r} is not connected ({self.lost}); the tool "
                f"{remote!r} cannot be called in this run"
            )
        from mcp import MCPError

        try:
            async with asyncio.timeout(server.timeout):
                result = await self.session.call_tool(remote, arguments)
        except TimeoutError:
            raise ToolError(
                f"MCP server {server.name!r} did not answer the call of {remote!r} within "
                f"{server.timeout:g} seconds; the call was cancelled. Try again later or do "
                "without this tool."
            ) from None
        except MCPError as exc:
            if exc.code == _CONNECTION_CLOSED:
                self.close()  # the owner cleans up; the next run connects again
                raise ToolError(
                    f"MCP server {server.name!r} closed the connection during the call of "
                    f"{remote!r} (it may have crashed); do without this tool in this run"
                ) from exc
            raise ToolError(f"MCP server {server.name!r}: {describe(exc.message)}") from exc
        except Exception as exc:  # e.g. a result that breaks the tool's own output schema
            raise ToolError(
                f"MCP server {server.name!r}: the call of {remote!r} failed ({reason(exc)})"
            ) from exc
        return convert_result(result, tool=remote, max_chars=server.max_result_chars)


class _Watched:
    """The transport's read stream, telling the connection when the server hangs up.

    A server that exits between runs is then connected again by the next run, instead of
    failing that run's calls. It adds no task and no hop: it only sees the end of the stream
    the session reads anyway (other attributes, e.g. ``last_context``, are the stream's).
    """

    def __init__(self, inner: Any, connection: Connection) -> None:
        self._inner = inner
        self._connection = connection

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def __aenter__(self) -> _Watched:
        await self._inner.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> Any:
        return await self._inner.__aexit__(*exc)

    def __aiter__(self) -> _Watched:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self._inner.__anext__()
        except StopAsyncIteration:
            self._connection.close()  # the server closed the connection (it may have exited)
            raise

    async def receive(self) -> Any:
        import anyio

        try:
            return await self._inner.receive()
        except anyio.EndOfStream:
            self._connection.close()
            raise


def _consume(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()
