"""exo's own worker threads for sync tools, never the event loop's default executor.

The default executor is small (``min(32, cores + 4)`` threads) and shared with everything
else in the process: the HTTP clients resolve host names there, and user code calls
``loop.run_in_executor(None, ...)``. Sync tools that block (``time.sleep``, slow I/O) would
starve all of it. So a :class:`ToolThreads` pool, owned by a :class:`~exo.runner.Runner`,
runs them, and each run takes at most its agent's ``max_tool_threads`` of it at once (a
:class:`ToolLane`), so one run's blocked tools leave threads for the others.

A function run here never raises across the thread boundary: its outcome comes back as data
(:class:`Outcome`), so exceptions a future cannot carry (``StopIteration``) or that mean
something else to the event loop (``GeneratorExit``, ``CancelledError``) stay the tool's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

__all__ = ["Outcome", "ToolLane", "ToolThreads", "capture", "run_in_own_thread"]


class Outcome(NamedTuple):
    """What a function did: returned ``value``, or raised ``error``.

    A named tuple, not a dataclass: one is made per tool call, and a tuple is the cheapest.
    """

    value: Any = None
    error: BaseException | None = None


def capture(fn: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> Outcome:
    """Call ``fn`` and return its outcome; nothing it raises escapes."""
    try:
        return Outcome(value=fn(*args, **kwargs))
    except BaseException as exc:  # every outcome is data for the caller to judge
        return Outcome(error=exc)


class ToolThreads:
    """A pool of worker threads for sync tools, started on first use.

    Args:
        size: Most threads in the pool (shared by every run of the owning runner).
    """

    __slots__ = ("_lock", "_pool", "size")

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def executor(self) -> ThreadPoolExecutor:
        """The pool (created on first use: a runner whose tools are all async starts none)."""
        if self._pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(self.size, thread_name_prefix="exo-tool")
        return self._pool

    def lane(self, limit: int) -> ToolLane:
        """A run's share of the pool: at most ``limit`` of its sync tools at once."""
        return ToolLane(self, limit)

    def shutdown(self) -> None:
        """Stop the pool's threads once their current calls end (a new pool starts on use)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def __repr__(self) -> str:
        return f"ToolThreads(size={self.size}, started={self._pool is not None})"


class ToolLane:
    """One run's share of a :class:`ToolThreads` pool."""

    __slots__ = ("_gate", "limit", "threads")

    def __init__(self, threads: ToolThreads, limit: int) -> None:
        self.threads = threads
        self.limit = limit
        self._gate: asyncio.Semaphore | None = None

    async def run(self, fn: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> Outcome:
        """Run ``fn`` in a worker thread (with this task's context variables)."""
        if self._gate is None:
            self._gate = asyncio.Semaphore(self.limit)
        async with self._gate:
            call = contextvars.copy_context().run
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(
                self.threads.executor(), call, capture, fn, args, kwargs
            )


async def run_in_own_thread(
    fn: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]
) -> Outcome:
    """Run ``fn`` in a thread of its own (a tool called outside any run)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[Outcome] = loop.create_future()
    call = contextvars.copy_context().run

    def work() -> None:
        outcome = call(capture, fn, args, kwargs)
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits
            loop.call_soon_threadsafe(_settle, done, outcome)

    threading.Thread(target=work, name="exo-tool", daemon=True).start()
    return await done


def _settle(future: asyncio.Future[Outcome], outcome: Outcome) -> None:
    if not future.done():
        future.set_result(outcome)
