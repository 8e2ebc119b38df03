"""Self-spawn at the HTTP boundary: a model that always spawns is stopped by the limits, and
cancelling the parent closes every child's in-flight response.
"""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import Callable
from typing import Any

import pytest

from exo import Agent
from exo.models.base import Provider
from reliability.clients import tracking_client
from reliability.fakeserver import Attempt, FakeServer, Reply, answer, tools
from reliability.support import BACKENDS, drive, until

ProviderFactory = Callable[..., Provider]
modes = pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])


def _tool_names(attempt: Attempt) -> set[str]:
    names: set[str] = set()
    for spec in attempt.body.get("tools") or ():
        function: dict[str, Any] = spec.get("function") or spec
        names.add(str(function.get("name")))
    return names


def _always_spawn(attempt: Attempt) -> Reply:
    """Spawn two children whenever spawning is offered and nothing was tried yet."""
    task = attempt.seen.task
    if "spawn_self" in _tool_names(attempt) and not attempt.seen.results:
        return tools(("spawn_self", json.dumps({"tasks": [f"{task}/a", f"{task}/b"]})))
    return answer(f"done {task}")


def _depth(attempt: Attempt) -> int:
    return attempt.seen.task.count("/")


@pytest.mark.parametrize(
    ("depth", "total"), [(2, 20), (3, 5)], ids=["depth-limited", "pool-limited"]
)
@pytest.mark.parametrize("backend", BACKENDS)
@modes
async def test_a_model_that_always_spawns_is_stopped_by_the_limits(
    server: FakeServer,
    providers: ProviderFactory,
    depth: int,
    total: int,
    backend: str,
    stream: bool,
) -> None:
    agent = Agent(
        name="spawner",
        model="test:m",
        instructions="Split the work.",
        allow_self_spawn=True,
        max_spawn_depth=depth,
        max_spawn_children=2,
        max_spawn_total=total,
        max_steps=4,
    )
    server.responder = _always_spawn
    result = await drive(agent, "root", provider=providers(backend), stream=stream)
    assert result.output == "done root"
    tasks = {a.seen.task for a in server.attempts}
    assert server.rejected == []
    assert result.usage.requests == server.count()  # every call, children's included
    if total == 20:  # two levels of two children each, then no spawn_self at all
        assert len(tasks) == 1 + 2 + 4 and max(t.count("/") for t in tasks) == depth
        for attempt in server.attempts:
            assert ("spawn_self" in _tool_names(attempt)) == (_depth(attempt) < depth)
    else:  # the tree's pool of five runs dry before the depth limit
        assert len(tasks) <= 1 + total
        refused = [t for a in server.attempts for t, _ in a.seen.results if "in all" in t]
        assert refused  # and the model was told so


def _spawn_then_hang(attempt: Attempt) -> Reply:
    if attempt.seen.task == "root":
        tasks = ["slow a", "slow b", "slow c"]
        return tools(("spawn_self", json.dumps({"tasks": tasks})))
    if attempt.stream:
        return Reply(endless=True, event_delay=0.005)
    return Reply(delay=30.0, turn=answer("too late").turn)


@pytest.mark.parametrize("backend", BACKENDS)
@modes
async def test_cancelling_the_parent_closes_every_childs_response(
    server: FakeServer, providers: ProviderFactory, backend: str, stream: bool
) -> None:
    agent = Agent(name="parent", model="test:m", allow_self_spawn=True, max_spawn_children=3)
    server.responder = _spawn_then_hang
    client, tracker = tracking_client()
    provider = providers(backend, http_client=client)
    await asyncio.sleep(0)
    before = asyncio.all_tasks()
    task = asyncio.create_task(drive(agent, "root", provider=provider, stream=stream))
    assert await until(lambda: server.count() == 4)  # the three children are in
    # streamed children have their responses open (endless streams); JSON ones still wait
    opened = 4 if stream else 1
    assert await until(lambda: tracker.opened == opened)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)  # a guard against a hang: the children never answer
    # every response was closed by the time the cancellation returned (not later by the GC)
    assert tracker.opened == tracker.closed == opened
    assert server.settle(5)
    assert server.outcomes() == ["ok"] + ["client_closed"] * 3
    gc.collect()
    for _ in range(10):
        await asyncio.sleep(0)
    assert asyncio.all_tasks() == before
