"""Leaving a provider's stream at every point closes the HTTP response, on every backend and path.

The consumer here is the provider's own stream (not ``run.stream``): ``aclose()`` after the
first chunk, ``aclose()`` after the last delta but before the final response, cancelling the
task while it waits for the headers or for the next event, and cancelling a non-streamed call
mid-body. A pool of one connection proves each was given back: the next call on the same
client gets through (a leaked response would hold the only connection until the GC).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import suppress

import anthropic
import httpx2
import openai
import pytest

from exo.models.base import ModelRequest, ModelResponse, Provider
from exo.types import UserMessage
from reliability.clients import TrackingTransport, tracking_client
from reliability.fakeserver import FakeServer, Reply, answer
from reliability.support import BACKENDS

ProviderFactory = Callable[..., Provider]
REQUEST = ModelRequest(messages=[UserMessage(content="hi")])
backends = pytest.mark.parametrize("backend", BACKENDS)
paths = pytest.mark.parametrize("raw", [True, False], ids=["raw", "sdk"])
TEXT = "one two three four five six seven eight nine ten"


def _client(kind: str, backend: str) -> tuple[httpx2.AsyncClient, TrackingTransport | None]:
    """A pool of one connection: exo's httpx2 client (tracked) or the SDK's aiohttp one."""
    if kind == "httpx2":
        return tracking_client(1)
    sdk = anthropic if backend == "anthropic" else openai
    return sdk.DefaultAioHttpClient(limits=httpx2.Limits(max_connections=1)), None


clients = pytest.mark.parametrize("kind", ["httpx2", "aiohttp"])


async def _still_works(provider: Provider) -> None:
    """The pool's one connection is free: a whole call gets through (guarded against a hang)."""
    response = await asyncio.wait_for(provider.complete(REQUEST), 10)
    assert response.message.content == TEXT


@backends
@paths
@pytest.mark.parametrize("after", [1, -1], ids=["first-chunk", "last-delta"])
async def test_aclose_of_the_providers_stream_closes_the_response(
    server: FakeServer, providers: ProviderFactory, backend: str, raw: bool, after: int
) -> None:
    client, tracker = tracking_client(1)
    provider = providers(backend, raw=raw, http_client=client, timeout=10.0)
    server.script(answer(TEXT), answer(TEXT))
    # how many chunks come before the final response: stop after the first, or the last
    stream = provider.stream(REQUEST)
    seen = []
    async for chunk in stream:
        seen.append(chunk)
        if isinstance(chunk, ModelResponse):
            break
    total = len(seen)
    assert total > 2 and tracker.opened == tracker.closed == 1
    stop = 1 if after == 1 else total - 1
    stream = provider.stream(REQUEST)
    server.script(answer(TEXT), answer(TEXT))
    for _ in range(stop):
        await asyncio.wait_for(anext(stream), 10)
    await asyncio.wait_for(stream.aclose(), 10)
    assert tracker.opened == tracker.closed == 2  # closed by aclose, not later by the GC
    await _still_works(provider)


@backends
@paths
@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@clients
async def test_cancelling_while_waiting_for_the_headers_frees_the_connection(
    server: FakeServer,
    providers: ProviderFactory,
    backend: str,
    raw: bool,
    stream: bool,
    kind: str,
) -> None:
    client, tracker = _client(kind, backend)
    provider = providers(backend, raw=raw, http_client=client, timeout=10.0)
    server.script(Reply(delay=5.0), answer(TEXT))

    async def call() -> None:
        if stream:
            _ = [chunk async for chunk in provider.stream(REQUEST)]
        else:
            await provider.complete(REQUEST)

    task = asyncio.create_task(call())
    for _ in range(200):  # until the server has the request (a guard, not a timing)
        if server.count():
            break
        await asyncio.sleep(0.01)
    assert server.count() == 1
    task.cancel()
    with suppress(asyncio.CancelledError):
        await asyncio.wait_for(task, 10)
    assert task.cancelled()
    assert tracker is None or tracker.opened == tracker.closed
    await _still_works(provider)


@backends
@paths
@clients
async def test_cancelling_mid_stream_closes_the_response(
    server: FakeServer, providers: ProviderFactory, backend: str, raw: bool, kind: str
) -> None:
    client, tracker = _client(kind, backend)
    provider = providers(backend, raw=raw, http_client=client, timeout=10.0)
    server.script(Reply(endless=True, event_delay=0.01), answer(TEXT))
    first = asyncio.Event()

    async def consume() -> None:
        async for _ in provider.stream(REQUEST):
            first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 10)
    task.cancel()
    with suppress(asyncio.CancelledError):
        await asyncio.wait_for(task, 10)
    assert task.cancelled()
    assert tracker is None or tracker.opened == tracker.closed == 1
    await _still_works(provider)
