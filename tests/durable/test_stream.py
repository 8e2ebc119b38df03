"""durable.stream in one process: stable event ids, the replayed flag, reattaching."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from exo import Agent
from exo.durable import DBOSAgent, DurableEvent, follow, get_result, launch, shutdown
from exo.errors import ConfigError
from exo.testing import ScriptedModel, call
from exo.types import RunCompleteEvent


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@pytest.fixture
def durable(tmp_path: Path) -> Iterator[tuple[DBOSAgent, ScriptedModel]]:
    model = ScriptedModel([call("add", a=1, b=2), "the sum is 3"] * 2)
    agent = Agent(name="adder", model="test:x", tools=[add])
    durable = DBOSAgent(agent, name="stream-test", provider=model)
    launch(f"sqlite:///{tmp_path / 'dbos.db'}", name="streamtest")
    try:
        yield durable, model
    finally:
        shutdown()


def test_events_carry_stable_ids_and_a_finished_run_is_not_run_again(
    durable: tuple[DBOSAgent, ScriptedModel],
) -> None:
    agent, model = durable

    async def go() -> tuple[list[DurableEvent], list[DurableEvent], list[DurableEvent]]:
        first = [e async for e in agent.stream("add 1 and 2", run_id="s-1")]
        again = [e async for e in agent.stream("add 1 and 2", run_id="s-1")]
        rest = [e async for e in follow("s-1", after="s-1:2:0")]
        return first, again, rest

    first, again, rest = asyncio.run(go())
    assert [(e.id, e.replayed, e.event.type) for e in first] == [
        ("s-1:1:0", False, "tool_call"),
        ("s-1:2:0", False, "tool_result"),
        ("s-1:3:0", False, "text"),
        ("s-1:3:1", False, "run_complete"),
    ]
    assert isinstance(first[-1].event, RunCompleteEvent)
    assert first[-1].event.result.output == "the sum is 3"
    assert len(model.requests) == 2  # the second stream ran nothing
    assert again == first  # the finished run's events, from its log
    assert rest == first[2:]  # reattached after an id: only the later events
    assert asyncio.run(get_result("s-1")).output == "the sum is 3"


def test_a_resumed_run_marks_what_it_replayed(tmp_path: Path) -> None:
    from dbos import DBOS
    from dbos._error import DBOSAwaitedWorkflowCancelledError

    started = 0
    inside = asyncio.Event()

    async def slow(a: int) -> int:
        """Return a, slowly the first time."""
        nonlocal started
        started += 1
        inside.set()
        if started == 1:
            await asyncio.sleep(3)  # cancelled while in here
        return a

    model = ScriptedModel([call("slow", a=1), "done"])
    agent = DBOSAgent(
        Agent(name="slowpoke", model="test:x", tools=[slow]), name="resume-test", provider=model
    )
    launch(f"sqlite:///{tmp_path / 'dbos.db'}", name="resumetest")

    async def go() -> list[DurableEvent]:
        handle = await agent.start("go", run_id="r-1")
        await inside.wait()
        await DBOS.cancel_workflow_async("r-1")
        with pytest.raises(DBOSAwaitedWorkflowCancelledError):
            await handle.result()
        # resume puts the run on DBOS's internal queue; the stream below attaches before
        # the queue's poller runs it again
        await DBOS.resume_workflow_async("r-1")
        return [e async for e in agent.stream("go", run_id="r-1")]

    try:
        events = asyncio.run(go())
    finally:
        shutdown()
    assert [(e.id, e.replayed, e.event.type) for e in events] == [
        ("r-1:1:0", False, "tool_call"),  # written by the first execution, not again
        ("r-1:2:0", False, "tool_result"),  # the interrupted tool ran again, live
        ("r-1:3:0", False, "text"),
        ("r-1:3:1", False, "run_complete"),
    ]
    assert len(model.requests) == 2  # the recorded model call was not sent again
    assert started == 2


def test_an_agent_without_events_runs_but_has_nothing_to_follow(tmp_path: Path) -> None:
    model = ScriptedModel(["hello"])
    agent = DBOSAgent(
        Agent(name="quiet", model="test:x"), name="quiet-test", provider=model, events=False
    )
    launch(f"sqlite:///{tmp_path / 'dbos.db'}", name="quiettest")

    async def go() -> list[DurableEvent]:
        with pytest.raises(ConfigError, match="keeps no events"):
            [e async for e in agent.stream("hi", run_id="q-1")]
        assert (await agent.run("hi", run_id="q-1")).output == "hello"
        return [e async for e in follow("q-1")]

    try:
        assert asyncio.run(go()) == []  # the run ended; it wrote no events
    finally:
        shutdown()
