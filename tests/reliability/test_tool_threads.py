"""Sync tools run on exo's own threads: blocked tools never starve the event loop's default
executor (DNS lookups, ``run_in_executor(None, ...)``) or other runs; and ``run.sync`` leaves
nothing behind, however often it is called.
"""

from __future__ import annotations

import asyncio
import gc
import threading
from typing import Any

import pytest

from exo import Agent, ConfigError, Runner, ToolResult, run, tool
from exo._threads import ToolThreads
from exo.testing import AgentInfo, FunctionModel, call
from exo.types import Message

TIMEOUT = 60  # only against a hang; no assertion depends on how long anything takes


class Blocker:
    """A sync tool that blocks its thread (like ``time.sleep``) until released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.running = 0
        self.peak = 0
        self.threads: set[str] = set()

    def __call__(self, n: int) -> str:
        """Wait for the release.

        Args:
            n: The call's number.
        """
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
            self.threads.add(threading.current_thread().name)
        self.release.wait(TIMEOUT)
        with self.lock:
            self.running -= 1
        return f"done {n}"


def _fan_out(tool: str, calls: int) -> FunctionModel:
    def reply(messages: list[Message], info: AgentInfo) -> Any:
        if any(isinstance(m, ToolResult) for m in messages):
            return "all done"
        return [call(tool, n=i) for i in range(calls)]

    return FunctionModel(reply)


async def _until(predicate: Any) -> None:
    # The condition changes in worker threads, which cannot set an asyncio.Event: poll it.
    while not predicate():  # noqa: ASYNC110
        await asyncio.sleep(0.005)


async def test_blocked_sync_tools_leave_the_default_executor_and_other_runs_free() -> None:
    blocker = Blocker()
    busy = Agent(name="busy", model="test:m", tools=[Blocker.__call__.__get__(blocker)])
    busy_run = asyncio.create_task(run(busy, "go", provider=_fan_out("__call__", 50)))
    await asyncio.wait_for(_until(lambda: blocker.running == busy.max_tool_threads), TIMEOUT)

    loop = asyncio.get_running_loop()
    # The default executor (min(32, cores + 4) threads) is free for everyone else.
    assert await asyncio.wait_for(loop.run_in_executor(None, lambda: "free"), TIMEOUT) == "free"
    assert await asyncio.wait_for(loop.getaddrinfo("localhost", 80), TIMEOUT)

    # An unrelated run with a sync tool of its own finishes while the busy run is blocked.
    def quick(n: int) -> str:
        """Answer at once."""
        return f"quick {n}"

    other = Agent(name="other", model="test:m", tools=[quick])
    result = await asyncio.wait_for(run(other, "go", provider=_fan_out("quick", 3)), TIMEOUT)
    assert result.output == "all done"
    assert not busy_run.done()

    blocker.release.set()
    done = await asyncio.wait_for(busy_run, TIMEOUT)
    results = [m for m in done.messages if isinstance(m, ToolResult)]
    assert [r.content for r in results] == [f"done {i}" for i in range(50)]
    assert blocker.peak == busy.max_tool_threads  # one run's share, not the whole pool
    assert all(name.startswith("exo-tool") for name in blocker.threads)


@pytest.mark.parametrize("limit", [1, 3, 8])
async def test_a_run_keeps_at_most_max_tool_threads_sync_tools_running(limit: int) -> None:
    blocker = Blocker()
    blocker.release.set()  # free-running: only the peak matters
    agent = Agent(
        name="a", model="test:m", tools=[Blocker.__call__.__get__(blocker)], max_tool_threads=limit
    )
    await asyncio.wait_for(run(agent, "go", provider=_fan_out("__call__", 12)), TIMEOUT)
    assert 1 <= blocker.peak <= limit


async def test_runs_of_one_runner_share_its_pool() -> None:
    runner = Runner(tool_threads=2)
    blocker = Blocker()
    agent = Agent(name="a", model="test:m", tools=[Blocker.__call__.__get__(blocker)])
    first = asyncio.create_task(runner(agent, "go", provider=_fan_out("__call__", 4)))
    second = asyncio.create_task(runner(agent, "go", provider=_fan_out("__call__", 4)))
    await asyncio.wait_for(_until(lambda: blocker.running == 2), TIMEOUT)
    await asyncio.sleep(0.05)  # give a third thread every chance to start (it must not)
    assert blocker.running == 2
    blocker.release.set()
    await asyncio.wait_for(asyncio.gather(first, second), TIMEOUT)
    assert blocker.peak == 2


@pytest.mark.parametrize("bad", [0, -1, 257, True, 2.5, "4"])
def test_max_tool_threads_is_validated(bad: Any) -> None:
    with pytest.raises(ConfigError) as info:
        Agent(name="a", model="test:m", max_tool_threads=bad)
    assert info.value.parameter == "max_tool_threads"


@pytest.mark.parametrize("bad", [0, 2000, True, "8"])
def test_runner_tool_threads_is_validated(bad: Any) -> None:
    with pytest.raises(ConfigError):
        Runner(tool_threads=bad)


def _live_loops() -> int:
    gc.collect()
    return sum(isinstance(o, asyncio.AbstractEventLoop) for o in gc.get_objects())


def _add(a: int, b: int) -> int:
    """Add (a sync tool, so each call also uses the worker threads)."""
    return a + b


def test_run_sync_leaves_no_loop_behind_over_thousands_of_calls() -> None:
    # "test:m" resolves through the registry, so each call caches a provider in its loop.
    agent = Agent(name="a", model="test:m", tools=[_add])
    run.sync(agent, "warm up")
    before = _live_loops()
    for _ in range(2000):
        result = run.sync(agent, "go")
        assert result.steps == 2
    assert _live_loops() <= before


def test_loops_closed_without_shutting_down_their_generators_are_forgotten_too() -> None:
    agent = Agent(name="a", model="test:m")
    before = _live_loops()
    for _ in range(50):
        loop = asyncio.new_event_loop()
        loop.run_until_complete(run(agent, "go"))
        loop.close()  # no shutdown_asyncgens(): the provider cache must not keep the loop
    del loop
    run.sync(agent, "go")  # the next loop to cache a provider drops the closed ones
    assert _live_loops() <= before


def _where(label: str) -> str:
    """Name the thread this tool runs on.

    Args:
        label: Echoed back.
    """
    return f"{label}:{threading.current_thread().name}"


async def test_an_inline_sync_tool_runs_in_the_event_loop_thread_and_others_do_not() -> None:
    inline = tool(_where, name="inline_where", inline=True)
    threaded = tool(_where, name="threaded_where")
    model = FunctionModel(
        lambda messages, info: "done"
        if any(isinstance(m, ToolResult) for m in messages)
        else [call("inline_where", label="a"), call("threaded_where", label="b")]
    )
    agent = Agent(name="a", model="test:m", tools=[inline, threaded])
    result = await run(agent, "go", provider=model)
    contents = [m.content for m in result.messages if isinstance(m, ToolResult)]
    loop_thread = threading.current_thread().name
    assert contents[0] == f"a:{loop_thread}"
    assert contents[1].startswith("b:exo-tool_")


async def test_an_inline_tool_that_raises_is_an_error_result_like_any_tool() -> None:
    def boom(x: int) -> int:
        """Fail.

        Args:
            x: Ignored.
        """
        raise ValueError(f"bad {x}")

    model = FunctionModel(
        lambda messages, info: "done"
        if any(isinstance(m, ToolResult) for m in messages)
        else call("boom", x=3)
    )
    agent = Agent(name="a", model="test:m", tools=[tool(boom, inline=True)])
    result = await run(agent, "go", provider=model)
    error = next(m for m in result.messages if isinstance(m, ToolResult))
    assert error.is_error and error.content == "Error: tool 'boom' raised ValueError: bad 3"


@pytest.mark.parametrize("bad", [1, "yes", None])
def test_inline_is_validated(bad: Any) -> None:
    with pytest.raises(ConfigError) as info:
        tool(_where, inline=bad)
    assert info.value.parameter == "inline"


async def test_a_sync_call_cancelled_while_queued_never_runs() -> None:
    # One thread, held by a blocker: a second call waits in the queue; cancelling its run
    # drops it before a worker takes it (the hand-off checks its future first).
    threads = ToolThreads(size=1)
    lane = threads.lane(2)
    gate = threading.Event()
    ran: list[str] = []
    held = asyncio.ensure_future(lane.run(gate.wait, [TIMEOUT], {}))
    queued = asyncio.ensure_future(lane.run(ran.append, ["late"], {}))
    await asyncio.sleep(0)  # both handed off: one running, one queued
    queued.cancel()
    with pytest.raises(asyncio.CancelledError):
        await queued
    gate.set()
    assert (await asyncio.wait_for(held, TIMEOUT)).value is True
    done = await asyncio.wait_for(lane.run(ran.append, ["next"], {}), TIMEOUT)
    assert done.error is None and ran == ["next"]
    threads.shutdown()
