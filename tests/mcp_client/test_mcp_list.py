"""Listing an MCP server's tools, over stdio, streamable HTTP and in process."""

from __future__ import annotations

from exo.mcp import MCPServer


async def test_lists_the_servers_tools_with_prefixed_sanitised_names(server: MCPServer) -> None:
    tools = {t.name: t for t in await server.list_tools()}
    assert {"t_add", "t_echo", "t_picture", "t_fail", "t_weird_name_with_spaces"} <= set(tools)
    assert tools["t_add"].description == "Add two integers."
    schema = tools["t_add"].parameters
    assert schema["type"] == "object"
    assert set(schema["properties"]) == {"a", "b"}
    assert sorted(schema["required"]) == ["a", "b"]
