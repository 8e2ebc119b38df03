"""Bounds on every model call: a total deadline, an idle timeout, and caps on what is read.

A server can hold a call open forever (``: keep-alive`` comments every second, a body
dripped one byte at a time) or send without end (one SSE line that never ends). The SDKs'
own timeout is per read, so neither case ever times out, and nothing caps the memory. Every
backend and both request paths (raw and SDK) therefore read through these bounds:

* :class:`Watch`, the time budget of one call: ``timeout`` is the total time spent waiting
  on the server (connecting, waiting for the headers, reading), and ``idle_timeout`` the
  longest a stream may go without progress: until the headers, and between events that
  carry data (comments and partial lines do not count). A non-streamed call has only the
  deadline: the server sends nothing while it generates the answer, however long that takes.
  Time your code spends on streamed events is not counted. A stream's reads (and its
  request) share one timer (:meth:`Watch.read`) instead of a new ``asyncio.timeout`` each.
* :func:`guard`, which wraps a response's byte stream: more than :data:`MAX_BODY_BYTES` in
  all, or (event streams) one line longer than :data:`MAX_LINE_BYTES`, ends the read with
  :class:`ResponseTooLarge`, which becomes a ModelError that is not retried.
  :func:`guard_client` installs it on an HTTP client as a response hook, so the SDKs' own
  reads (``raw=False``) are guarded too.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol, TypeVar

import httpx2

from exo.errors import ModelError

__all__ = [
    "DEFAULT_IDLE_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "MAX_BODY_BYTES",
    "MAX_LINE_BYTES",
    "Chunks",
    "Guarded",
    "Reply",
    "ResponseTooLarge",
    "Watch",
    "guard",
    "guard_client",
    "sdk_stream",
    "too_large",
]

DEFAULT_TIMEOUT = 900.0
"""Seconds one model call may spend waiting on the server in all (15 minutes).

Long enough for a long streamed answer (tens of thousands of tokens) or a slow reasoning
model; a server that never finishes is cut off here."""

DEFAULT_IDLE_TIMEOUT = 300.0
"""Seconds a stream may go without an event that carries data (5 minutes).

Reasoning models can think for minutes without streaming anything; keep-alive comments do
not count as data, so a server that only sends those is cut off here."""

MAX_LINE_BYTES = 8 * 1024 * 1024
"""Longest line of an event stream (8 MiB): far above the largest event a text answer makes
(a final ``response.completed`` repeats the whole answer: ~1 MB for 128k tokens). Not higher:
the SDKs' own event decoders (``raw=False``) grow a line by concatenation, quadratic in its
length."""

MAX_BODY_BYTES = 256 * 1024 * 1024
"""Largest response body, streamed or not (256 MiB)."""

T = TypeVar("T")


class Chunks(Protocol):
    """A body's chunks: an async iterator of bytes that can be closed early."""

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    def __anext__(self) -> Awaitable[bytes]: ...

    def aclose(self) -> Awaitable[None]: ...


class Reply(Protocol):
    """A successful HTTP response as the readers use it: an ``httpx2.Response`` (the SDK's
    path), or the lane's own lighter one (:class:`~exo.models._lane.LaneReply`); either way
    its body is read under the size caps."""

    @property
    def headers(self) -> Mapping[str, str]:
        """The response headers (case-insensitive)."""
        ...

    def aiter_bytes(self) -> Chunks:
        """The body, chunk by chunk as it arrives."""
        ...

    async def aread(self) -> bytes:
        """The whole body (the response is closed afterwards)."""
        ...

    async def aclose(self) -> None:
        """Close the response (its connection goes back to the pool if the body was read)."""
        ...


class ResponseTooLarge(httpx2.HTTPError):
    """A body went past :data:`MAX_BODY_BYTES`, or one of its lines past :data:`MAX_LINE_BYTES`."""


def too_large(exc: BaseException) -> ResponseTooLarge | None:
    """The :class:`ResponseTooLarge` in ``exc``'s chain (an SDK may have wrapped it), if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ResponseTooLarge):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


class Watch:
    """The time budget of one model call (see the module docstring).

    Args:
        timeout: Seconds of waiting on the server allowed in all.
        idle_timeout: Seconds allowed without progress (see :meth:`progress`).
        backend: For the error message.
        model: For the error message.
    """

    __slots__ = (
        "_due",
        "_expiring",
        "_handle",
        "_idle",
        "_left",
        "_quiet",
        "_task",
        "_timeout",
        "backend",
        "model",
    )

    def __init__(self, timeout: float, idle_timeout: float, *, backend: str, model: str) -> None:
        self._timeout = self._left = timeout
        self._idle = idle_timeout
        self._quiet = 0.0
        self.backend = backend
        self.model = model
        # the stream's one timer (see :meth:`read`): armed at most at the current wait's end
        self._handle: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[Any] | None = None  # the task inside a read, if any
        self._due = 0.0  # when the read under way times out (loop time)
        self._expiring = False  # the timer cancelled that read

    @property
    def timeout(self) -> float:
        """The call's total budget, in seconds."""
        return self._timeout

    def progress(self) -> None:
        """Note that the server made progress: the idle clock starts again."""
        self._quiet = 0.0

    async def wait(self, awaitable: Awaitable[T], *, idle: bool = True) -> T:
        """Await ``awaitable`` within what is left of the budget.

        Args:
            awaitable: A read, or the request itself.
            idle: Whether the idle timeout applies (not while a non-streamed answer is
                being generated).

        Raises:
            ModelError: the deadline or the idle timeout passed.
        """
        idle_left = self._idle - self._quiet if idle else self._left
        limit = min(self._left, idle_left)
        loop = asyncio.get_running_loop()
        start = loop.time()
        scope = asyncio.timeout(max(limit, 0.0))
        try:
            async with scope:
                return await awaitable
        except TimeoutError:
            if not scope.expired():
                raise
            raise self._expired(idle_left < self._left) from None
        finally:
            spent = loop.time() - start
            self._left -= spent
            self._quiet += spent

    async def read(self, awaitable: Awaitable[T]) -> T:
        """:meth:`wait` (idle timeout on) for the reads of a stream, on one timer per call.

        The same budget and errors as :meth:`wait`, without a new ``asyncio.timeout`` (a
        scheduled timer and its cancellation) per network read: the call's one timer is
        armed at the first read's end and only moved earlier, never later; when it fires
        before the current read's end it re-arms itself there, and it does nothing between
        reads. Cancelling follows ``asyncio.timeout``: the read is cancelled, and the
        cancellation becomes the timeout unless someone else cancelled the task too.
        Call :meth:`close` once the stream is done.

        Raises:
            ModelError: the deadline or the idle timeout passed.
        """
        idle_left = self._idle - self._quiet
        left = self._left
        limit = left if left < idle_left else idle_left
        loop = asyncio.get_running_loop()
        start = loop.time()
        due = self._due = start + limit if limit > 0.0 else start
        task = self._task = asyncio.current_task(loop)
        assert task is not None  # a read runs in a task
        cancelling = task.cancelling()
        handle = self._handle
        if handle is None or handle.when() > due:
            if handle is not None:
                handle.cancel()
            self._handle = loop.call_at(due, self._on_timer)
        try:
            return await awaitable
        except asyncio.CancelledError:
            if self._expiring:
                self._expiring = False
                if task.uncancel() <= cancelling:  # nobody else cancelled: our timeout
                    raise self._expired(idle_left < left) from None
            raise
        finally:
            if self._expiring:  # the read ended otherwise after the timer cancelled it
                self._expiring = False
                task.uncancel()
            self._task = None
            spent = loop.time() - start
            self._left -= spent
            self._quiet += spent

    def _on_timer(self) -> None:
        task = self._task
        self._handle = None
        if task is None:
            return  # between reads: the next read arms the timer again
        loop = task.get_loop()
        if loop.time() < self._due:  # armed for an earlier read: wait for this one's end
            self._handle = loop.call_at(self._due, self._on_timer)
            return
        task.cancel()
        self._expiring = True

    def close(self) -> None:
        """Cancel the stream's timer (see :meth:`read`); the call is over."""
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.cancel()

    def _expired(self, idle: bool) -> ModelError:
        if idle:
            return ModelError(
                f"the server sent no data for {self._idle:g} s (keep-alive comments do not count)",
                backend=self.backend,
                model=self.model,
                retryable=True,
                hint="raise idle_timeout (on the Agent, or the provider) if the model "
                "legitimately thinks that long in silence",
            )
        return ModelError(
            f"the model call did not finish within its {self._timeout:g} s deadline",
            backend=self.backend,
            model=self.model,
            retryable=True,  # like any timeout; the retry budget bounds the attempts
            hint="raise timeout (Agent(model_timeout=...), or the provider's timeout=) "
            "if answers this long are expected",
        )


_BOM = b"\xef\xbb\xbf"


class Guarded(httpx2.AsyncByteStream):
    """A response body that stops at the size caps (an iterator, not a generator: nothing
    is left suspended when a read is cancelled).

    It also drops a UTF-8 byte order mark at the start of the body, as the event-stream
    standard says to: left in, it hid the first event (its ``data:`` line no longer starts
    the line) and made a JSON body unreadable to orjson, on one request path and not the
    other.
    """

    def __init__(self, inner: httpx2.AsyncByteStream, *, lines: bool) -> None:
        self._inner = inner
        self._lines = lines
        self._chunks: AsyncIterator[bytes] | None = None
        self._total = 0
        self._line = 0
        self._start = True  # the first chunk is still to come

    def __aiter__(self) -> Guarded:
        self._chunks = self._inner.__aiter__()
        return self

    async def __anext__(self) -> bytes:
        assert self._chunks is not None
        chunk = await self._chunks.__anext__()
        if self._start:
            chunk = await self._without_bom(chunk)
        self._total += len(chunk)
        if self._total > MAX_BODY_BYTES:
            raise ResponseTooLarge(
                f"the response is larger than {MAX_BODY_BYTES // 2**20} MiB; reading stopped"
            )
        if self._lines:
            end = max(chunk.rfind(b"\n"), chunk.rfind(b"\r"))
            self._line = self._line + len(chunk) if end < 0 else len(chunk) - end - 1
            if self._line > MAX_LINE_BYTES:
                raise ResponseTooLarge(
                    f"an event-stream line is longer than {MAX_LINE_BYTES // 2**20} MiB; "
                    "reading stopped"
                )
        return chunk

    async def _without_bom(self, chunk: bytes) -> bytes:
        """``chunk`` (the body's first) without a leading BOM, even one split over chunks."""
        assert self._chunks is not None
        self._start = False
        while len(chunk) < len(_BOM) and _BOM.startswith(chunk):
            try:
                chunk += await self._chunks.__anext__()
            except StopAsyncIteration:
                break
        return chunk[len(_BOM) :] if chunk.startswith(_BOM) else chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


def guard(response: httpx2.Response) -> httpx2.Response:
    """Put the size caps on ``response``'s body (once; before it is read)."""
    stream = response.stream
    if isinstance(stream, httpx2.AsyncByteStream) and not isinstance(stream, Guarded):
        kind = response.headers.get("content-type", "")
        response.stream = Guarded(stream, lines="event-stream" in kind)
    return response


async def _guard_hook(response: httpx2.Response) -> None:
    guard(response)


def guard_client(client: httpx2.AsyncClient) -> httpx2.AsyncClient:
    """Make every response ``client`` receives go through :func:`guard` (a response hook)."""
    hooks = client.event_hooks["response"]
    if _guard_hook not in hooks:
        hooks.append(_guard_hook)
    return client


@asynccontextmanager
async def sdk_stream(
    manager: AbstractAsyncContextManager[Any], watch: Watch
) -> AsyncIterator[httpx2.Response]:
    """Enter an SDK ``with_streaming_response`` call within ``watch``; give its HTTP response.

    The SDK builds and sends the request (auth, headers, error statuses); exo reads the body
    itself, with the size caps on (:func:`guard`). The response is closed on the way out.
    """
    api_response = await watch.wait(manager.__aenter__())
    try:
        yield guard(api_response.http_response)
    finally:
        await manager.__aexit__(None, None, None)
