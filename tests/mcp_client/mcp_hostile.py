"""An odd MCP server, written with the official SDK, for the client's robustness tests.

``python mcp_hostile.py die`` writes a reason to stderr and exits before speaking MCP;
``python mcp_hostile.py many N`` lists N tools whose names all collide once sanitised
(``ns.tool0``... and ``ns_tool0``...) and a ``big`` tool whose result is SIZE characters
(``--big SIZE``), and a ``picture`` tool returning an image of that many bytes;
``python mcp_hostile.py workers PIDFILE`` starts a worker process first (its pid in PIDFILE),
which outlives the server unless someone ends it.
"""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from mcp.server.mcpserver import Image, MCPServer


def _numbered(i: int) -> Callable[[], str]:
    def tool() -> str:
        return str(i)

    return tool


def build(count: int, big: int) -> MCPServer:
    server = MCPServer("exo-hostile", log_level="CRITICAL")
    for i in range(count):
        server.add_tool(_numbered(i), name=f"ns.tool{i}", description=f"dotted {i}")
        server.add_tool(_numbered(-i), name=f"ns_tool{i}", description=f"plain {i}")

    @server.tool(structured_output=False)
    def big_result() -> str:
        """A result of --big characters."""
        return "x" * big

    @server.tool()
    def big_picture() -> Image:
        """An image of --big bytes (not a real PNG: only its size matters)."""
        return Image(data=base64.b64decode(base64.b64encode(b"\0" * big)), format="png")

    return server


if __name__ == "__main__":
    if sys.argv[1] == "workers":  # start a worker (a grandchild of the client), then serve
        worker = subprocess.Popen(
            ["sleep", "300"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL
        )
        Path(sys.argv[2]).write_text(str(worker.pid))
        build(0, 10).run()
    if sys.argv[1] == "die":
        sys.stderr.write("hostile: cannot read /etc/hostile.toml (no such file)\n")
        sys.exit(3)
    size = int(sys.argv[sys.argv.index("--big") + 1]) if "--big" in sys.argv else 10
    build(int(sys.argv[2]), size).run()
