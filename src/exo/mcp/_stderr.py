"""A stdio server's error output: passed on to ours, and its tail kept for error messages.

The SDK hands the child ``sys.stderr`` by default, so a server that dies at startup leaves
the user with "Connection closed" and its reason scrolled somewhere else in the terminal (or
nowhere: a notebook's ``sys.stderr`` has no file descriptor for a child to write to). Here
the child writes into a pipe; a daemon thread copies what it writes to ``sys.stderr`` and
keeps the last few KB, which :func:`stdio_transport` puts in the error when the connection
fails.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TextIO

__all__ = ["StderrTail", "StdioServerFailed", "stdio_transport"]

TAIL_BYTES = 2048
"""How much of the server's last error output an error message quotes."""

_JOIN_TIMEOUT = 2.0  # seconds to wait for the pipe's end (a grandchild may hold it open)


class StdioServerFailed(Exception):
    """The connection to a stdio server failed; the message quotes its error output."""


class StderrTail:
    """A pipe for a child's stderr, copied to ours, whose last bytes are kept."""

    def __init__(self) -> None:
        read_fd, write_fd = os.pipe()
        self.writer: TextIO = os.fdopen(write_fd, "w")
        self._reader = os.fdopen(read_fd, "rb", buffering=0)
        self._tail = bytearray()
        self._thread = threading.Thread(target=self._pump, name="exo.mcp stderr", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        with self._reader:
            while chunk := self._reader.read(65536):
                self._tail += chunk
                del self._tail[:-TAIL_BYTES]
                try:
                    sys.stderr.write(chunk.decode("utf-8", "replace"))
                    sys.stderr.flush()
                except Exception:  # a closed or odd sys.stderr must not stop the copy
                    pass

    def spawned(self) -> None:
        """The child has its copy of the pipe: close ours, so its exit ends the pump."""
        if not self.writer.closed:
            self.writer.close()

    async def text(self) -> str:
        """The tail of what the child wrote, once it closed the pipe (or after a short wait)."""
        self.spawned()
        await asyncio.to_thread(self._thread.join, _JOIN_TIMEOUT)
        text = bytes(self._tail).decode("utf-8", "replace").strip()
        return text if len(self._tail) < TAIL_BYTES else "..." + text


@asynccontextmanager
async def stdio_transport(params: Any) -> AsyncIterator[tuple[Any, Any]]:
    """The SDK's stdio transport, with the server's error output kept for error messages.

    Raises:
        StdioServerFailed: the connection failed and the server wrote error output.
    """
    from mcp import stdio_client

    from exo.mcp._connection import reason

    tail = StderrTail()
    try:
        async with stdio_client(params, errlog=tail.writer) as streams:
            tail.spawned()
            yield streams
    except Exception as exc:
        said = await tail.text()
        if not said:
            raise
        raise StdioServerFailed(
            f"{reason(exc)}; the server's error output ended with:\n{said}"
        ) from exc
    finally:
        tail.spawned()
