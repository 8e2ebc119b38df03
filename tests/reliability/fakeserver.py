"""A local fake of the OpenAI and Anthropic HTTP APIs, with faults on demand.

:class:`FakeServer` is an ``aiohttp.web`` server on 127.0.0.1 (an ephemeral port), run in its
own thread and event loop so that its tasks never mix with the test's. It answers
``POST /v1/chat/completions``, ``/v1/responses`` and ``/v1/messages`` in each API's wire
format, JSON or SSE, from a script of :class:`Reply` objects (or a responder function), and it
can fail on demand: an HTTP status with the provider's error body and ``Retry-After`` /
``retry-after-ms`` headers, a connection reset before the first byte or after N events, a
malformed SSE line, a slow or endless stream. Every attempt is recorded (:class:`Attempt`),
with its request body checked the way the real API checks it and how it ended, including
whether the client closed the response before the end.

The client side (real providers pointed at the server, a transport that counts closed
responses) is in :mod:`reliability.clients`.
"""

from __future__ import annotations

import asyncio
import collections
import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from reliability.wire import (
    Call,
    Seen,
    Turn,
    error_body,
    malformed,
    masked,
    preamble,
    render_events,
    render_json,
    text_event,
)
from reliability.wirecheck import read_request, validate

__all__ = [
    "MODELS",
    "Attempt",
    "FakeServer",
    "Reply",
    "answer",
    "fail",
    "reset",
    "structured",
    "tools",
]

ROUTES = {
    "/v1/chat/completions": "openai",
    "/v1/responses": "openai-responses",
    "/v1/messages": "anthropic",
}
MODELS = {"openai": "gpt-4o", "openai-responses": "gpt-4o", "anthropic": "claude-sonnet-4-6"}
ENDLESS_CAP = 20.0
"""Seconds an endless stream runs at most when no client leaves (a test bug, not a hang)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """What the server does with one request.

    Attributes:
        turn: The answer (None for a pure fault).
        status: HTTP status; anything but 200 sends the provider's error body.
        message: The error message for a status reply.
        headers: Extra response headers (``Retry-After``, ``x-should-retry``…), on an error
            or a plain answer.
        reset: Reset the connection before the first byte of the response.
        reset_after: Streams: reset after this many events (0: right after the headers).
            JSON: reset halfway through the body.
        malformed_after: Streams: send a malformed data line after this many events.
        delay: Seconds to wait before answering.
        event_delay: Seconds between streamed events.
        endless: Streams: after the opening events, send text deltas until the client leaves
            (the first few at once, then one every ``event_delay``, at least 2 ms).
        stall_after: Streams: after this many events, go silent for ``stall`` seconds.
        stall: How long a stall lasts.
        keepalive: Streams: after the opening events, send only ``: keep-alive`` comments,
            one every this many seconds, until the client leaves.
        drip: Send the body (JSON or events) one byte every this many seconds.
        endless_line: Streams: after the opening events, start a ``data:`` line and never
            end it (64 KiB pieces as fast as the client reads) until the client leaves.
        echo: A text the server puts in its answer's failure: streams send it in a
            malformed line (``echo_in="line"``) or an error event (``"event"``), JSON bodies
            as a non-JSON 200 body.
        echo_in: Where a stream puts ``echo``.
    """

    turn: Turn | None = None
    status: int = 200
    message: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    reset: bool = False
    reset_after: int | None = None
    malformed_after: int | None = None
    delay: float = 0.0
    event_delay: float = 0.0
    endless: bool = False
    stall_after: int | None = None
    stall: float = 5.0
    keepalive: float | None = None
    drip: float | None = None
    endless_line: bool = False
    echo: str | None = None
    echo_in: str = "line"


def answer(text: str, **options: Any) -> Reply:
    """A final text answer (``Turn`` fields and ``Reply`` fields both accepted)."""
    return _reply(Turn, text=text, **options)


def tools(*calls: Call | tuple[str, str], **options: Any) -> Reply:
    """Tool calls (parallel when several): ``tools(("add", '{"a": 1}'))``."""
    made = tuple(c if isinstance(c, Call) else Call(*c) for c in calls)
    return _reply(Turn, calls=made, **options)


def _reply(_: type[Turn], **options: Any) -> Reply:
    turn_keys = set(Turn.__dataclass_fields__)
    turn = Turn(**{k: v for k, v in options.items() if k in turn_keys})
    return Reply(turn=turn, **{k: v for k, v in options.items() if k not in turn_keys})


def fail(
    status: int,
    *,
    retry_after: str | None = None,
    retry_after_ms: str | None = None,
    should_retry: bool | None = None,
    message: str = "",
) -> Reply:
    """An HTTP error with the provider's error body and optional retry headers."""
    headers: dict[str, str] = {}
    if retry_after is not None:
        headers["retry-after"] = retry_after
    if retry_after_ms is not None:
        headers["retry-after-ms"] = retry_after_ms
    if should_retry is not None:
        headers["x-should-retry"] = "true" if should_retry else "false"
    return Reply(status=status, headers=headers, message=message or f"scripted HTTP {status}")


def reset(**options: Any) -> Reply:
    """A connection reset before the first byte."""
    return Reply(reset=True, **options)


def structured(*payloads: str | Reply) -> Callable[[Attempt], Reply]:
    """A responder answering each request with the next payload in the way the request asks
    for a typed answer: as the text when it sets ``response_format`` / ``text.format``, as a
    ``final_result`` tool call when it offers that tool (a ``Reply`` is sent as it is)."""
    queue = collections.deque(payloads)

    def respond(attempt: Attempt) -> Reply:
        payload = queue.popleft() if queue else "the script has no more typed answers"
        if isinstance(payload, Reply):
            return payload
        body = attempt.body
        names = [
            t.get("name") or t.get("function", {}).get("name") for t in body.get("tools") or ()
        ]
        if "response_format" in body or "text" in body or "final_result" not in names:
            return answer(payload)
        return tools(("final_result", payload))

    return respond


@dataclass(slots=True)
class Attempt:
    """One HTTP request the server received, and how it ended.

    ``outcome`` is ``pending`` while it runs, then ``ok`` (answered in full), ``error``
    (an HTTP error status), ``rejected`` (the body failed validation), ``reset`` (we reset
    the connection) or ``client_closed`` (the client left before the end of the stream).
    """

    n: int
    protocol: str
    stream: bool
    body: dict[str, Any]
    headers: dict[str, str]
    seen: Seen
    problems: list[str]
    reply: Reply | None = None
    events_sent: int = 0
    outcome: str = "pending"
    ended: float = 0.0

    @property
    def key(self) -> str:
        """The API key the request carried."""
        auth = self.headers.get("authorization", "")
        return auth.removeprefix("Bearer ") if auth else self.headers.get("x-api-key", "")


Responder = Callable[[Attempt], Reply]


class FakeServer:
    """The fake provider server (use as a context manager, or ``start()`` / ``stop()``)."""

    def __init__(self) -> None:
        self.attempts: list[Attempt] = []
        self.responder: Responder | None = None
        self.expected_key: str | None = None
        self.echo_full_key = False
        self.unscripted: list[Attempt] = []
        self._script: collections.deque[Reply] = collections.deque()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # ----------------------------------------------------------------- lifecycle

    @property
    def url(self) -> str:
        """The base URL, ``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeServer:
        """Start serving in a background thread; return once the port is bound."""
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the fake server did not start")
        return self

    def stop(self) -> None:
        """Stop the server and its thread."""
        loop, runner = self._loop, self._runner
        if loop is None or runner is None:
            return
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self, ready: threading.Event) -> None:
        loop = self._loop = asyncio.new_event_loop()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/{path:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        loop.run_until_complete(self._runner.setup())
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(2048)
        self.port = sock.getsockname()[1]
        loop.run_until_complete(web.SockSite(self._runner, sock, backlog=2048).start())
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    # ----------------------------------------------------------------- scripting

    def reset(self) -> None:
        """Forget attempts, script, responder and expected key (between tests)."""
        with self._lock:
            self.attempts = []
            self.unscripted = []
            self._script.clear()
            self.responder = None
            self.expected_key = None
            self.echo_full_key = False

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with these replies, in order."""
        with self._lock:
            self._script.extend(replies)

    @property
    def remaining(self) -> int:
        """Scripted replies not used yet."""
        return len(self._script)

    def count(self, protocol: str | None = None) -> int:
        """How many requests arrived (for one protocol, or all)."""
        return sum(1 for a in self.attempts if protocol is None or a.protocol == protocol)

    @property
    def rejected(self) -> list[Attempt]:
        """Requests whose bodies the real API would have rejected."""
        return [a for a in self.attempts if a.problems]

    def settle(self, timeout: float = 5.0) -> bool:
        """Wait until no attempt is still running; return whether that happened in time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(a.outcome != "pending" for a in list(self.attempts)):
                return True
            time.sleep(0.005)
        return False

    def outcomes(self) -> list[str]:
        """How each attempt ended, in order (after waiting for running ones to end)."""
        self.settle()
        return [a.outcome for a in self.attempts]

    def _next(self, attempt: Attempt) -> Reply:
        with self._lock:
            if self.responder is not None:
                return self.responder(attempt)
            if self._script:
                return self._script.popleft()
            self.unscripted.append(attempt)
        return fail(500, message="the fake server has no scripted reply for this request")

    # ----------------------------------------------------------------- serving

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        protocol = ROUTES.get(request.path)
        raw = await request.read()
        if protocol is None:
            return web.json_response({"error": {"message": "no such route"}}, status=404)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        stream = isinstance(body, dict) and bool(body.get("stream"))
        problems = validate(protocol, body, stream)
        seen = read_request(protocol, body) if not problems and isinstance(body, dict) else Seen()
        headers = {k.lower(): v for k, v in request.headers.items()}
        with self._lock:
            attempt = Attempt(
                len(self.attempts), protocol, stream, body or {}, headers, seen, problems
            )
            self.attempts.append(attempt)
        try:
            return await self._answer(request, attempt)
        except (ConnectionError, asyncio.CancelledError):
            attempt.outcome = "client_closed"
            raise
        finally:
            if attempt.outcome == "pending":
                attempt.outcome = "failed"
            attempt.ended = time.monotonic()

    async def _answer(self, request: web.Request, attempt: Attempt) -> web.StreamResponse:
        protocol = attempt.protocol
        if attempt.problems:
            attempt.outcome = "rejected"
            return _error(protocol, 400, "invalid request: " + "; ".join(attempt.problems), {})
        if self.expected_key is not None and attempt.key != self.expected_key:
            attempt.outcome = "error"
            shown = attempt.key if self.echo_full_key else masked(attempt.key)
            message = f"Incorrect API key provided: {shown}."
            if protocol == "anthropic" and not self.echo_full_key:
                message = "invalid x-api-key"  # what the real API says
            return _error(protocol, 401, message, {"x-should-retry": "false"})
        reply = attempt.reply = self._next(attempt)
        if reply.delay:
            await _sleep_unless_gone(request, reply.delay)
        if reply.reset:
            attempt.outcome = "reset"
            _abort(request)
            return web.Response()
        if reply.status != 200:
            attempt.outcome = "error"
            return _error(protocol, reply.status, reply.message, reply.headers)
        model = str(attempt.body.get("model") or MODELS[protocol])
        if not attempt.stream:
            return await self._json(request, attempt, reply, model)
        return await self._stream(request, attempt, reply, model)

    async def _json(
        self, request: web.Request, attempt: Attempt, reply: Reply, model: str
    ) -> web.StreamResponse:
        data = json.dumps(render_json(attempt.protocol, reply.turn or Turn(), model)).encode()
        if reply.echo is not None:  # a 200 that is not JSON: a broken proxy's page
            attempt.outcome = "ok"
            return web.Response(
                body=f"upstream said: {reply.echo}".encode(), content_type="application/json"
            )
        if reply.drip is not None:
            return await self._drip(request, attempt, reply, data, "application/json")
        if reply.reset_after is None:
            attempt.outcome = "ok"
            return web.Response(body=data, content_type="application/json", headers=reply.headers)
        response = web.StreamResponse(headers={"content-type": "application/json"})
        response.content_length = len(data)
        await response.prepare(request)
        await response.write(data[: len(data) // 2])
        attempt.outcome = "reset"
        _abort(request)
        return response

    async def _drip(
        self, request: web.Request, attempt: Attempt, reply: Reply, data: bytes, kind: str
    ) -> web.StreamResponse:
        """Send ``data`` one byte at a time (a server that never quite stops)."""
        response = web.StreamResponse(headers={"content-type": kind})
        await response.prepare(request)
        try:
            for i in range(len(data)):
                await response.write(data[i : i + 1])
                await _sleep_unless_gone(request, reply.drip or 0.0)
            await response.write_eof()
        except (ConnectionError, asyncio.CancelledError):
            attempt.outcome = "client_closed"
            return response
        attempt.outcome = "ok"
        return response

    async def _forever(
        self, request: web.Request, attempt: Attempt, reply: Reply, model: str
    ) -> web.StreamResponse:
        """Opening events, then keep-alive comments or one endless line, until the client goes."""
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        deadline = time.monotonic() + ENDLESS_CAP
        piece = b"a" * 65536
        try:
            for event in preamble(attempt.protocol, model):
                await response.write(event)
            if reply.endless_line:
                await response.write(b'data: {"type": "x", "text": "')
            while time.monotonic() < deadline:
                if reply.endless_line:
                    # counted before the write: the client may read a piece and hang up while
                    # this write still waits to drain, and that piece was sent all the same
                    attempt.events_sent += 1
                    await response.write(piece)
                else:
                    await response.write(b": keep-alive\n\n")
                    await _sleep_unless_gone(request, reply.keepalive or 1.0)
        except (ConnectionError, asyncio.CancelledError):
            attempt.outcome = "client_closed"
            return response
        attempt.outcome = "ok"  # the cap ran out: the client never left (a test bug)
        return response

    async def _stream(
        self, request: web.Request, attempt: Attempt, reply: Reply, model: str
    ) -> web.StreamResponse:
        if reply.keepalive is not None or reply.endless_line:
            return await self._forever(request, attempt, reply, model)
        if reply.drip is not None:
            data = b"".join(_events(attempt.protocol, reply, model))
            return await self._drip(request, attempt, reply, data, "text/event-stream")
        if reply.echo is not None:
            return await self._echo(request, attempt, reply.echo, reply.echo_in)
        response = web.StreamResponse(
            headers={"content-type": "text/event-stream", "cache-control": "no-cache"}
            | dict(reply.headers)
        )
        await response.prepare(request)
        pause = max(reply.event_delay, 0.002) if reply.endless else reply.event_delay
        try:
            if reply.reset_after == 0:
                await response.write(b": connected\n\n")  # the headers are surely out
            for sent, event in enumerate(_events(attempt.protocol, reply, model)):
                if sent == reply.reset_after:
                    attempt.outcome = "reset"
                    _abort(request)
                    return response
                if sent == reply.malformed_after:
                    await response.write(malformed(attempt.protocol))
                if pause and sent and not (reply.endless and sent < 8):
                    await asyncio.sleep(pause)
                if sent == reply.stall_after:
                    await _sleep_unless_gone(request, reply.stall)
                await response.write(event)
                attempt.events_sent = sent + 1
            await response.write_eof()
        except (ConnectionError, asyncio.CancelledError):
            attempt.outcome = "client_closed"
            return response
        attempt.outcome = "ok"
        return response

    async def _echo(
        self, request: web.Request, attempt: Attempt, text: str, where: str
    ) -> web.StreamResponse:
        """A stream that quotes ``text`` in a malformed line or in an error event."""
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        message = f"upstream rejected {text}"
        if where == "line":
            await response.write(f"data: {{not json, {text}\n\n".encode())
        elif attempt.protocol == "openai":
            await response.write(
                b"data: " + json.dumps({"error": {"message": message}}).encode() + b"\n\n"
            )
        elif attempt.protocol == "openai-responses":
            data = {"type": "error", "code": "server_error", "message": message}
            await response.write(b"event: error\ndata: " + json.dumps(data).encode() + b"\n\n")
        else:
            data = {"type": "error", "error": {"type": "api_error", "message": message}}
            await response.write(b"event: error\ndata: " + json.dumps(data).encode() + b"\n\n")
        await response.write_eof()
        attempt.outcome = "ok"
        return response


def _events(protocol: str, reply: Reply, model: str) -> Iterator[bytes]:
    if not reply.endless:
        yield from render_events(protocol, reply.turn or Turn(), model)
        return
    yield from preamble(protocol, model)
    deadline = time.monotonic() + ENDLESS_CAP
    n = 0
    while time.monotonic() < deadline:
        yield text_event(protocol, f"tick{n} ", model)
        n += 1


def _error(protocol: str, status: int, message: str, headers: Mapping[str, str]) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(error_body(protocol, status, message)).encode(),
        content_type="application/json",
        headers=dict(headers),
    )


async def _sleep_unless_gone(request: web.Request, seconds: float) -> None:
    """Sleep, but stop early once the client has gone (a stall must not outlive its test)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        transport = request.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("the client went away")
        await asyncio.sleep(min(0.01, max(0.0, deadline - time.monotonic())))


def _abort(request: web.Request) -> None:
    """Reset the connection (RST, not a polite close)."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
