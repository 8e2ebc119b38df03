"""What serving an agent over MCP adds to one call: ``run()`` directly vs the SDK's client.

The agent is a planning researcher with one tool on the offline test model (``test:demo``:
a planner call, a tool round, an answer; 3 model calls), so what differs between the rows is
the protocol: JSON-RPC framing and validation in the SDK, progress notifications, and the
transport. Calls are sequential; each row reports the median and p90 wall time per call.

    python benchmarks/mcp_serve.py                # N=200 per row
    python benchmarks/mcp_serve.py --calls 500 --no-progress

Rows: ``run()`` in process; ``mcp.Client(server)`` in process (2026-07-28 direct dispatch,
and the legacy JSON-RPC stream loop); ``exo mcp serve`` as a subprocess over stdio, and over
streamable HTTP on loopback, both from ``ClientSession``.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from mcp import Client, ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from exo import Agent, run
from exo.mcp.serve import server_for

AGENT_PY = '''
from exo import Agent


def search(query: str) -> str:
    """Search the web.

    Args:
        query: What to look for.
    """
    return f"Top results for {query!r}"


agent = Agent(name="researcher", model="test:demo", tools=[search], planning_enabled=True)
'''

TASK = "Compare React vs Svelte"
EXO = str(Path(sys.executable).parent / "exo")


def make_agent() -> Agent:
    namespace: dict[str, object] = {}
    exec(AGENT_PY, namespace)
    agent = namespace["agent"]
    assert isinstance(agent, Agent)
    return agent


async def _noop(progress: float, total: float | None, message: str | None) -> None:
    return None


async def timed(calls: int, once: Callable[[], Awaitable[object]]) -> list[float]:
    for _ in range(min(20, calls)):  # warm up: imports, caches, the first connection's setup
        await once()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        await once()
        times.append(time.perf_counter() - start)
    return times


@asynccontextmanager
async def stdio_session(path: Path) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(command=EXO, args=["mcp", "serve", str(path)])
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


@asynccontextmanager
async def http_session(path: Path) -> AsyncIterator[ClientSession]:
    with tempfile.TemporaryFile("w+") as err:
        process = await asyncio.create_subprocess_exec(
            EXO, "mcp", "serve", str(path), "--http", "0", stderr=err, stdin=subprocess.DEVNULL
        )
        try:
            url = None
            while url is None:
                await asyncio.sleep(0.05)
                err.seek(0)
                found = re.search(r"at (http://\S+/mcp)", err.read())
                url = found.group(1) if found else None
            async with (
                streamable_http_client(url) as (read, write),
                ClientSession(read, write) as session,
            ):
                await session.initialize()
                yield session
        finally:
            process.terminate()
            await process.wait()


async def main(calls: int, progress: bool, path: Path) -> None:
    agent = make_agent()
    on_progress = _noop if progress else None
    rows: list[tuple[str, list[float]]] = []
    rows.append(("run() in process", await timed(calls, lambda: run(agent, TASK))))
    for mode in ("auto", "legacy"):
        async with Client(server_for(agent), mode=mode) as client:
            rows.append(
                (
                    f"mcp.Client in process ({mode})",
                    await timed(
                        calls,
                        lambda c=client: c.call_tool(
                            "researcher", {"task": TASK}, progress_callback=on_progress
                        ),
                    ),
                )
            )
    for label, connect in (("stdio", stdio_session), ("HTTP loopback", http_session)):
        async with connect(path) as session:
            rows.append(
                (
                    f"exo mcp serve, {label}",
                    await timed(
                        calls,
                        lambda s=session: s.call_tool(
                            "researcher", {"task": TASK}, progress_callback=on_progress
                        ),
                    ),
                )
            )
    base = statistics.median(rows[0][1])
    print(f"{calls} sequential calls per row; progress notifications: {progress}")
    print(f"{'':38} {'median':>9} {'p90':>9} {'over run()':>11}")
    for label, times in rows:
        median = statistics.median(times)
        p90 = statistics.quantiles(times, n=10)[-1]
        over = median - base
        print(f"{label:38} {median * 1e3:7.2f}ms {p90 * 1e3:7.2f}ms {over * 1e3:+9.2f}ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--no-progress", action="store_true", help="Ask for no progress.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        agent_file = Path(tmp, "agent.py")
        agent_file.write_text(AGENT_PY, encoding="utf-8")
        asyncio.run(main(args.calls, not args.no_progress, agent_file))
