"""Calling an MCP server's tools from a run: results, errors, images, changes, failures."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from mcp_helpers import result_of, results_of

from conftest import children, stdio
from exo import Agent, ImageBlock, ToolResult, ToolsetError, run
from exo.mcp import MCPServer, MCPServerStdio
from exo.testing import ScriptedModel, call


async def test_text_and_structured_results(server: MCPServer) -> None:
    echo, add, total = await results_of(
        [server],
        ("t_echo", {"text": "héllo"}),
        ("t_add", {"a": 2, "b": 3}),
        ("t_total", {"numbers": [1, 2, 3]}),
    )
    assert (echo.content, echo.is_error) == ("héllo", False)
    assert json.loads(str(add.content)) == {"result": 5}  # an int return is structured output
    assert json.loads(str(total.content)) == {"total": 6, "terms": 3}


async def test_images_become_image_blocks(server: MCPServer) -> None:
    result = await result_of([server], "t_picture")
    assert not result.is_error
    assert isinstance(result.content, list)
    (block,) = result.content
    assert isinstance(block, ImageBlock)
    assert block.media_type == "image/png" and block.data and block.data.startswith("iVBOR")


async def test_an_is_error_result_is_an_error_the_model_reads(server: MCPServer) -> None:
    result = await result_of([server], "t_fail", reason="no disk")
    assert result.is_error
    assert "cannot do it: no disk" in str(result.content)


async def test_an_mcp_error_response_is_an_error_result(server: MCPServer) -> None:
    result = await result_of([server], "t_refuse")
    assert result.is_error
    assert "refused: this tool never works" in str(result.content)


async def test_bad_arguments_never_reach_the_server(server: MCPServer) -> None:
    result = await result_of([server], "t_add", a="two")
    assert result.is_error
    text = str(result.content)
    assert "Invalid arguments for tool 't_add'" in text
    assert "'b' is a required property" in text and "'two' is not of type 'integer'" in text


async def test_list_changed_refreshes_the_cached_list(server: MCPServer) -> None:
    before = await server.list_tools()
    assert await server.list_tools() is before  # cached: no tools/list per run
    grown = await result_of([server], "t_grow")
    assert json.loads(str(grown.content)) == {"result": "grown"}
    for _ in range(200):  # the refresh runs in the background; runs never wait for it
        names = {t.name for t in await server.list_tools()}
        if "t_extra" in names:
            break
        await asyncio.sleep(0.05)
    assert "t_extra" in names
    extra = await result_of([server], "t_extra")
    assert json.loads(str(extra.content)) == {"result": "extra!"}


async def test_a_hanging_server_becomes_an_error_result_after_the_timeout() -> None:
    async with stdio(prefix="t", timeout=2) as server:
        hung, added = await results_of([server], ("t_hang", {}), ("t_add", {"a": 1, "b": 1}))
    assert hung.is_error
    assert "did not answer the call of 'hang' within 2 seconds" in str(hung.content)
    assert json.loads(str(added.content)) == {"result": 2}  # the connection is still good


async def test_a_killed_server_is_an_error_result_and_the_next_run_reconnects() -> None:
    server = stdio(prefix="t")
    try:
        first_pid = json.loads(str((await result_of([server], "t_pid")).content))["result"]
        crashed = await result_of([server], "t_crash")
        assert crashed.is_error
        assert "closed the connection during the call of 'crash'" in str(crashed.content)
        second_pid = json.loads(str((await result_of([server], "t_pid")).content))["result"]
        assert second_pid != first_pid
    finally:
        await server.aclose()
    assert first_pid not in children() and second_pid not in children()


async def test_cancelling_a_run_mid_call_cancels_the_call_on_the_server(tmp_path: Path) -> None:
    marker = tmp_path / "cancelled"
    before = children()  # e.g. the HTTP test server
    server = stdio(prefix="t")
    agent = Agent(name="a", model="test:x", tools=[server])
    model = ScriptedModel([call("t_slow", marker=str(marker)), "done"])
    await server.connect()
    task = asyncio.create_task(run(agent, "go", provider=model))
    started = tmp_path / "cancelled.started"
    for _ in range(600):  # until the server runs the tool (a guard against a hang, not timing)
        await asyncio.sleep(0.05)
        if started.exists():
            break
    assert started.exists()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(200):
        if marker.exists():
            break
        await asyncio.sleep(0.05)
    assert marker.read_text() == "cancelled"  # the server got notifications/cancelled
    await server.aclose()
    assert children() == before


async def test_a_server_that_cannot_start_fails_the_run_with_a_toolset_error() -> None:
    server = MCPServerStdio("/nonexistent/mcp-server", name="missing")
    agent = Agent(name="a", model="test:x", tools=[server])
    with pytest.raises(ToolsetError, match="MCP server 'missing' could not be connected"):
        await run(agent, "go", provider=ScriptedModel(["unused"]))


async def test_a_server_that_exits_at_once_fails_the_run_with_a_toolset_error() -> None:
    before = children()
    server = MCPServerStdio("python3", ["-c", "pass"], name="quitter")
    agent = Agent(name="a", model="test:x", tools=[server])
    with pytest.raises(ToolsetError, match="'quitter' could not be connected"):
        await run(agent, "go", provider=ScriptedModel(["unused"]))
    assert children() == before


async def test_a_hundred_concurrent_runs_share_one_connection() -> None:
    before = children()
    async with stdio(prefix="t") as server:

        async def one(i: int) -> tuple[int, int]:
            add, pid = await results_of([server], ("t_add", {"a": i, "b": 1}), ("t_pid", {}))
            return json.loads(str(add.content))["result"], json.loads(str(pid.content))["result"]

        outcomes = await asyncio.gather(*(one(i) for i in range(100)))
        assert [total for total, _ in outcomes] == [i + 1 for i in range(100)]
        assert len({pid for _, pid in outcomes}) == 1
        assert len(children() - before) == 1


def test_the_event_loop_ending_closes_a_lazy_connection_quietly(tmp_path: Path) -> None:
    script = tmp_path / "lazy.py"
    script.write_text(
        "import asyncio, json, os, sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from mcp_helpers import result_of\n"
        "from conftest import stdio\n"
        "async def main():\n"
        "    r = await result_of([stdio(prefix='t')], 't_pid')\n"
        "    return json.loads(r.content)['result']\n"
        "pid = asyncio.run(main())\n"
        "print(pid, os.path.exists(f'/proc/{pid}'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-W", "error", str(script)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    pid, alive = done.stdout.split()
    assert int(pid) > 0 and alive == "False"
    assert done.stderr == ""


async def test_results_keep_the_tool_result_shape(server: MCPServer) -> None:
    (result,) = await results_of([server], ("t_weird_name_with_spaces", {}))
    assert isinstance(result, ToolResult)
    assert result.tool_name == "t_weird_name_with_spaces"
    assert json.loads(str(result.content)) == {"result": "weird"}


async def test_a_server_that_exits_between_runs_is_started_again_by_the_next_run() -> None:
    async with stdio(prefix="t") as server:
        first_pid = json.loads(str((await result_of([server], "t_pid")).content))["result"]
        before = await server.list_tools()
        os.kill(first_pid, signal.SIGKILL)
        for _ in range(400):  # until the end of its stdout is seen (a guard, not timing)
            if await server.list_tools() is not before:
                break
            await asyncio.sleep(0.05)
        second = await result_of([server], "t_pid")
    assert not second.is_error
    assert json.loads(str(second.content))["result"] != first_pid


def test_the_event_loop_ending_closes_a_lazy_http_connection_quietly(
    tmp_path: Path, http_url: str
) -> None:
    script = tmp_path / "lazy_http.py"
    script.write_text(
        "import asyncio, sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from mcp_helpers import result_of\n"
        "from exo.mcp import MCPServerHTTP\n"
        "async def main():\n"
        f"    server = MCPServerHTTP({http_url!r})\n"
        "    return (await result_of([server], 'echo', text='over http')).content\n"
        "print(asyncio.run(main()))\n"
    )
    done = subprocess.run(
        [sys.executable, "-W", "error", str(script)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "over http\n"
    assert done.stderr == ""
