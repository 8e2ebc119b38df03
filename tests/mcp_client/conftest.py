"""Fixtures for the MCP client tests: real servers written with the official SDK."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mcp", reason="needs the MCP SDK: pip install 'exo-agents[mcp]'")

from mcp.client._memory import InMemoryTransport

from exo.mcp import MCPServer, MCPServerHTTP, MCPServerStdio

HERE = Path(__file__).resolve().parent
SERVERS = str(HERE / "mcp_servers.py")


def children() -> set[int]:
    """The process ids whose parent is this process (read from /proc)."""
    mine = os.getpid()
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == mine and fields[0] != "Z":
            found.add(int(entry.name))
    return found


class InProcess(MCPServer):
    """An SDK server object run in this process, over the SDK's in-memory streams."""

    def __init__(self, server: Any, **options: Any) -> None:
        self.server = server
        super().__init__(name=options.pop("name", "inproc"), **options)

    def _transport(self) -> AbstractAsyncContextManager[tuple[Any, Any]]:
        return InMemoryTransport(self.server)


def stdio(**options: Any) -> MCPServerStdio:
    return MCPServerStdio(sys.executable, [SERVERS], **options)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def http_url() -> Iterator[str]:
    """The test server over streamable HTTP on loopback, in a child process."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, SERVERS, "--http", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(300):  # up to ~30 s on a busy machine
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError("the HTTP MCP test server exited") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(params=["stdio", "http", "inprocess"])
async def server(request: pytest.FixtureRequest) -> AsyncIterator[MCPServer]:
    """The test server over each transport, closed after the test."""
    if request.param == "stdio":
        made: MCPServer = stdio(prefix="t")
    elif request.param == "http":
        made = MCPServerHTTP(request.getfixturevalue("http_url"), prefix="t")
    else:
        from mcp_servers import build

        made = InProcess(build(), prefix="t")
    async with made:
        yield made
