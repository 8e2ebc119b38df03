"""Use any MCP server's tools: ``Agent(tools=[MCPServerStdio("python", ["server.py"])])``.

:class:`MCPServerStdio` runs a server as a child process; :class:`MCPServerHTTP` reaches one
over streamable HTTP. Both are :class:`~exo.toolsets.Toolset` objects: put them in an agent's
``tools`` next to functions. They need the official SDK (``pip install 'exo-agents[mcp]'``),
which is imported when a server connects, never by ``import exo``. See ``docs/mcp.md``.
"""

from exo.mcp._client import MCPServer, MCPServerHTTP, MCPServerStdio

__all__ = ["MCPServer", "MCPServerHTTP", "MCPServerStdio"]
