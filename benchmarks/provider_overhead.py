"""Measure the CPU cost per model call of exo's OpenAI providers: raw path vs SDK path.

Both paths go through the official SDK client; the raw path (the default, ``raw=True``) sends
orjson-serialized bytes with ``AsyncOpenAI.post`` and parses the body itself, the SDK path
(``raw=False``) calls ``client.chat.completions.create`` / ``client.responses.create`` and
reads the SDK's pydantic models. The server is an ``httpx2.MockTransport`` answering with
prebuilt bytes, so the numbers are the client-side overhead of one call (request building,
SDK machinery, parsing), without any network. The "floor" row is the SDK's own request
machinery alone: ``client.post`` of a constant body, returning the raw response unparsed.

``--server`` instead runs a local aiohttp server on 127.0.0.1 and fires ``--concurrency``
requests at once through the default aiohttp-based client, reporting wall time per call.

Run: ``python benchmarks/provider_overhead.py [--seconds 0.3]``, or with
``--server [--calls 1000] [--concurrency 200]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx2

from exo.models.base import ModelRequest, ModelResponse, ToolSpec
from exo.models.openai import OpenAIProvider
from exo.models.openai_responses import OpenAIResponsesProvider
from exo.types import AssistantMessage, Message, SystemMessage, ToolCall, ToolResult, UserMessage

TOOL = ToolSpec(
    name="add",
    description="Add two integers.",
    parameters={
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "required": ["a", "b"],
    },
)
ANSWER = "The sums are 3, 7 and 11. " * 4


def conversation(turns: int) -> list[Message]:
    """A system prompt, a question, and ``turns`` rounds of tool call + result."""
    messages: list[Message] = [
        SystemMessage(content="You are a careful calculator. Use the add tool."),
        UserMessage(content="Add 1+2, 3+4 and 5+6, one call at a time."),
    ]
    for i in range(turns):
        call = ToolCall(id=f"call_{i:024d}", name="add", arguments=f'{{"a": {i}, "b": {i + 1}}}')
        messages += [
            AssistantMessage(content="", tool_calls=[call]),
            ToolResult(tool_call_id=call.id, tool_name="add", content=str(2 * i + 1)),
        ]
    return messages


def chat_json() -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 1,
            "model": "gpt-4o-2024-08-06",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": ANSWER, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": 120,
                "completion_tokens": 30,
                "total_tokens": 150,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
            },
        }
    ).encode()


def chat_sse(pieces: int = 40) -> bytes:
    head = '{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1,"model":"gpt-4o"'
    words = ANSWER.split(" ")
    out = []
    for i in range(pieces):
        delta = json.dumps({"content": words[i % len(words)] + " "})
        out.append(f'data: {head},"choices":[{{"index":0,"delta":{delta},"finish_reason":null}}]}}')
    out.append(f'data: {head},"choices":[{{"index":0,"delta":{{}},"finish_reason":"stop"}}]}}')
    out.append(
        f'data: {head},"choices":[],"usage":{{"prompt_tokens":120,"completion_tokens":40}}}}'
    )
    out.append("data: [DONE]")
    return ("\n\n".join(out) + "\n\n").encode()


def responses_json() -> bytes:
    return json.dumps(
        {
            "id": "resp_bench",
            "object": "response",
            "status": "completed",
            "model": "gpt-4o-2024-08-06",
            "output": [
                {
                    "id": "msg_1",
                    "type": "message",
                    "role": "assistant",
                    "status": "completed",
                    "content": [{"type": "output_text", "text": ANSWER, "annotations": []}],
                }
            ],
            "usage": {"input_tokens": 120, "output_tokens": 30, "total_tokens": 150},
        }
    ).encode()


def mock_client(body: bytes, content_type: str) -> httpx2.AsyncClient:
    def handle(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": content_type}, content=body)

    return httpx2.AsyncClient(transport=httpx2.MockTransport(handle))


async def per_call_us(
    fn: Callable[[], Awaitable[Any]], seconds: float = 0.3, repeats: int = 5
) -> float:
    """Median over ``repeats`` runs of ``seconds`` each of the mean µs per sequential call."""
    for _ in range(20):
        await fn()
    results = []
    for _ in range(repeats):
        calls, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds:
            await fn()
            calls += 1
        results.append(elapsed / calls * 1e6)
    return statistics.median(results)


async def drain(provider: OpenAIProvider | OpenAIResponsesProvider, request: ModelRequest) -> None:
    async for item in provider.stream(request):
        last = item
    assert isinstance(last, ModelResponse)


Provider = OpenAIProvider | OpenAIResponsesProvider


async def both_paths(
    make: Callable[[bool], Provider], request: ModelRequest, *, stream: bool, seconds: float
) -> tuple[float, float]:
    """µs per call on the raw path and on the SDK path."""
    timings = []
    for raw in (True, False):
        provider = make(raw)

        async def once(provider: Provider = provider) -> None:
            if stream:
                await drain(provider, request)
            else:
                await provider.complete(request)

        timings.append(await per_call_us(once, seconds))
        await provider.aclose()
    return timings[0], timings[1]


def chat_maker(body: bytes, content_type: str) -> Callable[[bool], Provider]:
    def make(raw: bool) -> Provider:
        client = mock_client(body, content_type)
        return OpenAIProvider("gpt-4o", api_key="sk-bench", raw=raw, http_client=client)

    return make


def responses_maker(raw: bool) -> Provider:
    client = mock_client(responses_json(), "application/json")
    return OpenAIResponsesProvider("gpt-4o", api_key="sk-bench", raw=raw, http_client=client)


async def bench_mock(seconds: float) -> None:
    rows: list[tuple[str, str, tuple[float, float]]] = []
    for turns in (0, 10, 50):
        request = ModelRequest(messages=conversation(turns), tools=[TOOL])
        label = f"{2 + 2 * turns} msgs"
        complete = chat_maker(chat_json(), "application/json")
        streamed = chat_maker(chat_sse(), "text/event-stream")
        cases = (
            ("chat complete", complete, False),
            ("chat stream (40 deltas)", streamed, True),
            ("responses complete", responses_maker, False),
        )
        for kind, make, stream in cases:
            rows.append(
                (kind, label, await both_paths(make, request, stream=stream, seconds=seconds))
            )

    floor_p = chat_maker(chat_json(), "application/json")(True)
    constant = b'{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}'

    async def floor() -> None:
        await floor_p.client.post("/chat/completions", cast_to=httpx2.Response, content=constant)

    floor_us = await per_call_us(floor, seconds)
    await floor_p.aclose()

    print(f"{'call':<26}{'conversation':>14}{'raw µs':>10}{'sdk µs':>10}{'sdk/raw':>9}")
    for kind, label, (raw_us, sdk_us) in rows:
        print(f"{kind:<26}{label:>14}{raw_us:>10.0f}{sdk_us:>10.0f}{sdk_us / raw_us:>8.1f}x")
    print(f"{'floor: SDK post, no parse':<26}{'-':>14}{floor_us:>10.0f}")


async def fire(
    provider: OpenAIProvider, request: ModelRequest, *, stream: bool, calls: int, concurrency: int
) -> tuple[float, int]:
    """Seconds for ``calls`` calls with ``concurrency`` in flight, and how many failed."""
    sem = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with sem:
            if stream:
                await drain(provider, request)
            else:
                await provider.complete(request)

    start = time.perf_counter()
    outcomes = await asyncio.gather(*(one() for _ in range(calls)), return_exceptions=True)
    return time.perf_counter() - start, sum(isinstance(o, BaseException) for o in outcomes)


async def bench_server(calls: int, concurrency: int) -> None:
    from aiohttp import web

    body, sse_body = chat_json(), chat_sse()

    async def handle(request: web.Request) -> web.StreamResponse:
        payload = await request.json()
        if payload.get("stream"):
            return web.Response(body=sse_body, content_type="text/event-stream")
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    request = ModelRequest(messages=conversation(10), tools=[TOOL])
    try:
        for raw in (True, False):
            # a generous timeout: the SDK path can hog the loop long enough to trip connects
            p = OpenAIProvider("gpt-4o", api_key="sk-bench", raw=raw, timeout=300,
                               base_url=f"http://127.0.0.1:{port}/v1")  # fmt: skip
            for stream in (False, True):
                kw = {"stream": stream, "concurrency": concurrency}
                await fire(p, request, calls=min(calls, 200), **kw)  # type: ignore[arg-type]
                elapsed, failed = await fire(p, request, calls=calls, **kw)  # type: ignore[arg-type]
                name = f"{'raw' if raw else 'sdk'} {'stream' if stream else 'complete'}"
                print(f"{name:<16} {calls} calls, {concurrency} at once: "
                      f"{elapsed / calls * 1e6:8.0f} µs/call ({calls / elapsed:7.0f} calls/s)"
                      f"{f', {failed} failed' if failed else ''}")  # fmt: skip
            await p.aclose()
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.3, help="per timing run (mock)")
    parser.add_argument("--calls", type=int, default=1000, help="calls (server mode)")
    parser.add_argument("--server", action="store_true", help="local aiohttp server mode")
    parser.add_argument("--concurrency", type=int, default=200)
    args = parser.parse_args()
    if args.server:
        asyncio.run(bench_server(args.calls, args.concurrency))
    else:
        asyncio.run(bench_mock(args.seconds))


if __name__ == "__main__":
    main()
