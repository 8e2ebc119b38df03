"""CPU per model call: exo against a bare aiohttp loop and the bare SDK loop, per backend.

The task of ``compare.py`` (one ``add`` tool, called three times, then an answer: four model
calls per run) on the three HTTP backends (OpenAI Chat Completions, OpenAI Responses,
Anthropic Messages), non-streamed (``run``) and streamed (``run.stream``), against one local
mock speaking the three wire formats. The mock runs in its own process, so the figures are
the client's own CPU (``time.process_time``) per model call, best of ``--rounds``; the drivers
of one backend and mode take turns within each round, so each ratio compares figures taken
side by side. Rows:

* ``bare aiohttp loop``: a hand-written loop (build the JSON, POST, parse, run the tool right
  on the event loop): the floor;
* ``bare aiohttp loop, tool in a thread``: the same with the tool in a worker thread
  (``asyncio.to_thread``, as the OpenAI Agents SDK and PydanticAI run sync tools): the floor
  for exo's default, which runs a sync tool in a worker thread so that a blocking tool cannot
  stall the event loop;
* ``bare SDK loop (create)``: the same loop on the official SDK's typed call, on its aiohttp
  transport (non-streamed only);
* ``exo run`` / ``exo run.stream``: ``Agent`` + ``run`` / ``run.stream`` with the sync tool;
  ``(async tool)``: the tool as ``async def``; ``(inline sync tool)``: ``@tool(inline=True)``.
  These two run the tool on the event loop, like the bare loop.

Each exo row gives its ratio to both floors; the like-for-like one is the bare loop with the
tool where exo puts it (a thread for the sync tool, the event loop for the other two).

Run: ``python benchmarks/floor.py [--runs 200] [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from _floor_mock import CLAUDE, MODEL, serve, spawn
from aiohttp import ClientSession

PROMPT = "Add 1 and 2, then 3 and 4, then 5 and 6; report the sums."
SCHEMA = {
    "type": "object",
    "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
    "required": ["a", "b"],
}
KEY = "sk-bench-dummy"


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


async def add_async(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


add_async.__name__ = "add"  # the same tool name as the sync one, for the mock


# --------------------------------------------------------------------------- bare loops

Call = tuple[str, str, dict[str, Any]]  # id, name, arguments
DESCRIPTION = "Add two integers."
TOOLS: dict[str, list[dict[str, Any]]] = {
    "chat": [
        {
            "type": "function",
            "function": {"name": "add", "description": DESCRIPTION, "parameters": SCHEMA},
        }
    ],
    "responses": [
        {"type": "function", "name": "add", "description": DESCRIPTION, "parameters": SCHEMA}
    ],
    "anthropic": [{"name": "add", "description": DESCRIPTION, "input_schema": SCHEMA}],
}
PATHS = {"chat": "/v1/chat/completions", "responses": "/v1/responses", "anthropic": "/v1/messages"}


def _body(api: str, history: list[dict[str, Any]], stream: bool) -> dict[str, Any]:
    if api == "chat":
        body: dict[str, Any] = {"model": MODEL, "messages": history, "tools": TOOLS[api]}
        if stream:
            body["stream_options"] = {"include_usage": True}
    elif api == "responses":
        body = {"model": MODEL, "input": history, "tools": TOOLS[api]}
    else:
        body = {"model": CLAUDE, "max_tokens": 1024, "messages": history, "tools": TOOLS[api]}
    if stream:
        body["stream"] = True
    return body


def _whole(api: str, data: dict[str, Any]) -> tuple[list[Call], str]:
    if api == "chat":
        message = data["choices"][0]["message"]
        calls = [
            (c["id"], c["function"]["name"], json.loads(c["function"]["arguments"]))
            for c in message.get("tool_calls") or ()
        ]
        return calls, message.get("content") or ""
    items = data["output"] if api == "responses" else data["content"]
    calls, text = [], []
    for item in items:
        if item["type"] == "function_call":
            calls.append((item["call_id"], item["name"], json.loads(item["arguments"])))
        elif item["type"] == "tool_use":
            calls.append((item["id"], item["name"], item["input"]))
        elif item["type"] == "message":
            text += [part["text"] for part in item["content"]]
        elif item["type"] == "text":
            text.append(item["text"])
    return calls, "".join(text)


async def _streamed(api: str, lines: AsyncIterator[bytes]) -> tuple[list[Call], str]:
    text: list[str] = []
    parts: dict[int, list[str]] = {}  # tool call index -> [id, name, arguments so far]
    async for line in lines:
        if not line.startswith(b"data: ") or line.startswith(b"data: [DONE]"):
            continue
        event = json.loads(line[6:])
        if api == "chat":
            for choice in event["choices"]:
                delta = choice["delta"]
                text.append(delta.get("content") or "")
                for call in delta.get("tool_calls") or ():
                    part = parts.setdefault(call["index"], ["", "", ""])
                    part[0] = call.get("id") or part[0]
                    part[1] = call.get("function", {}).get("name") or part[1]
                    part[2] += call.get("function", {}).get("arguments") or ""
        elif api == "responses":
            if event["type"] == "response.output_text.delta":
                text.append(event["delta"])
            elif event["type"] == "response.completed":
                return _whole(api, event["response"])
        elif (
            event["type"] == "content_block_start" and event["content_block"]["type"] == "tool_use"
        ):
            block = event["content_block"]
            parts[event["index"]] = [block["id"], block["name"], ""]
        elif event["type"] == "content_block_delta":
            delta = event["delta"]
            if delta["type"] == "text_delta":
                text.append(delta["text"])
            else:
                parts[event["index"]][2] += delta["partial_json"]
    calls = [(p[0], p[1], json.loads(p[2] or "{}")) for _, p in sorted(parts.items())]
    return calls, "".join(text)


def _append(
    api: str, history: list[dict[str, Any]], calls: list[Call], outs: list[str] | None = None
) -> None:
    if outs is None:
        outs = [str(add(**args)) for _, _, args in calls]
    results = [(cid, out) for (cid, _, _), out in zip(calls, outs, strict=True)]
    if api == "chat":
        history.append(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": cid,
                        "type": "function",
                        "function": {"name": n, "arguments": json.dumps(a)},
                    }
                    for cid, n, a in calls
                ],
            }
        )
        history += [{"role": "tool", "tool_call_id": cid, "content": out} for cid, out in results]
    elif api == "responses":
        history += [
            {"type": "function_call", "call_id": cid, "name": n, "arguments": json.dumps(a)}
            for cid, n, a in calls
        ]
        history += [
            {"type": "function_call_output", "call_id": cid, "output": out} for cid, out in results
        ]
    else:
        history.append(
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": cid, "name": n, "input": a} for cid, n, a in calls
                ],
            }
        )
        history.append(
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": cid, "content": out}
                    for cid, out in results
                ],
            }
        )


async def bare_aiohttp(
    api: str, session: ClientSession, base: str, stream: bool, threaded: bool = False
) -> str:
    """The floor: the task as a hand-written loop on one aiohttp session.

    The tool runs on the event loop, or with ``threaded`` in a worker thread
    (``asyncio.to_thread``, as the OpenAI Agents SDK and PydanticAI run sync tools): the
    floor for exo's default sync tool, which runs in a worker thread too.
    """
    history: list[dict[str, Any]] = [{"role": "user", "content": PROMPT}]
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"}
    if api == "anthropic":
        headers = {
            "Content-Type": "application/json",
            "x-api-key": KEY,
            "anthropic-version": "2023-06-01",
        }
    for _ in range(10):
        data = json.dumps(_body(api, history, stream)).encode()
        async with session.post(base + PATHS[api], data=data, headers=headers) as response:
            if stream:
                calls, text = await _streamed(api, response.content.__aiter__())
            else:
                calls, text = _whole(api, json.loads(await response.read()))
        if not calls:
            return text
        outs = None
        if threaded:
            outs = [str(await asyncio.to_thread(add, **args)) for _, _, args in calls]
        _append(api, history, calls, outs)
    raise RuntimeError("no final answer")


async def bare_sdk(api: str, client: Any) -> str:
    """The task on the official SDK's typed call (``create``), non-streamed."""
    history: list[dict[str, Any]] = [{"role": "user", "content": PROMPT}]
    for _ in range(10):
        if api == "chat":
            out = await client.chat.completions.create(
                model=MODEL, messages=history, tools=TOOLS[api]
            )
        elif api == "responses":
            out = await client.responses.create(model=MODEL, input=history, tools=TOOLS[api])
        else:
            out = await client.messages.create(
                model=CLAUDE, max_tokens=1024, messages=history, tools=TOOLS[api]
            )
        calls, text = _whole(api, out.model_dump())
        if not calls:
            return text
        _append(api, history, calls)
    raise RuntimeError("no final answer")


# --------------------------------------------------------------------------- exo

MODELS = {
    "chat": f"openai:{MODEL}",
    "responses": f"openai-responses:{MODEL}",
    "anthropic": f"anthropic:{CLAUDE}",
}
"""exo's model name for each backend of the mock."""


def use_mock(base: str) -> None:
    """Point the SDKs' and exo's environment (base URLs, keys) at the mock at ``base``."""
    os.environ.update(
        OPENAI_BASE_URL=f"{base}/v1",
        OPENAI_API_KEY=KEY,
        ANTHROPIC_BASE_URL=base,
        ANTHROPIC_API_KEY=KEY,
    )


async def exo_run(agent: Any, stream: bool) -> str:
    """The task on exo: ``run`` or ``run.stream``."""
    from exo import run

    if not stream:
        return str((await run(agent, PROMPT)).output)
    async for event in run.stream(agent, PROMPT):
        if event.type == "run_complete":
            return str(event.result.output)
    raise RuntimeError("no run_complete")


def driver(
    api: str, base: str, session: ClientSession, stream: bool, bare: bool, tool_fn: Any = add
) -> Callable[[], Awaitable[str]]:
    """One run of the task on ``api``: the bare aiohttp loop, or exo with ``tool_fn``."""
    from exo import Agent

    agent = Agent(name="bench", model=MODELS[api], tools=[tool_fn])

    async def once() -> str:
        if bare:
            return await bare_aiohttp(api, session, base, stream)
        return await exo_run(agent, stream)

    return once


async def warm(once: Callable[[], Awaitable[str]], runs: int = 20) -> None:
    """Run ``once`` ``runs`` times, checking each answer (imports, caches, connections)."""
    for _ in range(runs):
        assert "3, 7 and 11" in await once()


# --------------------------------------------------------------------------- measuring


async def cpu_per_call(
    drivers: dict[str, Callable[[], Awaitable[str]]], runs: int, rounds: int
) -> dict[str, float]:
    """Best over ``rounds`` of each driver's client CPU µs per model call (4 per run).

    The drivers take turns within every round (the first of a round moves along each
    round), so a slow spell of the shared machine falls on all of them alike rather than
    on whichever was measured during it: each ratio compares figures taken side by side.
    """
    for once in drivers.values():
        for _ in range(10):
            assert "3, 7 and 11" in await once()
    best = dict.fromkeys(drivers, float("inf"))
    names = list(drivers)
    for round_ in range(rounds):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            once = drivers[name]
            start = time.process_time()
            for _ in range(runs):
                await once()
            best[name] = min(best[name], (time.process_time() - start) / (4 * runs) * 1e6)
    return best


async def measure(
    base: str, runs: int, rounds: int, only: str | None = None
) -> list[tuple[str, str, float, float, float]]:
    """Rows of (backend, driver, its µs, the bare loop's µs, the bare loop's with its tool
    in a thread)."""
    import anthropic
    import openai

    from exo import Agent, tool

    use_mock(base)
    session = ClientSession()
    names = MODELS
    rows = []
    for api, name in names.items():
        if only and api != only:
            continue
        agent = Agent(name="bench", model=name, tools=[add])
        # the same run with the tool as a coroutine, or declared inline: no worker-thread
        # hop per tool call (the tool does the same work, on the event loop, as in the
        # bare loop)
        lean = Agent(name="bench", model=name, tools=[add_async])
        inline = Agent(name="bench", model=name, tools=[tool(add, inline=True)])
        sdk: Any = (
            anthropic.AsyncAnthropic(http_client=anthropic.DefaultAioHttpClient())
            if api == "anthropic"
            else openai.AsyncOpenAI(http_client=openai.DefaultAioHttpClient())
        )
        for stream in (False, True):
            mode = "run.stream" if stream else "run"
            drivers: dict[str, Callable[[], Awaitable[str]]] = {
                "floor": lambda a=api, s=stream: bare_aiohttp(a, session, base, s),
                "floor (tool in a thread)": lambda a=api, s=stream: bare_aiohttp(
                    a, session, base, s, threaded=True
                ),
                mode: lambda s=stream, g=agent: exo_run(g, s),
                f"{mode} (async tool)": lambda s=stream, g=lean: exo_run(g, s),
                f"{mode} (inline sync tool)": lambda s=stream, g=inline: exo_run(g, s),
            }
            if not stream:
                drivers["sdk"] = lambda a=api, c=sdk: bare_sdk(a, c)
            best = await cpu_per_call(drivers, runs, rounds)
            floor, threaded = best["floor"], best["floor (tool in a thread)"]
            for driver, us in best.items():
                label = {
                    "sdk": "bare SDK loop (create)",
                    "floor": "bare aiohttp loop",
                    "floor (tool in a thread)": "bare aiohttp loop, tool in a thread",
                }.get(driver, f"exo {driver}")
                if stream and driver.startswith("floor"):
                    label += ", streamed"
                rows.append((api, label, us, floor, threaded))
        await sdk.close()
    await session.close()
    return rows


async def concurrent(base: str, runs: int, concurrency: int) -> list[tuple[str, float, float]]:
    """Rows of (backend, runs/s, CPU µs per call) for exo with ``concurrency`` runs in flight."""
    from exo import Agent

    use_mock(base)
    names = MODELS
    rows = []
    for api, name in names.items():
        agent = Agent(name="bench", model=name, tools=[add])
        gate = asyncio.Semaphore(concurrency)

        async def one(agent: Any = agent, gate: asyncio.Semaphore = gate) -> str:
            async with gate:
                return await exo_run(agent, False)

        await asyncio.gather(*(one() for _ in range(concurrency)))  # warm: connections open
        start, cpu = time.perf_counter(), time.process_time()
        answers = await asyncio.gather(*(one() for _ in range(runs)))
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        assert all("3, 7 and 11" in a for a in answers)
        rows.append((api, runs / wall, cpu / (4 * runs) * 1e6))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="runs per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="measurements; the best is kept")
    parser.add_argument("--port", type=int, default=0, help="the mock's port (0: a free one)")
    parser.add_argument("--serve", action="store_true", help="only run the mock")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=0,
        help="instead: exo with this many runs in flight (runs/s, peak RSS)",
    )
    parser.add_argument("--latency-ms", type=float, default=0, help="the mock's delay")
    parser.add_argument("--backend", choices=("chat", "responses", "anthropic"), help="only this")
    parser.add_argument("--uvloop", action="store_true", help="run the client on uvloop")
    args = parser.parse_args()
    if args.serve:
        serve(args.port)
        return
    mock, base = spawn(args.latency_ms, args.port)
    try:
        runner: Callable[[Any], Any] = asyncio.run
        if args.uvloop:
            import uvloop

            runner = uvloop.run
        if args.concurrency:
            flows = runner(concurrent(base, args.runs, args.concurrency))
        else:
            rows = runner(measure(base, args.runs, args.rounds, args.backend))
    finally:
        mock.terminate()
    if args.concurrency:
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"exo, {args.concurrency} runs in flight, mock latency {args.latency_ms:g} ms, "
            f"{args.runs} runs; peak RSS of the process (all backends) {rss:.0f} MB"
        )
        print("| backend | runs/s | CPU µs/call |\n|---|---|---|")
        for api, rate, cpu_us in flows:
            print(f"| {api} | {rate:.0f} | {cpu_us:.0f} |")
        return
    print(
        "| backend | driver | CPU µs/call | ratio to the bare loop "
        "| ratio to the bare loop with its tool in a thread |"
    )
    print("|---|---|---|---|---|")
    for api, mode, value, floor, threaded in rows:
        print(f"| {api} | {mode} | {value:.0f} | {value / floor:.2f}× | {value / threaded:.2f}× |")


if __name__ == "__main__":
    main()
