"""MCP servers for the ``exo`` command: ``--mcp "python my_server.py"`` and ``mcp:`` in agent
files.

On the command line each ``--mcp`` is one server's command line (split like a shell would,
run in the current directory). In an agent file, ``mcp:`` lists servers as command lines (run
in the agent file's directory, like its tool paths) or as tables::

    mcp:
      - python my_server.py
      - {command: npx, args: [-y, "@modelcontextprotocol/server-filesystem", "."], prefix: fs}
      - {url: "http://127.0.0.1:8000/mcp", headers: {Authorization: "Bearer ..."}}
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from exo.agent import Agent
from exo.errors import ConfigError

__all__ = ["McpOpt", "servers_from_file", "with_mcp"]

McpOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--mcp",
        help='An MCP server\'s command line, e.g. "python server.py" (repeatable); its '
        "tools join the agent's.",
        show_default=False,
    ),
]

_STDIO_KEYS = {"command", "args", "env", "cwd", "name", "prefix", "timeout", "connect_timeout"}
_HTTP_KEYS = {"url", "headers", "name", "prefix", "timeout", "connect_timeout"}


def with_mcp(agent: Agent[Any], command_lines: Sequence[str] | None) -> Agent[Any]:
    """Return ``agent`` with one stdio MCP server more per ``--mcp`` command line."""
    if not command_lines:
        return agent
    from exo.mcp import MCPServerStdio

    servers = [MCPServerStdio.from_command_line(line) for line in command_lines]
    return agent.replace(tools=[*agent.tools, *servers])


def servers_from_file(entries: object, *, base: Path) -> list[Any]:
    """The MCP servers an agent file's ``mcp:`` list names.

    Raises:
        ConfigError: the list or one of its entries is malformed.
    """
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise ConfigError(
            "mcp must be a list of servers: command lines or tables with command or url",
            parameter="mcp",
        )
    return [_server(entry, base) for entry in entries]


def _server(entry: object, base: Path) -> Any:
    from exo.mcp import MCPServerHTTP, MCPServerStdio

    if isinstance(entry, str):
        return MCPServerStdio.from_command_line(entry, cwd=base)
    if not isinstance(entry, dict):
        raise ConfigError(f"mcp: cannot read the entry {entry!r}", parameter="mcp")
    kind, allowed = ("url", _HTTP_KEYS) if "url" in entry else ("command", _STDIO_KEYS)
    unknown = sorted(set(entry) - allowed)
    if unknown or kind not in entry:
        raise ConfigError(
            f"mcp: the entry {entry!r} needs 'command' or 'url'"
            + (f" and has unknown keys: {', '.join(unknown)}" if unknown else ""),
            parameter="mcp",
            hint=f"keys for a {kind} server: {', '.join(sorted(allowed))}",
        )
    options = dict(entry)
    if kind == "url":
        return MCPServerHTTP(options.pop("url"), **options)
    options["cwd"] = base / options["cwd"] if "cwd" in options else base
    return MCPServerStdio(options.pop("command"), options.pop("args", ()), **options)
