"""Odd servers: one that dies at startup, thousands of colliding names, huge results."""

from __future__ import annotations

import asyncio
import gc
import sys
import weakref
from pathlib import Path

import pytest
from mcp_helpers import result_of

from conftest import SERVERS
from exo import Agent, ToolResult, run, tool
from exo.errors import ConfigError, ToolsetError
from exo.mcp import MCPServerStdio
from exo.mcp._names import tool_names
from exo.testing import ScriptedModel, call
from exo.types import text_of

HOSTILE = str(Path(__file__).resolve().parent / "mcp_hostile.py")


def hostile(*args: str, **options: object) -> MCPServerStdio:
    return MCPServerStdio(sys.executable, [HOSTILE, *args], **options)  # type: ignore[arg-type]


async def test_a_server_that_exits_at_startup_is_a_toolset_error_quoting_its_stderr() -> None:
    server = hostile("die")
    with pytest.raises(ToolsetError) as caught:
        await server.list_tools()
    message = str(caught.value)
    assert "could not be connected: MCPError: Connection closed; the server's error " in message
    assert "output ended with:\nhostile: cannot read /etc/hostile.toml (no such file)" in message


async def test_thousands_of_tools_whose_names_collide_once_sanitised() -> None:
    async with hostile("many", "1500") as server:
        tools = await server.list_tools()
    names = [t.name for t in tools]
    assert len(names) == 3002 and len(set(names)) == 3002
    assert "ns_tool7" in names  # the server's own valid name is kept as it is
    dotted = [t for t in tools if t.description == "dotted 7"]
    assert dotted[0].name.startswith("ns_tool7_") and len(dotted[0].name) == len("ns_tool7_") + 8


def test_naming_is_not_quadratic_in_the_number_of_tools() -> None:
    # 200k colliding names: a quadratic pass (list.count per name) would take hours.
    remote = [f"n.{i}" for i in range(100_000)] + [f"n_{i}" for i in range(100_000)]
    names = tool_names(remote, prefix=None, server="s")
    assert len(set(names)) == len(remote)
    with pytest.raises(ConfigError, match="collide: a"):
        tool_names(["a", "a", *remote[:1000]], prefix=None, server="s")


async def test_a_huge_text_result_is_cut_with_a_note_then_parked() -> None:
    async with hostile("many", "0", "--big", "3000000", max_result_chars=100_000) as server:
        tools = {t.name: t for t in await server.list_tools()}
        out = await tools["big_result"].invoke({})
        result = await result_of([server], "big_result")
    text = out.value
    assert text.startswith("x" * 100_000 + "\n[cut: ") and "x" * 100_001 not in text
    assert "3,000,000 characters" in text and "max_result_chars keeps 100,000" in text
    # in a run, the cut result is still too long for the transcript: it becomes an artifact
    assert not result.is_error
    assert f"({len(text):,} characters) is stored outside" in str(result.content)


async def test_a_huge_image_becomes_a_note_not_a_block() -> None:
    server = hostile("many", "0", "--big", "300000", max_result_chars=100_000)
    async with server:
        tools = {t.name: t for t in await server.list_tools()}
        out = await tools["big_picture"].invoke({})
    assert out.value == "[image/png data not shown: \n[cut: this part of the result has " + (
        "400,000 characters; the MCP server's max_result_chars keeps 100,000 for the whole result]]"
    )


def test_max_result_chars_must_be_a_positive_integer() -> None:
    for bad in (0, -1, 1.5, True, "10"):
        with pytest.raises(ConfigError, match="max_result_chars"):
            hostile("many", "0", max_result_chars=bad)


def test_run_sync_again_and_again_keeps_no_ended_loop_alive() -> None:
    # Each run.sync is an event loop of its own; a connection kept per ended loop would
    # keep that loop, its session and its streams in memory for the program's life.
    server = MCPServerStdio(sys.executable, [SERVERS], prefix="t")
    loops: list[weakref.ref[asyncio.AbstractEventLoop]] = []

    @tool
    async def note_loop() -> str:
        """Record the run's event loop."""
        loops.append(weakref.ref(asyncio.get_running_loop()))
        return "ok"

    agent = Agent(name="a", model="test:x", tools=[server, note_loop])
    for i in range(3):
        script = [call("note_loop", {}), call("t_add", {"a": i, "b": 1}), "done"]
        result = run.sync(agent, "go", provider=ScriptedModel(script))
        results = [m for m in result.messages if isinstance(m, ToolResult)]
        assert [text_of(m.content) for m in results] == ["ok", f'{{"result": {i + 1}}}']
    gc.collect()
    assert not server._connections
    # the last run's loop may stay referenced by the bound-agent cache until the next run
    assert sum(ref() is not None for ref in loops) <= 1


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie no one reaped, e.g. in a container, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc (Linux)")
async def test_workers_a_server_started_do_not_outlive_it(tmp_path: Path) -> None:
    pidfile = tmp_path / "worker.pid"
    async with hostile("workers", str(pidfile)) as server:
        assert [t.name for t in await server.list_tools()] == ["big_result", "big_picture"]
        worker = int(pidfile.read_text())
        assert _alive(worker)
    for _ in range(200):  # SIGTERM is delivered at once; give the kernel a moment
        if not _alive(worker):
            break
        await asyncio.sleep(0.05)
    assert not _alive(worker)
