"""300 concurrent streamed runs: no error, no task or connection left behind."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from typing import Any

import httpx2

from serve.harness import Server


async def _follow(client: httpx2.AsyncClient, run_id: str) -> list[dict[str, Any]]:
    """Read a run's event stream to its end; stamp each event with when it arrived."""
    events: list[dict[str, Any]] = []
    async with client.stream("GET", f"/runs/{run_id}/events") as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                event = json.loads(line[6:])
                event["received"] = time.time()
                events.append(event)
    return events


async def _one(client: httpx2.AsyncClient) -> list[dict[str, Any]]:
    started = await client.post("/runs", json={"agent": "streamer", "input": "go"})
    assert started.status_code == 202, started.text
    return await _follow(client, started.json()["id"])


def _settled(server: Server, baseline: list[str] | None = None) -> tuple[list[str], int]:
    """Tasks and connections once the server is idle (no live run, no connection) and its
    tasks are ``baseline`` (or, without one, the same twice in a row)."""
    hub = server.app.state.hub
    tasks: list[str] = []
    deadline = time.monotonic() + 180  # a guard against a hang; a busy machine may be slow
    while time.monotonic() < deadline:
        idle = server.connections() == 0 and not hub.live
        before, tasks = tasks, server.tasks()  # read after the idle check: no stale task
        if idle and tasks == (baseline if baseline is not None else before):
            break
        time.sleep(0.05)
    return tasks, server.connections()


def test_300_concurrent_streamed_runs(server: Server, auth: dict[str, str]) -> None:
    async def warm_up() -> None:  # sse-starlette starts one shutdown watcher per loop
        async with httpx2.AsyncClient(base_url=server.url, headers=auth) as client:
            await _one(client)

    asyncio.run(warm_up())
    baseline, _ = _settled(server)

    async def load() -> list[list[dict[str, Any]]]:
        limits = httpx2.Limits(max_connections=400, max_keepalive_connections=0)
        async with httpx2.AsyncClient(
            base_url=server.url, headers=auth, limits=limits, timeout=120
        ) as client:
            return await asyncio.gather(*(_one(client) for _ in range(300)))

    streams = asyncio.run(load())
    assert len(streams) == 300
    for events in streams:
        assert [e["type"] for e in events][-1] == "status"
        assert events[-1]["status"] == "completed"
        assert not [e for e in events if e["type"] == "error"]
        assert [e["seq"] for e in events] == sorted({e["seq"] for e in events})
    tasks, connections = _settled(server, baseline)
    left = {k: (v.record.status, v.task) for k, v in server.app.state.hub.live.items()}
    assert (tasks, connections, left) == (baseline, 0, {}), server.stacks()
    hub = server.app.state.hub
    assert hub.live == {} and hub.stream_clients == 0
    delays = [e["received"] - e["ts"] for events in streams for e in events]
    print(f"\n{len(delays)} events; delivery delay median {statistics.median(delays) * 1e3:.2f} ms")


def test_a_client_that_leaves_a_stream_closes_it(server: Server, auth: dict[str, str]) -> None:
    from serve.harness import GATE

    async def leave_early() -> str:
        async with httpx2.AsyncClient(base_url=server.url, headers=auth, timeout=30) as client:
            run_id = (await client.post("/runs", json={"agent": "gated", "input": "x"})).json()[
                "id"
            ]
            async with client.stream("GET", f"/runs/{run_id}/events") as response:
                async for line in response.aiter_lines():
                    if '"tool_call"' in line:
                        break  # leave while the run waits on its gate
            return str(run_id)

    run_id = asyncio.run(leave_early())
    hub = server.app.state.hub
    for _ in range(200):
        if hub.stream_clients == 0 and server.connections() == 0:
            break
        time.sleep(0.05)
    assert hub.stream_clients == 0 and server.connections() == 0
    assert hub.live[run_id].record.status == "running"  # /runs runs go on without a watcher
    GATE.set()
    with httpx2.Client(base_url=server.url, headers=auth) as client:
        for _ in range(200):
            if client.get(f"/runs/{run_id}").json()["status"] == "completed":
                break
            time.sleep(0.05)
        assert client.get(f"/runs/{run_id}").json()["status"] == "completed"
