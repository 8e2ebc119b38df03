"""Helpers for the MCP client tests: one scripted run that makes given tool calls."""

from __future__ import annotations

from typing import Any

from exo import Agent, ToolResult, run
from exo.testing import ScriptedModel, call


async def results_of(tools: list[Any], *calls: tuple[str, dict[str, Any]]) -> list[ToolResult]:
    """Run an agent whose model makes ``calls`` one turn after another; return the results."""
    model = ScriptedModel([*(call(name, args) for name, args in calls), "done"])
    agent = Agent(name="a", model="test:x", tools=tools)
    result = await run(agent, "go", provider=model)
    return [m for m in result.messages if isinstance(m, ToolResult)]


async def result_of(tools: list[Any], name: str, **arguments: Any) -> ToolResult:
    """The result of one call of ``name`` in a scripted run."""
    (only,) = await results_of(tools, (name, arguments))
    return only
