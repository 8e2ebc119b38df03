"""MCP servers written with the official SDK, for the client tests.

Run as a script it serves over stdio (``python servers.py``) or streamable HTTP
(``python servers.py --http PORT``). Its tools cover what the client must handle: text,
structured output, images, an error result, a raised error, a hang, a crash, a tool list
that changes, and a call that reports whether it was cancelled.
"""

from __future__ import annotations

import asyncio
import base64
import os
import sys
from pathlib import Path

from mcp import MCPError
from mcp.server.mcpserver import Context, Image, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel

PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


class Sum(BaseModel):
    total: int
    terms: int


def build() -> MCPServer:
    server = MCPServer("exo-test-server", log_level="CRITICAL")

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @server.tool(structured_output=False)
    def echo(text: str) -> str:
        """Repeat the text."""
        return text

    @server.tool()
    def total(numbers: list[int]) -> Sum:
        """Sum numbers (structured output)."""
        return Sum(total=sum(numbers), terms=len(numbers))

    @server.tool()
    def picture() -> Image:
        """A one-pixel PNG."""
        return Image(data=PIXEL, format="png")

    @server.tool()
    def fail(reason: str) -> str:
        """Fail on purpose (the server makes it an isError result with this text)."""
        raise ToolError(f"cannot do it: {reason}")

    @server.tool()
    def refuse() -> str:
        """Answer with a JSON-RPC error instead of a result."""
        raise MCPError(code=-32602, message="refused: this tool never works")

    @server.tool()
    async def hang() -> str:
        """Never answer."""
        await asyncio.sleep(3600)
        return "late"

    @server.tool()
    async def slow(marker: str) -> str:
        """Say it started (marker.started), wait until cancelled, then write the marker."""
        Path(marker + ".started").write_text("started")  # noqa: ASYNC240 - a test's marker
        try:
            await asyncio.sleep(3600)
        except BaseException:
            Path(marker).write_text("cancelled")  # noqa: ASYNC240 - a test's marker, once
            raise
        return "done"

    @server.tool()
    def crash() -> str:
        """Kill the server process mid-call."""
        os._exit(3)

    @server.tool()
    async def grow(ctx: Context) -> str:
        """Add a tool named 'extra' and tell the client the list changed."""

        def extra() -> str:
            """A tool that appeared later."""
            return "extra!"

        server.add_tool(extra)
        await ctx.session.send_tool_list_changed()
        return "grown"

    @server.tool(name="weird.name/with spaces")
    def weird() -> str:
        """A name no model API accepts as it is."""
        return "weird"

    @server.tool()
    def pid() -> int:
        """The server's process id."""
        return os.getpid()

    return server


if __name__ == "__main__":
    app = build()
    if len(sys.argv) == 3 and sys.argv[1] == "--http":
        app.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        app.run()
