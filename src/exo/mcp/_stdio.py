"""The stdio transport around the SDK's: the server's error output, and its leftovers.

**Leftovers.** The SDK starts the server in a process group of its own and kills that group
only when the server outlives its grace period after stdin closes. A server that exits on
time but started workers (a wrapper script, ``npx`` and its node, a pool) leaves them
running. After the transport closes, the group's survivors get SIGTERM, then SIGKILL two
seconds later if still there. The server is told apart from other children by its stderr,
which is this module's pipe (Linux, through ``/proc``; elsewhere the SDK's behaviour stays).

**Error output.**

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
import signal
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TextIO

__all__ = ["StderrTail", "StdioServerFailed", "stdio_transport"]

TAIL_BYTES = 2048
"""How much of the server's last error output an error message quotes."""

_JOIN_TIMEOUT = 2.0  # seconds to wait for the pipe's end (a grandchild may hold it open)
_KILL_AFTER = 2.0  # seconds between SIGTERM and SIGKILL for a server's leftover processes


class StdioServerFailed(Exception):
    """The connection to a stdio server failed; the message quotes its error output."""

    explained = True  # errors quote the message alone, not this class's name


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
    group: int | None = None
    try:
        async with stdio_client(params, errlog=tail.writer) as streams:
            group = _server_pid(tail.writer.fileno())
            tail.spawned()
            yield streams
    except Exception as exc:
        if group is not None:  # first, so a leftover holding the pipe does not delay the tail
            _end_group(group)
            group = None
        said = await tail.text()
        if not said:
            raise
        raise StdioServerFailed(
            f"{reason(exc)}; the server's error output ended with:\n{said}"
        ) from exc
    finally:
        tail.spawned()
        if group is not None:
            _end_group(group)


def _server_pid(stderr_fd: int) -> int | None:
    """The pid of the child of this process whose stderr is the pipe ``stderr_fd`` writes."""
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    pipe = f"pipe:[{os.fstat(stderr_fd).st_ino}]"
    mine = str(os.getpid())
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
            if parent == mine and os.readlink(entry / "fd" / "2") == pipe:
                return int(entry.name)
        except (OSError, IndexError):
            continue  # a process that ended meanwhile, or not ours to read
    return None


def _end_group(pgid: int) -> None:
    """SIGTERM what is left of the server's process group; SIGKILL it 2 s later."""
    if not _signal_group(pgid, signal.SIGTERM):
        return  # nothing left: the usual case
    timer = threading.Timer(_KILL_AFTER, _signal_group, (pgid, signal.SIGKILL))
    timer.daemon = True
    timer.start()


def _signal_group(pgid: int, sig: int) -> bool:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True
