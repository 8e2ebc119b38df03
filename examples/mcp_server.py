"""A small MCP server, written with the official SDK, whose tools an exo agent can use.

    exo run "How many words are in 'the quick brown fox'?" --mcp "python examples/mcp_server.py"

or, from Python, ``Agent(tools=[MCPServerStdio("python", ["examples/mcp_server.py"])])``
(see docs/mcp.md). Run it alone and it serves over stdio; ``--http PORT`` serves streamable
HTTP on 127.0.0.1:PORT/mcp instead.
"""

from __future__ import annotations

import sys

from mcp.server.mcpserver import MCPServer

server = MCPServer("exo-example", log_level="ERROR")


@server.tool(structured_output=False)
def word_count(text: str) -> str:
    """Count the words in a text."""
    return f"{len(text.split())} words"


@server.tool()
def add(a: float, b: float) -> float:
    """Add two numbers."""
    return a + b


@server.tool(structured_output=False)
def shout(text: str) -> str:
    """Return the text in capital letters."""
    return text.upper()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()
