"""The mock of ``floor.py``: Chat Completions, Responses and Anthropic Messages on one port.

It plays the task (three ``add`` calls, then the answer) from the number of tool results a
request carries, non-streamed or as the API's event stream, and caches each reply's bytes.
Run through ``python benchmarks/floor.py --serve [--port N]`` (it prints ``READY <port>``
once listening), or :func:`spawn`.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

PAIRS = ((1, 2), (3, 4), (5, 6))
ANSWER = "The sums are 3, 7 and 11."
MODEL = "gpt-4o-mini"
CLAUDE = "claude-bench"


def _results(body: dict[str, Any], api: str) -> int:
    """How many tool results the request carries (the mock's turn)."""
    if api == "chat":
        return sum(m.get("role") == "tool" for m in body["messages"])
    if api == "responses":
        items = body["input"] if isinstance(body["input"], list) else []
        return sum(i.get("type") == "function_call_output" for i in items)
    return sum(
        b.get("type") == "tool_result"
        for m in body["messages"]
        if isinstance(m["content"], list)
        for b in m["content"]
    )


def _sse(events: list[tuple[str | None, Any]]) -> bytes:
    out = []
    for name, data in events:
        line = data if isinstance(data, str) else json.dumps(data)
        out.append((f"event: {name}\n" if name else "") + f"data: {line}\n\n")
    return "".join(out).encode()


def _chat(turn: int, stream: bool) -> bytes:
    head = {"id": "c1", "created": 1, "model": MODEL}
    usage = {"prompt_tokens": 50, "completion_tokens": 10, "total_tokens": 60}
    if turn < 3:
        a, b = PAIRS[turn]
        call = {
            "id": f"call_{turn}",
            "type": "function",
            "function": {"name": "add", "arguments": json.dumps({"a": a, "b": b})},
        }
        message: dict[str, Any] = {"role": "assistant", "content": None, "tool_calls": [call]}
        finish = "tool_calls"
    else:
        message, finish = {"role": "assistant", "content": ANSWER}, "stop"
    if not stream:
        choice = {"index": 0, "message": message, "finish_reason": finish}
        return json.dumps(
            {**head, "object": "chat.completion", "choices": [choice], "usage": usage}
        ).encode()
    chunk = {**head, "object": "chat.completion.chunk"}
    if turn < 3:
        delta: dict[str, Any] = {"tool_calls": [{"index": 0, **message["tool_calls"][0]}]}
        deltas = [delta]
    else:
        deltas = [{"content": w + " "} for w in ANSWER.split(" ")]
    events: list[tuple[str | None, Any]] = [
        (None, {**chunk, "choices": [{"index": 0, "delta": d, "finish_reason": None}]})
        for d in deltas
    ]
    events.append(
        (None, {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
    )
    events += [(None, {**chunk, "choices": [], "usage": usage}), (None, "[DONE]")]
    return _sse(events)


def _responses(turn: int, stream: bool) -> bytes:
    if turn < 3:
        a, b = PAIRS[turn]
        item: dict[str, Any] = {
            "type": "function_call",
            "id": f"fc_{turn}",
            "call_id": f"call_{turn}",
            "name": "add",
            "arguments": json.dumps({"a": a, "b": b}),
            "status": "completed",
        }
    else:
        item = {
            "type": "message",
            "id": "msg_1",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": ANSWER, "annotations": []}],
        }
    response = {
        "id": "resp_1",
        "object": "response",
        "status": "completed",
        "model": MODEL,
        "output": [item],
        "usage": {"input_tokens": 50, "output_tokens": 10, "total_tokens": 60},
    }
    if not stream:
        return json.dumps(response).encode()
    events: list[tuple[str | None, Any]] = []
    if turn == 3:
        events += [
            (
                "response.output_text.delta",
                {
                    "type": "response.output_text.delta",
                    "item_id": "msg_1",
                    "output_index": 0,
                    "content_index": 0,
                    "delta": w + " ",
                },
            )
            for w in ANSWER.split(" ")
        ]
    events.append(("response.completed", {"type": "response.completed", "response": response}))
    return _sse(events)


def _anthropic(turn: int, stream: bool) -> bytes:
    if turn < 3:
        a, b = PAIRS[turn]
        block: dict[str, Any] = {
            "type": "tool_use",
            "id": f"toolu_{turn}",
            "name": "add",
            "input": {"a": a, "b": b},
        }
        stop = "tool_use"
    else:
        block, stop = {"type": "text", "text": ANSWER}, "end_turn"
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": CLAUDE,
        "content": [block],
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {"input_tokens": 50, "output_tokens": 10},
    }
    if not stream:
        return json.dumps(message).encode()
    start = {**message, "content": [], "stop_reason": None}
    events: list[tuple[str | None, Any]] = [
        ("message_start", {"type": "message_start", "message": start})
    ]
    if turn < 3:
        events += [
            (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {**block, "input": {}},
                },
            ),
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {
                        "type": "input_json_delta",
                        "partial_json": json.dumps(block["input"]),
                    },
                },
            ),
        ]
    else:
        events.append(
            (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
            )
        )
        events += [
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": w + " "},
                },
            )
            for w in ANSWER.split(" ")
        ]
    events += [
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop},
                "usage": {"output_tokens": 10},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return _sse(events)


BUILD = {"chat": _chat, "responses": _responses, "anthropic": _anthropic}


def serve(port: int) -> None:
    """Run the mock (all three APIs) until killed; print ``READY`` once listening."""
    cache: dict[tuple[str, int, bool], bytes] = {}
    latency = float(os.environ.get("FLOOR_LATENCY_MS", "0")) / 1000

    def handler(api: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            body = json.loads(await request.read())
            stream = bool(body.get("stream"))
            key = (api, _results(body, api), stream)
            if key not in cache:
                cache[key] = BUILD[api](key[1], stream)
            if latency:
                await asyncio.sleep(latency)
            kind = "text/event-stream" if stream else "application/json"
            return web.Response(body=cache[key], content_type=kind)

        return handle

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handler("chat"))
    app.router.add_post("/v1/responses", handler("responses"))
    app.router.add_post("/v1/messages", handler("anthropic"))

    async def listen() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port)
        await site.start()
        bound = runner.addresses[0][1]
        print(f"READY {bound}", flush=True)  # only once it accepts connections
        await asyncio.Event().wait()

    asyncio.run(listen())


def spawn(latency_ms: float = 0, port: int = 0) -> tuple[subprocess.Popen[bytes], str]:
    """Start the mock in a child process; return it and its base URL once it listens.

    ``port`` 0 picks a free one, so several benchmarks (and tests) can run at once.
    """
    env = {**os.environ, "FLOOR_LATENCY_MS": str(latency_ms)}
    argv = [sys.executable, str(Path(__file__).with_name("floor.py")), "--serve"]
    mock = subprocess.Popen([*argv, "--port", str(port)], stdout=subprocess.PIPE, env=env)
    assert mock.stdout is not None
    line = mock.stdout.readline().split()
    if len(line) != 2 or line[0] != b"READY":
        mock.kill()
        raise RuntimeError(f"the floor mock did not start (it printed {line!r})")
    return mock, f"http://127.0.0.1:{int(line[1])}"
