"""The streamed reads' one timer (``Watch.read``) keeps ``Watch.wait``'s budget exactly.

A stream's reads share one timer that is re-armed only when it fires early, instead of a new
``asyncio.timeout`` per read. These cases pin what that must not change: progress restarts
the idle clock (the timer fires early and waits on), time between reads is not counted, the
idle timeout and the deadline still end a read with their own messages, someone else's
cancellation stays a cancellation, and a closed watch leaves no timer in the loop. Every
wait below ends on the event loop's own timers, so their order (not the machine's speed)
decides each outcome.
"""

from __future__ import annotations

import asyncio

import pytest

from exo import ModelError
from exo.models._transport import Watch


def _watch(timeout: float = 60.0, idle: float = 60.0) -> Watch:
    return Watch(timeout, idle, backend="openai", model="m")


def _later(seconds: float, value: str = "chunk") -> asyncio.Future[str]:
    """A future the loop resolves after ``seconds``."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[str] = loop.create_future()
    loop.call_later(seconds, future.set_result, value)
    return future


def _timers(watch: Watch) -> int:
    """How many live timers of ``watch`` the running loop holds."""
    scheduled = asyncio.get_running_loop()._scheduled  # type: ignore[attr-defined]
    return sum(
        1
        for handle in scheduled
        if not handle.cancelled() and getattr(handle._callback, "__self__", None) is watch
    )


async def test_progress_restarts_the_idle_clock_across_reads() -> None:
    watch = _watch(idle=0.1)
    for _ in range(5):  # 0.3 s in all: past the idle timeout, never 0.1 s without progress
        assert await watch.read(_later(0.06)) == "chunk"
        watch.progress()
    watch.close()
    assert _timers(watch) == 0


async def test_time_between_reads_is_not_counted() -> None:
    watch = _watch(timeout=0.1, idle=0.1)
    for _ in range(3):  # the caller's own 0.15 s between reads count for nothing
        await watch.read(_later(0.02))
        await asyncio.sleep(0.15)
    watch.close()


async def test_a_silent_read_ends_at_the_idle_timeout() -> None:
    watch = _watch(idle=0.05)
    await watch.read(_later(0.01))  # no progress noted: its time counts against the next
    with pytest.raises(ModelError) as caught:
        await watch.read(asyncio.get_running_loop().create_future())
    assert "no data for 0.05 s" in caught.value.detail and caught.value.retryable
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]
    watch.close()


async def test_a_read_past_the_deadline_ends_with_the_deadline() -> None:
    watch = _watch(timeout=0.05, idle=60.0)
    with pytest.raises(ModelError) as caught:
        await watch.read(asyncio.get_running_loop().create_future())
    assert "within its 0.05 s deadline" in caught.value.detail
    watch.close()


async def test_an_outside_cancellation_stays_a_cancellation() -> None:
    watch = _watch(idle=60.0)
    reading = asyncio.ensure_future(watch.read(asyncio.get_running_loop().create_future()))
    await asyncio.sleep(0.01)
    reading.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reading
    watch.close()
    assert _timers(watch) == 0


async def test_close_leaves_no_timer_behind() -> None:
    watch = _watch(idle=60.0)
    await watch.read(_later(0.01))
    assert _timers(watch) == 1  # armed for the call, not one per read
    await watch.read(_later(0.01))
    assert _timers(watch) == 1
    watch.close()
    assert _timers(watch) == 0
