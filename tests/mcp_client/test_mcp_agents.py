"""MCP tools in agents: the planner's view of them, planning_tools, name clashes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mcp.server.mcpserver import MCPServer as SDKServer
from mcp_servers import build

from conftest import InProcess, stdio
from exo import Agent, ConfigError, ToolsetError, run
from exo.testing import ScriptedModel, call


def lookup(city: str) -> str:
    """Look a city up.

    Args:
        city: The city.
    """
    return f"{city}: sunny"


def tools_seen(model: ScriptedModel, agent_name: str) -> list[list[str]]:
    return [sorted(t.name for t in r.tools) for r in model.requests if r.agent_name == agent_name]


async def test_the_planner_gets_mcp_tools_like_the_agents_own_tools() -> None:
    async with InProcess(build(), prefix="t") as server:
        mcp_names = sorted(t.name for t in await server.list_tools())
        agent = Agent(
            name="r",
            model="test:x",
            tools=[lookup, server],
            planning_enabled=True,
            allow_self_spawn=True,
            context_tools=True,
        )
        model = ScriptedModel(
            {
                "r_planner": [call("t_add", a=1, b=2), "1. add\n2. answer"],
                "r": [call("t_echo", text="hi"), "done"],
            }
        )
        result = await run(agent, "go", provider=model)
    assert result.output == "done"
    planner_views = tools_seen(model, "r_planner")
    assert planner_views == [sorted([*mcp_names, "lookup"])] * 2  # no built-ins for the planner
    executor_view = tools_seen(model, "r")[0]
    assert set(executor_view) >= {*mcp_names, "lookup", "spawn_self", "add_todo"}


async def test_an_agent_without_mcp_tools_plans_with_its_own_tools_only() -> None:
    agent = Agent(name="r", model="test:x", tools=[lookup], planning_enabled=True)
    model = ScriptedModel({"r_planner": ["1. look up"], "r": ["done"]})
    await run(agent, "go", provider=model)
    assert tools_seen(model, "r_planner") == [["lookup"]]


@pytest.mark.parametrize(
    ("planning_tools", "expected"),
    [
        (["lookup"], ["lookup"]),
        (["inproc"], "server"),  # the toolset's name: all its tools
        (["t_echo", "lookup"], ["lookup", "t_echo"]),  # a tool inside, checked at run time
    ],
)
async def test_planning_tools_may_name_a_toolset_or_tools_inside_it(
    planning_tools: list[str], expected: list[str] | str
) -> None:
    async with InProcess(build(), prefix="t") as server:
        mcp_names = sorted(t.name for t in await server.list_tools())
        agent = Agent(
            name="r",
            model="test:x",
            tools=[lookup, server],
            planning_enabled=True,
            planning_tools=planning_tools,
        )
        model = ScriptedModel({"r_planner": ["1. plan"], "r": ["done"]})
        await run(agent, "go", provider=model)
    assert tools_seen(model, "r_planner") == [mcp_names if expected == "server" else expected]


async def test_planning_tools_naming_no_tool_of_any_toolset_fails_at_run_time() -> None:
    server = InProcess(build(), prefix="t")
    agent = Agent(
        name="r", model="test:x", tools=[server], planning_enabled=True, planning_tools=["nope"]
    )
    async with server:
        with pytest.raises(ConfigError, match="planning_tools: no tool or toolset named 'nope'"):
            await run(agent, "go", provider=ScriptedModel(["unused"]))


def test_planning_tools_without_toolsets_are_still_checked_at_construction() -> None:
    with pytest.raises(ConfigError, match="no tool named 'nope'"):
        Agent(name="r", model="test:x", tools=[lookup], planning_tools=["nope"])


def _server_with(name: str) -> SDKServer:
    server = SDKServer("clash", log_level="CRITICAL")

    def same() -> str:
        return "from mcp"

    server.add_tool(same, name=name)
    return server


async def test_a_clash_with_the_agents_own_tool_is_a_config_error_at_run_time() -> None:
    agent = Agent(name="r", model="test:x", tools=[lookup, InProcess(_server_with("lookup"))])
    with pytest.raises(ConfigError, match="toolset 'inproc' has a tool named 'lookup'"):
        await run(agent, "go", provider=ScriptedModel(["unused"]))


async def test_a_clash_with_a_built_in_tool_is_a_config_error_at_run_time() -> None:
    server = InProcess(_server_with("spawn_self"))
    agent = Agent(name="r", model="test:x", tools=[server], allow_self_spawn=True)
    with pytest.raises(ConfigError, match="'spawn_self', which is the name of a built-in tool"):
        await run(agent, "go", provider=ScriptedModel(["unused"]))
    plain = Agent(name="r", model="test:x", tools=[server])  # no spawning: no clash
    result = await run(plain, "go", provider=ScriptedModel([call("spawn_self"), "ok"]))
    assert json.loads(str(result.messages[-2].content)) == {"result": "from mcp"}


async def test_two_servers_with_the_same_tools_clash_unless_prefixed() -> None:
    first, second = InProcess(build(), name="one"), InProcess(build(), name="two")
    agent = Agent(name="r", model="test:x", tools=[first, second])
    with pytest.raises(ConfigError, match="toolset 'two' has a tool named 'add', and so has"):
        await run(agent, "go", provider=ScriptedModel(["unused"]))
    apart = Agent(
        name="r",
        model="test:x",
        tools=[
            InProcess(build(), name="one", prefix="a"),
            InProcess(build(), name="two", prefix="b"),
        ],
    )
    result = await run(apart, "go", provider=ScriptedModel([call("b_echo", text="x"), "ok"]))
    assert result.output == "ok"


def test_toolsets_need_distinct_names() -> None:
    with pytest.raises(ConfigError, match="two toolsets are named 'inproc'"):
        Agent(name="r", model="test:x", tools=[InProcess(build()), InProcess(build())])


def test_one_server_serves_runs_in_successive_event_loops() -> None:
    server = stdio(prefix="t")
    agent = Agent(name="r", model="test:x", tools=[server])
    script = [call("t_echo", text="again"), "done"]
    first = run.sync(agent, "go", provider=ScriptedModel(list(script)))
    second = run.sync(agent, "go", provider=ScriptedModel(list(script)))
    assert first.messages[-2].content == second.messages[-2].content == "again"


async def test_approve_tools_may_name_an_mcp_tool_and_the_run_pauses_and_resumes() -> None:
    async with InProcess(build(), prefix="t") as server:
        agent = Agent(name="r", model="test:x", tools=[server], approve_tools=["t_echo"])
        model = ScriptedModel([call("t_echo", text="approved"), "done"])
        paused = await run(agent, "go", provider=model)
        assert paused.status == "paused"
        (request,) = paused.pending
        resumed = await run(
            agent, resume=paused.state, approvals={request.call_id: True}, provider=model
        )
    assert resumed.output == "done"
    assert resumed.messages[-2].content == "approved"


async def test_approve_tools_naming_no_tool_of_any_toolset_fails_at_run_time() -> None:
    agent = Agent(name="r", model="test:x", tools=[InProcess(build())], approve_tools=["nope"])
    with pytest.raises(ConfigError, match="approve_tools: no tool named 'nope'"):
        await run(agent, "go", provider=ScriptedModel(["unused"]))


async def test_spawned_children_use_the_parents_mcp_tools() -> None:
    async with InProcess(build(), prefix="t") as server:
        agent = Agent(name="r", model="test:x", tools=[server], allow_self_spawn=True)
        model = ScriptedModel(
            {
                "r": [call("spawn_self", tasks=["echo it"]), "all done"],
                "r_child_1": [call("t_echo", text="from the child"), "child done"],
            }
        )
        result = await run(agent, "go", provider=model)
    assert result.output == "all done"
    child_requests = [r for r in model.requests if r.agent_name == "r_child_1"]
    assert "t_echo" in {t.name for t in child_requests[0].tools}
    assert child_requests[-1].messages[-1].content == "from the child"  # the MCP tool's result


class Failing:
    name = "flaky"

    async def list_tools(self) -> list[Any]:
        raise KeyError("index")


async def test_a_toolset_that_raises_while_listing_fails_the_run_with_a_toolset_error() -> None:
    agent = Agent(name="r", model="test:x", tools=[Failing()])
    with pytest.raises(ToolsetError, match="toolset 'flaky' could not list its tools: KeyError"):
        await run(agent, "go", provider=ScriptedModel(["unused"]))
