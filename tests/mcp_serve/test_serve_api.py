"""``exo.mcp.serve`` in process (``mcp.Client(server)``), and the command's own edges."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import anyio
import pytest
from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp.shared.exceptions import MCPError
from mcp_types import (
    CallToolResult,
    ElicitRequestParams,
    ElicitResult,
    InputRequiredResult,
    TextContent,
)

from exo import Agent
from exo.errors import ConfigError
from exo.mcp._serve_call import progress_message
from exo.mcp.serve import server_for, tool_name
from exo.memory import InMemoryMemory
from exo.models import register_provider, unregister_provider
from exo.testing import AgentInfo, FunctionModel, Reply, call
from exo.types import (
    Message,
    PlanSkippedEvent,
    TextEvent,
    ToolCallEvent,
    ToolResult,
    ToolResultEvent,
    Usage,
    WarningEvent,
    text_of,
)

from .conftest import AGENTS, EXO, TIMEOUT, server_env


def search(query: str) -> str:
    """Search.

    Args:
        query: What to look for.
    """
    return f"results for {query}"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("researcher", "researcher"),
        ("my agent.v2", "my_agent_v2"),
        ("größe/agent", "gr_e_agent"),
        ("  --x--  ", "--x--"),
        ("!!!", "agent"),
        ("a" * 100, "a" * 64),
    ],
)
def test_tool_names_fit_the_model_apis_rules(name: str, expected: str) -> None:
    assert tool_name(name) == expected


def test_without_the_sdk_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mcp.server", None)  # as if mcp were not installed
    agent = Agent(name="researcher", model="test:demo")
    with pytest.raises(ConfigError, match="needs the official MCP SDK") as caught:
        server_for(agent)
    assert caught.value.hint == "pip install 'exo-agents[mcp]'"


def test_server_for_takes_an_agent() -> None:
    with pytest.raises(ConfigError, match=r"server_for\(\) takes an exo\.Agent, got str"):
        server_for("researcher")  # type: ignore[arg-type]


async def test_name_and_description_can_be_given() -> None:
    agent = Agent(name="researcher", model="test:demo", tools=[search])
    async with Client(server_for(agent, name="ask", description="Ask me.")) as client:
        [tool] = (await client.list_tools()).tools
        result = await client.call_tool("ask", {"task": "Why?"})
    assert (tool.name, tool.description) == ("ask", "Ask me.")
    assert "Its tools" not in (tool.description or "")
    assert not result.is_error


async def test_concurrent_calls_on_one_connection_are_independent_runs() -> None:
    agent = Agent(name="researcher", model="test:demo", tools=[search], planning_enabled=True)
    answers: dict[int, str] = {}
    async with Client(server_for(agent)) as client:

        async def ask(i: int) -> None:
            result = await client.call_tool("researcher", {"task": f"question {i}"})
            block = result.content[0]
            assert isinstance(block, TextContent)
            answers[i] = block.text

        async with anyio.create_task_group() as group:
            for i in range(20):
                group.start_soon(ask, i)
    assert len(answers) == 20
    for i, answer in answers.items():
        assert answer.startswith(f"1. Understand the task: question {i}\n")


@pytest.fixture
def executor_inputs() -> Iterator[list[str]]:
    """A ``seen:`` backend whose executor records the task text it was given."""
    inputs: list[str] = []

    def reply(messages: list[Message], info: AgentInfo) -> str:
        if info.agent_name.endswith("_planner"):
            return "1. Look\n2. Answer"
        inputs.append(text_of(messages[-1].content))
        return "done"

    register_provider("seen", lambda model: FunctionModel(reply, model=model))
    yield inputs
    unregister_provider("seen")


@pytest.mark.parametrize("mode", ["legacy", "auto"])
@pytest.mark.parametrize("approve", [True, False])
async def test_a_plan_is_used_only_when_the_clients_user_approves_it(
    executor_inputs: list[str], approve: bool, mode: str
) -> None:
    # legacy: asked during the call; auto (2026-07-28): asked through InputRequiredResult
    agent = Agent(name="careful", model="seen:x", planning_enabled=True, approve_plan=True)
    asked: list[str] = []

    async def elicit(context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        asked.append(params.message)
        return ElicitResult(action="accept", content={"approve": approve})

    async with Client(server_for(agent), mode=mode, elicitation_callback=elicit) as client:
        result = await client.call_tool("careful", {"task": "Tidy up"})
    assert not result.is_error
    assert asked == [
        "The agent 'careful' made this plan:\n\n1. Look\n2. Answer\n\n"
        "Approve it? (No: the agent works without a plan.)"
    ]
    [given] = executor_inputs
    if approve:
        assert given.startswith("Original task:\nTidy up\n\nPlanner output:\n1. Look\n2. Answer")
    else:
        assert given == "Tidy up"  # declined: the executor works without the plan


async def test_a_client_without_elicitation_gets_an_error_and_nothing_runs() -> None:
    agent = Agent(name="careful", model="test:demo", planning_enabled=True, approve_plan=True)
    async with Client(server_for(agent)) as client:
        result = await client.call_tool("careful", {"task": "Tidy up"})
    block = result.content[0]
    assert result.is_error and isinstance(block, TextContent)
    assert block.text.startswith(
        "The agent 'careful' stopped to wait for a person's approval of its plan"
    )


async def test_the_paused_run_travels_sealed_and_a_forged_state_is_refused() -> None:
    agent = Agent(name="careful", model="test:demo", planning_enabled=True, approve_plan=True)

    async def elicit(context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        return ElicitResult(action="accept", content={"approve": True})

    async with Client(server_for(agent), elicitation_callback=elicit) as client:
        first = await client.session.call_tool(
            "careful", {"task": "Tidy up"}, allow_input_required=True
        )
        assert isinstance(first, InputRequiredResult)
        assert first.input_requests is not None and list(first.input_requests) == ["plan"]
        sealed = first.request_state
        assert sealed is not None and "Tidy up" not in sealed  # encrypted, not just signed
        forged = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")
        with pytest.raises(MCPError, match="Invalid or expired requestState"):
            await client.session.call_tool(
                "careful", {"task": "Tidy up"}, request_state=forged, allow_input_required=True
            )
        answer = ElicitResult(action="accept", content={"approve": True})
        done = await client.session.call_tool(
            "careful",
            {"task": "Tidy up"},
            request_state=sealed,
            input_responses={"plan": answer},
            allow_input_required=True,
        )
    assert isinstance(done, CallToolResult) and not done.is_error


async def test_progress_shows_the_steps_of_spawned_children_by_lineage() -> None:
    def reply(messages: list[Message], info: AgentInfo) -> Reply:
        done = any(isinstance(m, ToolResult) for m in messages)
        if info.agent_name == "boss":
            return "all done" if done else call("spawn_self", tasks=["look it up"])
        return "found it" if done else call("search", query="svelte")

    register_provider("family", lambda model: FunctionModel(reply, model=model))
    try:
        agent = Agent(name="boss", model="family:x", tools=[search], allow_self_spawn=True)
        progress: list[str | None] = []

        async def note(value: float, total: float | None, message: str | None) -> None:
            progress.append(message)

        async with Client(server_for(agent)) as client:
            result = await client.call_tool("boss", {"task": "Go"}, progress_callback=note)
    finally:
        unregister_provider("family")
    assert not result.is_error
    assert progress == [
        '→ spawn_self({"tasks": ["look it up"]})',
        '[boss › boss_child_1] → search({"query": "svelte"})',
        "[boss › boss_child_1] ← search: results for svelte",
        "← spawn_self: found it",
    ]


class FullDisk(InMemoryMemory):
    """A memory whose saves fail."""

    async def append(
        self, conversation_id: str, messages: Sequence[Message], *, usage: Usage | None = None
    ) -> None:
        raise OSError("disk full")


async def test_an_answer_whose_turn_could_not_be_saved_is_still_given() -> None:
    agent = Agent(name="researcher", model="test:demo", memory=FullDisk())
    async with Client(server_for(agent)) as client:
        result = await client.call_tool("researcher", {"task": "Why?", "conversation_id": "c"})
    assert not result.is_error
    texts = [b.text for b in result.content if isinstance(b, TextContent)]
    assert texts == [
        "1. Understand the task: Why?\n2. Report the answer.",
        "(This turn was not saved to conversation 'c': disk full.)",
    ]


def test_progress_names_child_agents_and_skips_text() -> None:
    call = ToolCallEvent(
        agent_name="child",
        tool_call_id="c1",
        tool_name="search",
        arguments='{"q": 1}',
        lineage=("parent",),
    )
    long = ToolResultEvent(
        agent_name="a",
        tool_call_id="c1",
        tool_name="search",
        content="x\n" * 300,
        is_error=True,
    )
    assert progress_message(call) == '[parent › child] → search({"q": 1})'
    message = progress_message(long)
    assert message is not None and message.startswith("← search (error): x x x")
    assert len(message) < 230 and message.endswith("…")
    assert progress_message(TextEvent(agent_name="a", text="hi")) is None
    assert progress_message(PlanSkippedEvent(agent_name="a", reason="down")) == (
        "plan skipped: down"
    )
    warning = WarningEvent(agent_name="a", code="plan_cut", message="plan cut")
    assert progress_message(warning) == "warning: plan cut"


LOUD_AGENT = """
from exo import Agent

print("loading the agent")
agent = Agent(name="loud", model="test:demo")
"""


def test_stdout_carries_only_the_protocol_even_when_the_agent_prints(tmp_path: Path) -> None:
    path = tmp_path / "loud.py"
    path.write_text(textwrap.dedent(LOUD_AGENT), encoding="utf-8")
    done = subprocess.run(
        [EXO, "mcp", "serve", str(path)],
        env=server_env(tmp_path),
        stdin=subprocess.DEVNULL,  # the client is gone at once: the server ends
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert "loading the agent" in done.stderr


def test_a_bad_agent_reference_is_a_usage_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [EXO, "mcp", "serve", str(tmp_path / "missing.py")],
        env=server_env(tmp_path),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert "not found" in done.stderr and "Traceback" not in done.stderr


def test_a_busy_port_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "quiet.py"
    path.write_text(LOUD_AGENT.replace('print("loading the agent")', ""), encoding="utf-8")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        done = subprocess.run(
            [EXO, "mcp", "serve", str(path), "--http", str(port)],
            env=server_env(tmp_path),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr


def test_a_client_that_goes_away_mid_call_leaves_nothing_running(tmp_path: Path) -> None:
    # Raw JSON-RPC lines, so the client can vanish without a courtesy cancel: stdin closes.
    process = subprocess.Popen(
        [EXO, "mcp", "serve", f"{AGENTS}:blocker"],
        env=server_env(tmp_path),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None and process.stdout is not None

    def send(message: dict[str, object]) -> None:
        assert process.stdin is not None
        process.stdin.write(json.dumps({"jsonrpc": "2.0", **message}) + "\n")
        process.stdin.flush()

    try:
        send(
            {
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-06-18",
                    "capabilities": {},
                    "clientInfo": {"name": "raw", "version": "0"},
                },
            }
        )
        assert json.loads(process.stdout.readline())["result"]["serverInfo"]["name"] == (
            "exo-blocker"
        )
        send({"method": "notifications/initialized"})
        send(
            {
                "id": 2,
                "method": "tools/call",
                "params": {"name": "blocker", "arguments": {"task": "x"}},
            }
        )
        deadline = time.monotonic() + TIMEOUT  # a guard against a hang, not a timing assertion
        while not (tmp_path / "started").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert (tmp_path / "started").exists()
        process.stdin.close()
        assert process.wait(TIMEOUT) == 0
    finally:
        process.kill()
        process.wait()
    assert (tmp_path / "cancelled").exists()
    assert not (tmp_path / "finished").exists()


async def test_a_state_the_server_never_made_is_refused_for_any_agent() -> None:
    agent = Agent(name="researcher", model="test:demo", tools=[search])
    state = json.dumps({"state": {}, "kinds": {"call_1": "tool"}})  # plaintext: not sealed
    async with Client(server_for(agent)) as client:
        with pytest.raises(MCPError, match="Invalid or expired requestState"):
            await client.session.call_tool(
                "researcher", {"task": "x"}, request_state=state, allow_input_required=True
            )
