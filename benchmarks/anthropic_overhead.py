"""Measure the CPU cost of one Anthropic model call in exo, per call path, without a network.

Both paths go through the official SDK client; the HTTP layer is an ``httpx2.MockTransport``
that answers at once with a fixed body, so what is timed is exo's conversion plus the SDK's
own request and response handling:

* ``raw``  (default): orjson body → ``client.post(cast_to=httpx2.Response)`` → orjson parse;
* ``sdk``: ``client.messages.create(...)`` → the SDK's pydantic ``Message`` / typed events;
* ``floor``: ``client.post`` with a prebuilt body and no parsing: the SDK + mock transport
  cost that no adapter can go below.

Each figure is the best over repeats of the mean CPU µs per call (process time, so other
load on the machine does not count), for conversations of growing length (the request
conversion grows with the history). Run:
``python benchmarks/anthropic_overhead.py [--calls 300] [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from functools import partial

import httpx2

from exo.models.anthropic import AnthropicProvider
from exo.models.base import ModelRequest, ToolSpec
from exo.types import AssistantMessage, Message, SystemMessage, ToolCall, ToolResult, UserMessage

SCHEMA = {
    "type": "object",
    "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
    "required": ["a", "b"],
}
TOOLS = [
    ToolSpec(name=f"tool_{i}", description="Add two integers.", parameters=SCHEMA) for i in range(5)
]

REPLY = json.dumps(
    {
        "id": "msg_bench",
        "type": "message",
        "role": "assistant",
        "model": "claude-bench",
        "content": [
            {"type": "text", "text": "I will add those numbers for you now. " * 4},
            {"type": "tool_use", "id": "toolu_bench", "name": "tool_0", "input": {"a": 1, "b": 2}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": 900, "output_tokens": 60, "cache_read_input_tokens": 0},
    }
).encode()


def _sse_reply(words: int = 60) -> bytes:
    events: list[dict[str, object]] = [
        {"type": "message_start", "message": {"id": "msg_bench", "model": "claude-bench",
         "usage": {"input_tokens": 900, "output_tokens": 1}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    ]  # fmt: skip
    events += [
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": " w"}}
        for _ in range(words)
    ]
    events += [
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {
            "type": "tool_use", "id": "toolu_b", "name": "tool_0", "input": {}}},
        *[{"type": "content_block_delta", "index": 1,
           "delta": {"type": "input_json_delta", "partial_json": p}}
          for p in ("", '{"a"', ": 1, ", '"b": ', "2}")],
        {"type": "content_block_stop", "index": 1},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"},
         "usage": {"output_tokens": 70}},
        {"type": "message_stop"},
    ]  # fmt: skip
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events).encode()


SSE = _sse_reply()


def history(turns: int) -> list[Message]:
    """A system prompt, a question, then ``turns`` rounds of tool call + tool result."""
    messages: list[Message] = [
        SystemMessage(content="You are a careful assistant. " * 20),
        UserMessage(content="Add up these numbers one pair at a time. " * 5),
    ]
    for i in range(turns):
        call = ToolCall(id=f"toolu_{i}", name="tool_0", arguments=f'{{"a": {i}, "b": {i}}}')
        messages.append(AssistantMessage(content=f"Adding pair {i}.", tool_calls=[call]))
        messages.append(ToolResult(tool_call_id=call.id, tool_name="tool_0", content=str(2 * i)))
    return messages


def _client() -> httpx2.AsyncClient:
    def handler(request: httpx2.Request) -> httpx2.Response:
        if b'"stream":true' in request.content or b'"stream": true' in request.content:
            return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=SSE)
        return httpx2.Response(200, headers={"content-type": "application/json"}, content=REPLY)

    return httpx2.AsyncClient(transport=httpx2.MockTransport(handler))


async def _per_call_us(fn: Callable[[], Awaitable[object]], calls: int, repeats: int) -> float:
    for _ in range(20):  # warm up
        await fn()
    means = []
    for _ in range(repeats):
        start = time.process_time()
        for _ in range(calls):
            await fn()
        means.append((time.process_time() - start) / calls * 1e6)
    return min(means)  # the least-disturbed repeat (as timeit advises)


async def _drain(provider: AnthropicProvider, request: ModelRequest) -> None:
    async for _ in provider.stream(request):
        pass


async def main(calls: int, repeats: int) -> None:
    providers = {
        raw: AnthropicProvider("claude-bench", api_key="k", http_client=_client(), raw=raw)
        for raw in (True, False)
    }
    floor_client = providers[True].client
    body = json.dumps({"model": "claude-bench", "max_tokens": 8, "messages": []}).encode()
    floor = partial(floor_client.post, "/v1/messages", cast_to=httpx2.Response, content=body)
    base = await _per_call_us(floor, calls, repeats)
    print(f"CPU µs per call (best of {repeats} × {calls} calls), mock transport, no network")
    print(f"floor (client.post, prebuilt body, no parsing): {base:.1f}")
    print(f"{'messages':>8} | {'mode':>8} | {'raw':>7} | {'sdk':>7} | sdk/raw")
    for turns in (0, 10, 50):
        request = ModelRequest(messages=history(turns), tools=TOOLS)
        for mode in ("complete", "stream"):
            results = {}
            for raw, provider in providers.items():
                call = provider.complete if mode == "complete" else partial(_drain, provider)
                results[raw] = await _per_call_us(partial(call, request), calls, repeats)
            print(
                f"{len(request.messages):>8} | {mode:>8} | {results[True]:7.1f}"
                f" | {results[False]:7.1f} | {results[False] / results[True]:.2f}x"
            )
    for provider in providers.values():
        await provider.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.repeats))
