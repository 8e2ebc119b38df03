"""Decode server-sent events from raw response bytes, without the SDKs' per-event objects.

Every raw-path reader (Chat Completions, Responses and Anthropic Messages) reads through
:class:`SSEReader`, so each stream is read the same way: in linear time (an unfinished line
is kept as a list of pieces, joined once), within the call's time budget (a
:class:`~exo.models._transport.Watch`: only events that carry data count as progress) and
under the size caps the response's byte stream enforces (:func:`~exo.models._transport.guard`).

OpenAI-style streams are ``data: <json>`` lines (Chat Completions, with a final
``data: [DONE]``) or ``event: <type>`` + ``data: <json>`` pairs (Responses), each event ended
by a blank line. :class:`SSEDecoder` is a small synchronous state machine fed with the body's
chunks as they arrive; it yields ``(event, data)`` pairs with ``data`` still as bytes, so the
caller can hand them straight to a fast JSON parser. Comment lines (``: keep-alive``, as
OpenRouter sends) and the ``id`` / ``retry`` fields are ignored; CR, LF and CRLF line ends
are all accepted, even when split across chunks. One field outside the standard is read:
``error: <json>``, how llama.cpp's server reports a failure mid-stream, becomes an event
named ``error``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx2

from exo.models._transport import Reply, Watch

__all__ = ["SSEDecoder", "SSEReader"]

Event = tuple[str | None, bytes]

_DRAIN_SECONDS = 0.1


class SSEDecoder:
    """Turn body chunks into ``(event, data)`` pairs.

    Feed every chunk to :meth:`feed`, then call :meth:`close` once the body ends to flush an
    event that was not followed by a blank line.
    """

    __slots__ = ("_data", "_event", "_pending", "_tail_cr")

    def __init__(self) -> None:
        self._pending: list[bytes] = []  # an unfinished line, in pieces
        self._tail_cr = False  # the last chunk ended in CR: a following LF belongs to it
        self._event: str | None = None
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> list[Event]:
        """Consume one chunk of the body; return the events it completed."""
        if self._tail_cr:
            self._tail_cr = False
            if chunk.startswith(b"\n"):
                chunk = chunk[1:]
        if b"\r" in chunk:
            if chunk.endswith(b"\r"):
                self._tail_cr = True
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if b"\n" not in chunk:
            if chunk:
                self._pending.append(chunk)
            return []
        if self._pending:
            self._pending.append(chunk)
            chunk = b"".join(self._pending)
            self._pending.clear()
        lines = chunk.split(b"\n")
        last = lines.pop()
        if last:
            self._pending.append(last)
        return self._lines(lines)

    def close(self) -> list[Event]:
        """Flush what is left once the body has ended."""
        lines = [b"".join(self._pending)] if self._pending else []
        self._pending.clear()
        lines.append(b"")
        return self._lines(lines)

    def _lines(self, lines: list[bytes]) -> list[Event]:
        out: list[Event] = []
        data = self._data
        for line in lines:
            if not line:  # a blank line dispatches the event
                if data:
                    out.append((self._event, data[0] if len(data) == 1 else b"\n".join(data)))
                    data.clear()
                self._event = None
                continue
            if line.startswith(b"data:"):
                value = line[5:]
                data.append(value[1:] if value.startswith(b" ") else value)
            elif line.startswith(b"event:"):
                self._event = line[6:].strip().decode("utf-8", "replace")
            elif line.startswith(b"error:"):
                # llama.cpp's server sends a streamed failure as an `error: {...}` field: an
                # unknown field to the standard (dropped), but its only word on what failed
                self._event = "error"
                value = line[6:]
                data.append(value[1:] if value.startswith(b" ") else value)
            elif line == b"data":
                data.append(b"")
            # ":" comments and the id / retry fields carry nothing we use
        return out


class SSEReader:
    """Read a streamed response as batches of events (one batch per network chunk).

    A plain object with a coroutine per batch (:meth:`next`), not an async generator: the
    provider's reader awaits it directly, so a delta crosses no generator frame of its own.
    Reading stops at a ``data: [DONE]`` event (Chat Completions' end marker, not part of any
    batch) and sets :attr:`done`; what follows it (usually nothing) is drained for at most
    0.1 s so an HTTP/1.1 connection can go back to the pool. Call :meth:`aclose` when done
    (early or not): it closes the body iterator.
    """

    __slots__ = ("_chunks", "_decoder", "_state", "_watch", "done")

    def __init__(self, response: Reply, watch: Watch) -> None:
        self._chunks = response.aiter_bytes()
        self._watch = watch
        self._decoder = SSEDecoder()
        self._state = 0  # 0 reading, 1 [DONE] seen (drain next), 2 finished
        self.done = False

    async def next(self) -> list[Event] | None:
        """The events of the body's next chunk that completes any, in order; ``None`` at
        the end (the body ended, or ``[DONE]``)."""
        if self._state:
            if self._state == 1:
                self._state = 2
                await _drain(self._chunks)
            return None
        chunks, watch, decoder = self._chunks, self._watch, self._decoder
        while True:
            try:
                raw = await watch.read(chunks.__anext__())
            except StopAsyncIteration:
                self._state = 2
                return self._tail()
            events = decoder.feed(raw)
            if not events:
                continue  # a comment, or part of a line: not progress
            watch.progress()
            for i, (_, data) in enumerate(events):
                if data.startswith(b"[DONE]"):
                    self.done = True
                    self._state = 1
                    if i:
                        return events[:i]
                    return await self.next()
            return events

    def _tail(self) -> list[Event] | None:
        """The events the body's end completes (an event not followed by a blank line)."""
        tail: list[Event] = []
        for event in self._decoder.close():
            if event[1].startswith(b"[DONE]"):
                self.done = True
                break
            tail.append(event)
        return tail or None

    async def aclose(self) -> None:
        """Close the body iterator (the response itself is its owner's to close)."""
        self._state = 2
        await self._chunks.aclose()


async def _drain(chunks: AsyncIterator[bytes]) -> None:
    try:
        async with asyncio.timeout(_DRAIN_SECONDS):
            async for _ in chunks:
                pass
    except (TimeoutError, httpx2.HTTPError, httpx2.StreamError):
        pass
