"""exo's own overhead per model call, and memory per concurrent run, on an in-process model.

A run is the benchmark task: three tool rounds of ``add(a, b)`` then a final answer (4 model
calls). The model is a ``FunctionModel`` that answers instantly, so everything measured is
exo: building requests, the loop, tool validation and execution, events, the result.

    python benchmarks/overhead.py                 # N=2000 sequential, 1000 concurrent
    python benchmarks/overhead.py --runs 5000 --concurrency 1000 --stream

Overhead per model call = (CPU time of N runs - CPU time of the model function alone) / calls.
Peak RSS per concurrent run = (peak RSS while C runs are in flight - RSS before) / C; each
in-flight run is parked inside its tool call so that all C are alive at once.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import resource
import sys
import time
from typing import Any

from exo import Agent, run, tool
from exo.testing import AgentInfo, FunctionModel, call
from exo.types import Message, ToolResult


async def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def add_sync(a: int, b: int) -> int:
    """Add two integers (a sync tool: exo runs it in a worker thread)."""
    return a + b


def reply(messages: list[Message], info: AgentInfo) -> Any:
    if info is not None and info.agent_name.endswith("_planner"):
        return "1. Add\n2. Report"
    rounds = 0
    for m in reversed(messages):
        if isinstance(m, ToolResult):
            rounds += 1
        elif m.role == "user":
            break
    if rounds < 3:
        return call("add", a=rounds, b=1)
    return "The sum is 3."


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def sequential(
    agent: Agent, model: FunctionModel, n: int, stream: bool, calls: int = 4
) -> float:
    for _ in range(20):  # warm up
        await run(agent, "Add numbers", provider=model)
    gc.collect()
    start = time.process_time()
    for _ in range(n):
        if stream:
            async for _event in run.stream(agent, "Add numbers", provider=model):
                pass
        else:
            result = await run(agent, "Add numbers", provider=model)
            assert result.usage.requests == calls
    return time.process_time() - start


def model_alone(n: int) -> float:
    """CPU of the model function itself for the same conversations (subtracted)."""
    convo: list[Message] = []
    from exo.types import AssistantMessage, UserMessage

    convo.append(UserMessage(content="Add numbers"))
    start = time.process_time()
    for _ in range(n):
        msgs = list(convo)
        for i in range(4):
            reply(msgs, None)  # type: ignore[arg-type]
            if i < 3:
                msgs = [*msgs, AssistantMessage(), ToolResult(tool_call_id="x", tool_name="add")]
    return time.process_time() - start


async def concurrent(n: int) -> tuple[float, float, float]:
    gate = asyncio.Event()
    parked = 0

    async def slow_add(a: int, b: int) -> int:
        """Add two integers (waits until every run is in flight)."""
        nonlocal parked
        parked += 1
        if parked == n:
            gate.set()
        await gate.wait()
        return a + b

    agent = Agent(name="bench", model="test:m", tools=[slow_add])

    def reply_slow(messages: list[Message], info: AgentInfo) -> Any:
        r = reply(messages, info)
        return call("slow_add", a=1, b=1) if not isinstance(r, str) else r

    model = FunctionModel(reply_slow)
    gc.collect()
    before = rss_mb()
    peak = before

    async def watch() -> None:
        nonlocal peak
        while not gate.is_set():
            peak = max(peak, rss_mb())
            await asyncio.sleep(0.005)
        peak = max(peak, rss_mb())

    start = time.perf_counter()
    cpu = time.process_time()
    watcher = asyncio.create_task(watch())
    results = await asyncio.gather(*(run(agent, "Add numbers", provider=model) for _ in range(n)))
    await watcher
    wall = time.perf_counter() - start
    assert all(r.steps == 4 for r in results)
    return wall, time.process_time() - cpu, (peak - before) / n * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=1000)
    parser.add_argument("--stream", action="store_true", help="measure run.stream too")
    args = parser.parse_args()

    agent = Agent(name="bench", model="test:m", tools=[add])
    model = FunctionModel(reply)
    base = model_alone(args.runs)
    print(f"python {sys.version.split()[0]}, {args.runs} runs x 4 model calls")
    sync_agent = Agent(name="bench", model="test:m", tools=[tool(add_sync, name="add")])
    planned = agent.replace(planning_enabled=True)
    cases = [("run", agent, False, 4)]
    if args.stream:
        cases.append(("run.stream", agent, True, 4))
    cases += [("run, sync tool", sync_agent, False, 4), ("run, planning", planned, False, 5)]
    for label, case_agent, stream, per_run in cases:
        model.requests.clear()
        cpu = asyncio.run(sequential(case_agent, model, args.runs, stream, per_run))
        per_call = (cpu - base * per_run / 4) / (args.runs * per_run) * 1e6
        print(
            f"{label:>15}: {cpu / args.runs * 1e3:.3f} ms CPU per run, "
            f"{per_call:.1f} µs exo overhead per model call"
        )
    wall, cpu, kb = asyncio.run(concurrent(args.concurrency))
    print(
        f"concurrency {args.concurrency}: {wall:.2f} s wall, {cpu / args.concurrency * 1e3:.3f} ms "
        f"CPU per run, {kb:.1f} KB peak RSS per in-flight run "
        f"({kb * args.concurrency / 1024:.1f} MB for all)"
    )


if __name__ == "__main__":
    main()
