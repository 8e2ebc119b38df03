"""Helpers shared by the reliability tests: a fake clock, a run driver, a tiny tool."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import aclosing
from typing import Any

from exo import Agent, run
from exo._retry import RetryPolicy
from exo.models.base import Provider
from exo.types import RunCompleteEvent, RunResult, TextEvent

__all__ = ["BACKENDS", "FakeClock", "drive", "policy", "until"]

BACKENDS = ("openai", "openai-responses", "anthropic")


class FakeClock:
    """A retry sleep that records the delays asked for and returns at once."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        """Record ``seconds``; yield to the loop once."""
        self.sleeps.append(seconds)
        await asyncio.sleep(0)


def policy(clock: FakeClock, max_retries: int = 2, **options: Any) -> RetryPolicy:
    """A retry policy on the fake clock."""
    return RetryPolicy(max_retries=max_retries, sleep=clock.sleep, **options)


async def drive(
    agent: Agent,
    task: str,
    *,
    provider: Provider,
    stream: bool,
    texts: list[str] | None = None,
    **options: Any,
) -> RunResult:
    """Run ``agent`` through ``run`` or ``run.stream``; collect streamed text in ``texts``."""
    if not stream:
        return await run(agent, task, provider=provider, **options)
    result: RunResult | None = None
    async with aclosing(run.stream(agent, task, provider=provider, **options)) as events:
        async for event in events:
            if isinstance(event, TextEvent) and texts is not None:
                texts.append(event.text)
            elif isinstance(event, RunCompleteEvent):
                result = event.result
    assert result is not None
    return result


async def until(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    """Wait (polling the loop) until ``condition()`` holds; return whether it did in time."""
    for _ in range(int(seconds / 0.005)):
        if condition():
            return True
        await asyncio.sleep(0.005)
    return condition()
