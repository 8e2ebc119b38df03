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

The workers are daemon threads (:class:`DaemonPool`), unlike ``ThreadPoolExecutor``'s, which
the interpreter joins at exit: a tool still blocked when its run was cancelled or timed out
(``time.sleep``, ``input()``, a socket without a timeout) would hold the process open until
it returned, after Ctrl-C too.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, NamedTuple

__all__ = ["DaemonPool", "Outcome", "ToolLane", "ToolThreads", "capture", "run_in_own_thread"]


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


class _Job:
    """A call for a concurrent ``Future`` (:meth:`DaemonPool.submit`)."""

    __slots__ = ("args", "fn", "future", "kwargs")

    def __init__(
        self, future: Future[Any], fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Any
    ) -> None:
        self.future, self.fn, self.args, self.kwargs = future, fn, args, kwargs

    def run(self) -> None:
        future = self.future
        if future.set_running_or_notify_cancel():
            try:
                future.set_result(self.fn(*self.args, **self.kwargs))
            except BaseException as exc:  # the future carries it to the caller
                future.set_exception(exc)

    def cancel(self) -> None:
        self.future.cancel()


class _LoopJob:
    """A call whose outcome settles an asyncio future in its event loop
    (:meth:`DaemonPool.hand_off`)."""

    __slots__ = ("call", "future", "loop")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        future: asyncio.Future[Outcome],
        call: Callable[[], Outcome],
    ) -> None:
        self.loop, self.future, self.call = loop, future, call

    def run(self) -> None:
        if self.future.cancelled():  # its task was cancelled before a worker took it
            return
        outcome = self.call()
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits
            self.loop.call_soon_threadsafe(_settle, self.future, outcome)

    def cancel(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self.future.cancel)


class DaemonPool(Executor):
    """An executor of at most ``size`` daemon threads, started as work arrives.

    Like ``ThreadPoolExecutor`` (an idle worker takes the next call; a new one starts only
    when none is idle), but its threads never hold the interpreter's exit.
    """

    def __init__(self, size: int, name: str = "exo-tool") -> None:
        self._size = size
        self._name = name
        self._queue: queue.SimpleQueue[_Job | _LoopJob | None] = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._closed = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Schedule ``fn(*args, **kwargs)``; return its future."""
        future: Future[Any] = Future()
        self._put(_Job(future, fn, args, kwargs))
        return future

    def hand_off(
        self,
        loop: asyncio.AbstractEventLoop,
        future: asyncio.Future[Outcome],
        call: Callable[[], Outcome],
    ) -> None:
        """Run ``call`` in a worker and settle ``future`` (of ``loop``) with its outcome.

        The cheap way back to the event loop: one ``call_soon_threadsafe``, where
        ``run_in_executor`` chains a concurrent future to an asyncio one (locks, callbacks
        on both sides); half the CPU of a hop (about 25 µs against 46 µs). ``call`` must not
        raise (see :func:`capture`). A cancelled ``future`` whose call has not started yet
        is dropped.
        """
        self._put(_LoopJob(loop, future, call))

    def _put(self, job: _Job | _LoopJob) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot schedule new calls after shutdown")
            self._queue.put(job)
            if not self._idle.acquire(blocking=False) and len(self._threads) < self._size:
                name = f"{self._name}_{len(self._threads)}"
                thread = threading.Thread(target=self._work, name=name, daemon=True)
                self._threads.append(thread)
                thread.start()

    def _work(self) -> None:
        while (job := self._queue.get()) is not None:
            job.run()
            del job  # hold nothing of a finished call while idle
            self._idle.release()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Let each thread end after its current call; ``cancel_futures`` drops queued ones."""
        with self._lock:
            self._closed = True
            threads = list(self._threads)
        if cancel_futures:
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    item.cancel()
        for _ in threads:
            self._queue.put(None)
        if wait:
            for thread in threads:
                thread.join()


class ToolThreads:
    """A pool of worker threads for sync tools, started on first use.

    Args:
        size: Most threads in the pool (shared by every run of the owning runner).
    """

    __slots__ = ("_lock", "_pool", "size")

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._pool: DaemonPool | None = None
        self._lock = threading.Lock()

    def executor(self) -> DaemonPool:
        """The pool (created on first use: a runner whose tools are all async starts none)."""
        if self._pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = DaemonPool(self.size)
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
            loop = asyncio.get_running_loop()
            future: asyncio.Future[Outcome] = loop.create_future()
            call = functools.partial(contextvars.copy_context().run, capture, fn, args, kwargs)
            self.threads.executor().hand_off(loop, future, call)
            return await future


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
