"""The per-provider rate limit of durable runs: a sliding window over model requests."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from exo import Agent
from exo.durable import DBOSAgent, RateLimit, launch, shutdown
from exo.durable._ratelimit import limit_key
from exo.errors import ConfigError
from exo.testing import FunctionModel, call
from exo.types import Message


def over_limit(arrivals: list[float], limit: RateLimit) -> list[tuple[float, float]]:
    """Pairs of requests ``limit.requests`` apart that arrived within one window."""
    times, n = sorted(arrivals), limit.requests
    return [
        (times[i], times[i + n])
        for i in range(len(times) - n)
        if times[i + n] - times[i] < limit.per_seconds
    ]


def test_a_rate_limit_is_checked_when_made() -> None:
    with pytest.raises(ConfigError, match="at least 1 request"):
        RateLimit(0)
    with pytest.raises(ConfigError, match="must be positive"):
        RateLimit(5, per_seconds=0)
    assert over_limit([0.0, 0.1, 0.2], RateLimit(2, 1.0)) == [(0.0, 0.2)]
    assert over_limit([0.0, 0.1, 1.05], RateLimit(2, 1.0)) == []


def test_the_window_is_keyed_by_provider_and_host() -> None:
    from exo.models.openai import OpenAIProvider

    provider = OpenAIProvider("gpt-4o", api_key="k", base_url="http://127.0.0.1:9/v1")
    assert limit_key(provider) == "openai@127.0.0.1:9"
    assert limit_key(FunctionModel(lambda m, i: "x")) == "test"


def test_runs_in_one_process_keep_to_the_window(tmp_path: Path) -> None:
    arrivals: list[float] = []

    def reply(messages: list[Message], info: object) -> object:
        arrivals.append(time.monotonic())
        return "done" if messages[-1].role == "tool" else call("add", a=1, b=2)

    def add(a: int, b: int) -> int:
        """Add."""
        return a + b

    limit = RateLimit(3, per_seconds=0.4)
    model = FunctionModel(reply)  # type: ignore[arg-type]
    agent = Agent(name="limited", model="test:x", tools=[add])
    durable = DBOSAgent(agent, name="limited", provider=model, rate_limit=limit)
    launch(f"sqlite:///{tmp_path / 'dbos.db'}", name="ratetest")

    async def go() -> list[str]:
        runs = [durable.run(f"job {i}", run_id=f"r-{i}") for i in range(6)]
        outputs = [r.output for r in await asyncio.gather(*runs)]
        return [*outputs, (await durable.run("job 0", run_id="r-0")).output]

    try:
        outputs = asyncio.run(go())
    finally:
        shutdown()
    assert outputs == ["done"] * 7
    assert len(arrivals) == 12  # the finished run asked again sent nothing, took no slot
    assert over_limit(arrivals, limit) == []


def test_a_replayed_model_step_takes_no_slot(tmp_path: Path) -> None:
    from dbos import DBOS

    started = asyncio.Event()

    async def slow(a: int) -> int:
        """Return a, after a while."""
        started.set()
        await asyncio.sleep(3)  # cancelled in here the first time
        return a

    def reply(messages: list[Message], info: object) -> object:
        return "done" if messages[-1].role == "tool" else call("slow", a=1)

    # two requests an hour: the run's two model calls; a replay taking a slot would wait
    agent = Agent(name="hourly", model="test:x", tools=[slow])
    model = FunctionModel(reply)  # type: ignore[arg-type]
    limit = RateLimit(2, per_seconds=3600)
    durable = DBOSAgent(agent, name="hourly", provider=model, rate_limit=limit)
    launch(f"sqlite:///{tmp_path / 'dbos.db'}", name="hourlytest")

    async def go() -> str:
        handle = await durable.start("go", run_id="h-1")
        await started.wait()
        await DBOS.cancel_workflow_async("h-1")
        await DBOS.resume_workflow_async("h-1")
        result = await asyncio.wait_for(handle.result(), 120)  # a failure, never a hang
        return result.output

    try:
        output = asyncio.run(go())
    finally:
        shutdown()
    assert output == "done"
    assert len(model.requests) == 2
