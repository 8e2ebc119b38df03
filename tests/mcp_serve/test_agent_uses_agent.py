"""An exo agent using another exo agent: `exo mcp serve` on one side, MCPServerStdio on the other.

The served agent (``researcher``: planner, two tools, on the offline test model) runs in its
own process; the calling agent reaches it through ``exo.mcp.MCPServerStdio`` like any MCP
server, and its model decides when to call it. Both sides are the real thing: the official
SDK over stdio, exo's own server and client.
"""

from __future__ import annotations

from pathlib import Path

from tests.mcp_serve.conftest import AGENTS, EXO, ROOT, server_env

from exo import Agent, run
from exo.mcp import MCPServerStdio
from exo.testing import ScriptedModel, call
from exo.types import ToolResult, text_of


async def test_an_agent_calls_a_served_agent_as_a_tool(tmp_path: Path) -> None:
    served = MCPServerStdio(
        EXO,
        ["mcp", "serve", f"{AGENTS}:researcher"],
        env=server_env(tmp_path),
        cwd=str(ROOT),
        prefix="team",
    )
    async with served:
        tools = await served.list_tools()
        assert [t.name for t in tools] == ["team_researcher"]
        boss = Agent(name="boss", model="test:boss", tools=[served], planning_enabled=True)
        model = ScriptedModel(
            {
                "boss_planner": ["1. Ask the researcher.\n2. Report."],
                "boss": [call("team_researcher", task="compare React and Svelte"), "Reported."],
            }
        )
        result = await run(boss, "Research front-end frameworks", provider=model)
    assert result.output == "Reported."
    # The planner was offered the served agent like any other user tool.
    assert [s.name for s in model.requests[0].tools] == ["team_researcher"]
    answer = next(m for m in result.messages if isinstance(m, ToolResult))
    assert not answer.is_error, text_of(answer.content)
    text = text_of(answer.content)
    # The served researcher got the task, called its own tools in its own process, and
    # answered (the test model's numbered summary names the task and each tool's result).
    assert text.splitlines() == [
        "1. Understand the task: compare React and Svelte",
        "2. Use search: Top results for 'example': docs, benchmarks",
        "3. Use summarize: summary of example",
        "4. Report the answer.",
    ]
