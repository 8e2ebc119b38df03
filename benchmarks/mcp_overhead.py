"""What exo adds to an MCP tool call, over the bare SDK's ``ClientSession.call_tool``.

Both sides call the same tool (``shout`` of examples/mcp_server.py) on servers of the same
kind, one call of each in turn so that drift on a shared machine hits both alike:

* bare: ``await session.call_tool("shout", {"text": ...})`` on a session of its own;
* exo: ``await tool.call('{"text": ...}')`` on the tool ``MCPServer.list_tools()`` gives,
  which is what a run does per call: parse the model's JSON, validate it against the tool's
  schema (jsonschema), call with a timeout, turn the result into exo content.

    python benchmarks/mcp_overhead.py                  # in process and over stdio
    python benchmarks/mcp_overhead.py --calls 20000

The in-process transport (the SDK's memory streams) shows exo's cost without pipe noise;
stdio shows it next to a real round trip. Reported: the median of this process's CPU time
per call (in process, that includes the server's work; over stdio it does not), so other
load on the machine does not count.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from pathlib import Path
from typing import Any

from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client._memory import InMemoryTransport

from exo.mcp import MCPServer, MCPServerStdio

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
sys.path.insert(0, str(EXAMPLES))

from mcp_server import server as example_server  # noqa: E402


class InProcess(MCPServer):
    """The example server object in this process, over the SDK's memory streams."""

    def __init__(self) -> None:
        super().__init__(name="inprocess")

    def _transport(self) -> AbstractAsyncContextManager[tuple[Any, Any]]:
        return InMemoryTransport(example_server)


async def _cpu(fn: Callable[[], Awaitable[Any]]) -> float:
    # CPU time of this process: what the call costs here, without the waits other processes
    # cause on a shared machine (over stdio the server's own work is in its process)
    start = time.process_time()
    await fn()
    return (time.process_time() - start) * 1e6


async def compare(label: str, bare_transport: Any, exo_server: MCPServer, args: Any) -> None:
    async with AsyncExitStack() as stack:
        read, write = await stack.enter_async_context(bare_transport)
        session = await stack.enter_async_context(ClientSession(read, write))
        await session.initialize()
        await session.list_tools()
        await stack.enter_async_context(exo_server)
        (tool,) = [t for t in await exo_server.list_tools() if t.name == "shout"]

        async def bare() -> Any:
            return await session.call_tool("shout", {"text": "hello"})

        async def via_exo() -> Any:
            return await tool.call('{"text": "hello"}')

        assert (await bare()).content[0].text == "HELLO" and await via_exo() == "HELLO"
        bare_us, exo_us = [], []
        for _ in range(args.calls):  # one of each in turn: drift and GC hit both alike
            bare_us.append(await _cpu(bare))
            exo_us.append(await _cpu(via_exo))
    b, e = statistics.median(bare_us), statistics.median(exo_us)
    print(
        f"{label:<11} bare {b:8.1f} µs/call   exo {e:8.1f} µs/call   exo adds {e - b:6.1f} µs CPU"
    )


async def main(args: argparse.Namespace) -> None:
    print(f"{args.calls} calls each, alternating; median CPU (Python {sys.version.split()[0]})")
    await compare("in process", InMemoryTransport(example_server), InProcess(), args)
    script = str(EXAMPLES / "mcp_server.py")
    params = StdioServerParameters(command=sys.executable, args=[script])
    await compare("stdio", stdio_client(params), MCPServerStdio(sys.executable, [script]), args)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000, help="calls per side")
    asyncio.run(main(parser.parse_args()))
