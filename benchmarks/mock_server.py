"""Serve a fast local mock of the OpenAI Chat Completions API for the benchmarks.

The mock plays the model in the benchmark task: one tool, ``add(a: int, b: int)``,
three tool rounds, then a final text answer. On each request it counts the tool
results already in the conversation; while there are fewer than three it answers
with one call to ``add`` (deterministic arguments, a unique call id), else with
``"The sums are X, Y and Z."`` built from the tool results it was sent, so a driver
that lost a tool result is caught by the answer check. If the request offers a
tool named ``final_answer`` (smolagents' way to finish), the final answer is a
call to that tool instead of plain text.

Streaming (``"stream": true``) answers with Server-Sent Events in the wire shape
of the real API: a role chunk, content or tool-call argument deltas, a
``finish_reason`` chunk, the usage chunk when ``stream_options.include_usage`` is
set, then ``data: [DONE]``. Usage numbers are realistic (prompt tokens grow with
the conversation).

Speed: bodies are filled into prebuilt byte templates and the access log is off.
``--workers N`` forks N server processes that share the port through
SO_REUSEPORT; latency and request counts live in shared memory, so
``POST /_mock/config?latency_ms=50`` and ``GET /_mock/stats`` work whichever
worker answers.

Run: ``python benchmarks/mock_server.py --port 0 --latency-ms 0 --workers 1``;
it prints ``READY <port>`` on stdout once every worker listens.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import multiprocessing as mp
import os
import re
import signal
import socket
import sys
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

TOOL_ROUNDS = 3
_OBSERVATION = re.compile(r"Observation:\s*(-?\d+)")
_INTEGER = re.compile(r"-?\d+")

_COMPLETION = (
    b'{"id":"chatcmpl-%s","object":"chat.completion","created":%d,"model":%s,'
    b'"choices":[{"index":0,"message":%s,"logprobs":null,"finish_reason":"%s"}],'
    b'"usage":%s,"service_tier":"default","system_fingerprint":"fp_mock"}'
)
_TOOL_MESSAGE = (
    b'{"role":"assistant","content":null,"refusal":null,"annotations":[],'
    b'"tool_calls":[{"id":"%s","type":"function","function":{"name":"%s","arguments":%s}}]}'
)
_TEXT_MESSAGE = b'{"role":"assistant","content":%s,"refusal":null,"annotations":[]}'
_USAGE = (
    b'{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d,'
    b'"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},'
    b'"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,'
    b'"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}'
)
_CHUNK = (
    b'data: {"id":"chatcmpl-%s","object":"chat.completion.chunk","created":%d,"model":%s,'
    b'"service_tier":"default","system_fingerprint":"fp_mock",'
    b'"choices":[{"index":0,"delta":%s,"logprobs":null,"finish_reason":%s}]%s}\n\n'
)
_USAGE_CHUNK = (
    b'data: {"id":"chatcmpl-%s","object":"chat.completion.chunk","created":%d,"model":%s,'
    b'"service_tier":"default","system_fingerprint":"fp_mock","choices":[],"usage":%s}\n\n'
)
_DONE = b"data: [DONE]\n\n"


@dataclass(frozen=True, slots=True)
class Reply:
    """What the mock model answers: one tool call, or text."""

    text: str | None
    tool_name: str | None = None
    arguments: str | None = None


def _text_of(content: Any) -> str:
    """Flatten a message's content (a string or a list of parts) to text."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def tool_results(messages: list[dict[str, Any]]) -> list[int]:
    """Return the integer results of the tool calls seen so far, in order.

    Tool results are ``role: tool`` messages; smolagents sends them instead as user
    messages holding ``Observation:`` followed by the value.
    """
    results: list[int] = []
    for message in messages:
        role = message.get("role")
        if role == "tool":
            found = _INTEGER.search(_text_of(message.get("content")))
            results.append(int(found.group()) if found else 0)
        elif role == "user":
            results.extend(int(v) for v in _OBSERVATION.findall(_text_of(message.get("content"))))
    return results


def plan_reply(request: dict[str, Any]) -> Reply:
    """Decide the model's answer to one request of the benchmark task."""
    results = tool_results(request.get("messages", []))
    if len(results) < TOOL_ROUNDS:
        k = len(results)
        return Reply(text=None, tool_name="add", arguments=f'{{"a":{2 * k + 1},"b":{2 * k + 2}}}')
    sums = [str(r) for r in results[:TOOL_ROUNDS]]
    text = f"The sums are {', '.join(sums[:-1])} and {sums[-1]}."
    names = {t.get("function", {}).get("name") for t in request.get("tools") or ()}
    if "final_answer" in names:
        return Reply(text=None, tool_name="final_answer", arguments=json.dumps({"answer": text}))
    return Reply(text=text)


def _split(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


@dataclass(frozen=True, slots=True)
class Shared:
    """State in shared memory, seen by every worker.

    Attributes:
        latency: Seconds to wait before each answer (a ``ctypes.c_double``).
        counts: Chat requests served, one slot per worker.
        cpu: CPU seconds used, one slot per worker (updated on each request).
    """

    latency: Any
    counts: Any
    cpu: Any

    @classmethod
    def create(cls, workers: int, latency_s: float) -> Shared:
        """Allocate the shared state before the workers are forked."""
        ctx = mp.get_context("fork")
        return cls(
            latency=ctx.Value("d", latency_s, lock=False),
            counts=ctx.Array("q", workers, lock=False),
            cpu=ctx.Array("d", workers, lock=False),
        )


class MockApp:
    """The request handlers of one worker process."""

    def __init__(self, worker: int, shared: Shared):
        self.worker = worker
        self.latency = shared.latency
        self.counts = shared.counts
        self.cpu = shared.cpu
        self.ids = itertools.count()

    def build(self) -> web.Application:
        """Return the aiohttp application with the API and control routes."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_post("/chat/completions", self.chat)
        app.router.add_get("/_mock/stats", self.stats)
        app.router.add_post("/_mock/config", self.config)
        return app

    async def stats(self, request: web.Request) -> web.Response:
        """Report the number of chat requests served, summed over workers."""
        self.cpu[self.worker] = time.process_time()
        return web.json_response(
            {
                "requests": sum(self.counts),
                "cpu_s": sum(self.cpu),
                "workers": len(self.counts),
                "latency_ms": self.latency.value * 1000,
            }
        )

    async def config(self, request: web.Request) -> web.Response:
        """Set the latency of every worker: ``POST /_mock/config?latency_ms=50``."""
        self.latency.value = float(request.query.get("latency_ms", "0")) / 1000
        return await self.stats(request)

    async def chat(self, request: web.Request) -> web.StreamResponse:
        """Answer one Chat Completions request, streamed or not."""
        body = await request.read()
        payload = json.loads(body)
        self.counts[self.worker] += 1
        self.cpu[self.worker] = time.process_time()
        delay = self.latency.value
        if delay > 0:
            await asyncio.sleep(delay)
        reply = plan_reply(payload)
        n = next(self.ids)
        ids = (b"%d-%d" % (self.worker, n), b"call_%d_%d" % (self.worker, n))
        model = json.dumps(payload.get("model", "gpt-4o-mini")).encode()
        prompt_tokens = 60 + len(body) // 4
        out_tokens = 18 if reply.text is None else 4 + len(reply.text) // 4
        usage = _USAGE % (prompt_tokens, out_tokens, prompt_tokens + out_tokens)
        if not payload.get("stream"):
            data = _completion_body(reply, ids, model, usage)
            return web.Response(body=data, content_type="application/json")
        include_usage = bool((payload.get("stream_options") or {}).get("include_usage"))
        response = web.StreamResponse(headers=_SSE_HEADERS)
        await response.prepare(request)
        await response.write(_stream_body(reply, ids, model, usage, include_usage))
        await response.write_eof()
        return response


_SSE_HEADERS = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}


def _completion_body(reply: Reply, ids: tuple[bytes, bytes], model: bytes, usage: bytes) -> bytes:
    """Build the JSON body of one non-streamed answer."""
    if reply.text is None:
        name = str(reply.tool_name).encode()
        message = _TOOL_MESSAGE % (ids[1], name, json.dumps(reply.arguments).encode())
        finish = b"tool_calls"
    else:
        message = _TEXT_MESSAGE % json.dumps(reply.text).encode()
        finish = b"stop"
    return _COMPLETION % (ids[0], int(time.time()), model, message, finish, usage)


def _stream_body(
    reply: Reply, ids: tuple[bytes, bytes], model: bytes, usage: bytes, include_usage: bool
) -> bytes:
    """Build the whole SSE body of one streamed answer."""
    ident, call_id = ids
    created = int(time.time())
    tail = b',"usage":null' if include_usage else b""

    def chunk(delta: bytes, finish: bytes = b"null") -> bytes:
        return _CHUNK % (ident, created, model, delta, finish, tail)

    if reply.text is None:
        start = (
            b'{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"%s",'
            b'"type":"function","function":{"name":"%s","arguments":""}}],"refusal":null}'
        ) % (call_id, str(reply.tool_name).encode())
        parts = [chunk(start)]
        for piece in _split(str(reply.arguments), 8):
            delta = b'{"tool_calls":[{"index":0,"function":{"arguments":%s}}]}'
            parts.append(chunk(delta % json.dumps(piece).encode()))
        parts.append(chunk(b"{}", b'"tool_calls"'))
    else:
        parts = [chunk(b'{"role":"assistant","content":"","refusal":null}')]
        for piece in _split(reply.text, 4):
            parts.append(chunk(b'{"content":%s}' % json.dumps(piece).encode()))
        parts.append(chunk(b"{}", b'"stop"'))
    if include_usage:
        parts.append(_USAGE_CHUNK % (ident, created, model, usage))
    parts.append(_DONE)
    return b"".join(parts)


def _listen(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(4096)
    return sock


async def _watch_parent(parent: int, deadline: float, stop: asyncio.Event) -> None:
    """Stop when the main process is gone or the lifetime is over."""
    while True:
        if os.getppid() != parent or time.monotonic() >= deadline:
            stop.set()
            return
        await asyncio.sleep(0.5)


async def _serve(app: MockApp, sock: socket.socket, ready: Any, deadline: float) -> None:
    runner = web.AppRunner(app.build(), access_log=None, handle_signals=False)
    await runner.setup()
    await web.SockSite(runner, sock, backlog=4096).start()
    ready.set()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    watcher = asyncio.create_task(_watch_parent(os.getppid(), deadline, stop))
    await stop.wait()
    watcher.cancel()
    await runner.cleanup()


def _worker(index: int, host: str, port: int, shared: Shared, ready: Any, deadline: float) -> None:
    sock = _listen(host, port)
    asyncio.run(_serve(MockApp(index, shared), sock, ready, deadline))


def main(argv: list[str] | None = None) -> None:
    """Start the mock's workers and wait until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay before each answer")
    parser.add_argument("--workers", type=int, default=1, help="server processes (SO_REUSEPORT)")
    parser.add_argument(
        "--max-seconds", type=float, default=3600.0, help="stop by itself after this long"
    )
    args = parser.parse_args(argv)
    if not args.host.startswith("127.") and args.host not in ("localhost", "::1"):
        parser.error("the mock only listens on loopback addresses")

    ctx = mp.get_context("fork")
    shared = Shared.create(args.workers, args.latency_ms / 1000)
    # Reserve the port: a bound, non-listening SO_REUSEPORT socket takes no connections.
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    probe.bind((args.host, args.port))
    port = probe.getsockname()[1]
    events = [ctx.Event() for _ in range(args.workers)]
    deadline = time.monotonic() + args.max_seconds
    procs = [
        ctx.Process(
            target=_worker,
            args=(i, args.host, port, shared, events[i], deadline),
            daemon=True,
        )
        for i in range(args.workers)
    ]
    for proc in procs:
        proc.start()
    for event in events:
        if not event.wait(30):
            sys.exit("mock_server: a worker did not start within 30 s")
    probe.close()
    print(f"READY {port}", flush=True)

    def _stop(signum: int, frame: Any) -> None:
        for proc in procs:
            if proc.pid is not None:
                os.kill(proc.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    for proc in procs:
        proc.join()


if __name__ == "__main__":
    main()
