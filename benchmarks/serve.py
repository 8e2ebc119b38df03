"""What ``exo serve`` adds to each streamed event: delivery delay from the run to an SSE client.

A real uvicorn serves ``exo.serve.app`` on 127.0.0.1 in its own thread; an httpx2 client in
the main thread starts runs with ``POST /runs`` and reads ``GET /runs/{id}/events``. Every
event carries ``ts``, the server's clock when the runner yielded it (after it was turned into
data); the client notes when it parsed the event. Their difference is what serving adds per
event: JSON encoding, SSE framing, waking the stream, the socket, the client's parsing.
Turning an event into data (pydantic) is measured on its own.

    python benchmarks/serve.py                      # 50 runs one at a time, then 300 at once
    python benchmarks/serve.py --runs 100 --concurrency 500
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import threading
import time
import timeit
from pathlib import Path
from typing import Any

import httpx2
import uvicorn

from exo import Agent, tool
from exo.models import register_provider
from exo.serve import app
from exo.serve._live import _event_data
from exo.testing import AgentInfo, FunctionModel, call
from exo.types import Message, TextEvent, ToolCallEvent, ToolResult


@tool
def lookup(query: str) -> str:
    """Look something up.

    Args:
        query: What to look up.
    """
    return f"{query}: found"


def _reply(messages: list[Message], info: AgentInfo) -> Any:
    if not any(isinstance(m, ToolResult) for m in messages):
        return call("lookup", query="x")
    return "The answer, streamed in pieces: " + "word " * 30


def _serve(directory: Path) -> tuple[uvicorn.Server, str]:
    register_provider("bench", lambda model: FunctionModel(_reply, model=model))
    agent = Agent(name="bench", model="bench:m", tools=[lookup])
    application = app([agent], token="bench-token-123", database_url=str(directory / "b.db"))
    server = uvicorn.Server(uvicorn.Config(application, port=0, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.01)
    return server, f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"


async def _one(client: httpx2.AsyncClient) -> list[float]:
    started = await client.post("/runs", json={"agent": "bench", "input": "go"})
    delays: list[float] = []
    async with client.stream("GET", f"/runs/{started.json()['id']}/events") as response:
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                event = json.loads(line[6:])
                delays.append(time.time() - event["ts"])
    return delays


async def _measure(url: str, runs: int, concurrency: int) -> list[float]:
    limits = httpx2.Limits(max_connections=concurrency + 10)
    headers = {"Authorization": "Bearer bench-token-123"}
    async with httpx2.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=300) as c:
        delays: list[float] = []
        for start in range(0, runs, concurrency):
            batch = min(concurrency, runs - start)
            for found in await asyncio.gather(*(_one(c) for _ in range(batch))):
                delays += found
        return delays


def _report(label: str, delays: list[float], seconds: float) -> None:
    ms = sorted(d * 1e3 for d in delays)
    p99 = ms[int(len(ms) * 0.99) - 1]
    print(
        f"{label}: {len(ms)} events in {seconds:.1f} s; delivery delay median "
        f"{statistics.median(ms):.2f} ms, p99 {p99:.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=300)
    args = parser.parse_args()
    events = [
        TextEvent(agent_name="bench", text="word " * 3),
        ToolCallEvent(agent_name="bench", tool_call_id="c1", tool_name="lookup", arguments="{}"),
    ]
    for event in events:
        each = min(timeit.repeat(lambda e=event: _event_data(e), number=2000, repeat=5)) / 2000
        print(f"{event.type} event to data: {each * 1e6:.1f} µs")
    with tempfile.TemporaryDirectory() as directory:
        server, url = _serve(Path(directory))
        asyncio.run(_measure(url, 3, 1))  # warm up
        for runs, concurrency in ((args.runs, 1), (args.concurrency, args.concurrency)):
            began = time.perf_counter()
            delays = asyncio.run(_measure(url, runs, concurrency))
            _report(f"{runs} runs, {concurrency} at once", delays, time.perf_counter() - began)
        server.should_exit = True


if __name__ == "__main__":
    main()
