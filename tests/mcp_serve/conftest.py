"""Connect the official SDK's client to ``exo mcp serve`` running as a real subprocess.

``serve(transport, agent, tmp_path)`` starts ``exo mcp serve tests/mcp_serve/agents.py:AGENT``
over stdio (the SDK's ``stdio_client`` spawns it) or over streamable HTTP on a free loopback
port (``--http 0``; the URL is read from the server's stderr), and yields an initialized
``ClientSession`` (the ``initialize`` handshake); ``stdio-2026`` yields the SDK's high-level
``Client`` instead, which speaks the 2026-07-28 protocol.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import pytest

pytest.importorskip("mcp", reason="needs the mcp extra: pip install 'exo-agents[mcp]'")

from mcp import Client, ClientSession, StdioServerParameters, stdio_client
from mcp.client.session import ElicitationFnT
from mcp.client.streamable_http import streamable_http_client

ROOT = Path(__file__).resolve().parents[2]
AGENTS = Path(__file__).resolve().parent / "agents.py"
EXO = str(Path(sys.executable).parent / "exo")
TIMEOUT = 60.0
"""Seconds any one request may take before the test fails instead of hanging."""

TRANSPORTS = ["stdio", "http"]


def server_env(tmp_path: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The served process's environment: markers and memory in ``tmp_path``, no real keys."""
    env = {
        "EXO_TEST_MARKERS": str(tmp_path),
        "EXO_HOME": str(tmp_path),
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
    }
    return {**env, **(extra or {})}


async def wait_for_file(path: Path) -> None:
    """Wait until ``path`` exists (a guard against a hang, not a timing assertion)."""
    # Another process writes it: nothing here could set an Event, so poll.
    with anyio.fail_after(TIMEOUT):
        while not await anyio.Path(path).exists():  # noqa: ASYNC110
            await anyio.sleep(0.02)


@asynccontextmanager
async def serve(
    transport: str,
    agent: str,
    tmp_path: Path,
    env: dict[str, str] | None = None,
    options: tuple[str, ...] = (),
    elicitation: ElicitationFnT | None = None,
) -> AsyncIterator[Any]:
    """An initialized ``ClientSession`` (or a ``Client`` for ``stdio-2026``) with
    ``exo mcp serve agents.py:AGENT [OPTIONS]`` (or an agent file, ``AGENT.yaml``)."""
    reference = agent if agent.endswith((".yaml", ".toml")) else f"{AGENTS}:{agent}"
    command = ["mcp", "serve", reference, *options]
    environment = server_env(tmp_path, env)
    with (tmp_path / "server.err").open("w+", encoding="utf-8") as errlog:
        if transport == "stdio-2026":  # the high-level Client: discovers, speaks 2026-07-28
            server = StdioServerParameters(command=EXO, args=command, env=environment, cwd=ROOT)
            client = Client(server, read_timeout_seconds=TIMEOUT, elicitation_callback=elicitation)
            async with client:
                assert client.protocol_version == "2026-07-28"
                yield client
            return
        if transport == "stdio":
            params = StdioServerParameters(command=EXO, args=command, env=environment, cwd=ROOT)
            async with (
                stdio_client(params, errlog=errlog) as (read, write),
                ClientSession(
                    read, write, read_timeout_seconds=TIMEOUT, elicitation_callback=elicitation
                ) as session,
            ):
                await session.initialize()
                yield session
            return
        process = await anyio.open_process(
            [EXO, *command, "--http", "0"],
            env=environment,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=errlog,
        )
        try:
            url = await _served_url(anyio.Path(tmp_path / "server.err"), process)
            async with (
                streamable_http_client(url) as (read, write),
                ClientSession(
                    read, write, read_timeout_seconds=TIMEOUT, elicitation_callback=elicitation
                ) as session,
            ):
                await session.initialize()
                yield session
        finally:
            process.terminate()
            with anyio.fail_after(TIMEOUT):
                await process.wait()


async def _served_url(errlog: anyio.Path, process: anyio.abc.Process) -> str:
    """The URL the server says it listens on (it writes it to stderr once it does)."""
    with anyio.fail_after(TIMEOUT):
        while True:
            said = await errlog.read_text(encoding="utf-8")
            found = re.search(r"at (http://\S+/mcp)", said)
            if found:
                return found.group(1)
            if process.returncode is not None:
                raise AssertionError(f"the server exited: {said}")
            await anyio.sleep(0.05)
