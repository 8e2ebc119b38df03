"""A sync tool still blocked when its run ends cannot hold the process open.

Found by the outside test: exo's tool threads came from a ``ThreadPoolExecutor``, whose
threads the interpreter joins at exit, so a script whose run was timed out (or cancelled,
or interrupted with Ctrl-C) while a tool waited on ``input()``, a socket or a long sleep did
not exit until the tool returned: forever, for a tool that never does. The pool's threads
are now daemon threads; the pool itself keeps ``ThreadPoolExecutor``'s behaviour.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from concurrent.futures import CancelledError, Future

import pytest

from exo._threads import DaemonPool

SCRIPT = textwrap.dedent(
    """
    import asyncio, threading
    from exo import Agent, ToolResult, run
    from exo.testing import FunctionModel, call

    def wait_forever() -> str:
        '''Waits on something that never comes.'''
        threading.Event().wait()
        return "never"

    def reply(messages, info):
        if not any(isinstance(m, ToolResult) for m in messages):
            return call("wait_forever", "{}")
        return "done"

    async def main():
        agent = Agent(name="a", model="test:m", tools=[wait_forever])
        task = asyncio.ensure_future(run(agent, "go", provider=FunctionModel(reply)))
        while not any(t.name.startswith("exo-tool") for t in threading.enumerate()):
            await asyncio.sleep(0.01)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            print("cancelled", flush=True)

    asyncio.run(main())
    print("exiting", flush=True)
    """
)


def test_a_process_whose_cancelled_run_left_a_tool_blocked_exits() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        # a guard against a hang (the tool never returns): not a measure of speed
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("the process did not exit: the blocked tool's thread held it open")
    assert proc.returncode == 0, err
    assert out.split() == ["cancelled", "exiting"]


def test_the_pool_reuses_an_idle_thread_and_starts_new_ones_up_to_its_size() -> None:
    pool = DaemonPool(2, name="t")
    assert pool.submit(lambda: 1).result(10) == 1
    assert pool.submit(lambda: 2).result(10) == 2
    assert len(pool._threads) == 1  # the idle one took the second call
    gate = threading.Event()
    blocked = [pool.submit(gate.wait, 10) for _ in range(3)]  # two run, one waits
    assert len(pool._threads) == 2
    assert all(t.daemon for t in pool._threads)
    gate.set()
    assert [f.result(10) for f in blocked] == [True, True, True]
    pool.shutdown(wait=True)
    assert not any(t.is_alive() for t in pool._threads)


def test_the_pool_carries_exceptions_and_cancels_queued_calls_on_shutdown() -> None:
    pool = DaemonPool(1)

    def boom() -> None:
        raise KeyError("k")

    with pytest.raises(KeyError):
        pool.submit(boom).result(10)
    gate = threading.Event()
    started = threading.Event()

    def hold() -> bool:
        started.set()
        return gate.wait(10)

    running = pool.submit(hold)
    assert started.wait(10)  # the worker has it (a guard, not a timing)
    queued: Future[object] = pool.submit(lambda: "late")
    pool.shutdown(wait=False, cancel_futures=True)
    with pytest.raises(CancelledError):
        queued.result(10)
    with pytest.raises(RuntimeError):
        pool.submit(lambda: None)
    gate.set()
    assert running.result(10) is True
