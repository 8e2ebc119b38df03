"""Cancellation: mid-stream, hundreds of times on a small connection pool, and during backoff.

Leaving a stream (cancelling its task, or breaking out of the loop) must end it promptly,
close the HTTP response (the server sees the client go; the client's transport sees the close),
leave no task behind and hold no pooled connection: the request after 500 cancellations
still gets a connection from a pool of two.
"""

from __future__ import annotations

import asyncio
import gc
import sys
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing, suppress
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import openai
import pytest

import exo
from exo import Agent, run
from exo._retry import RetryPolicy
from exo.models.base import Provider
from exo.types import TextEvent
from reliability.clients import TrackingTransport, tracking_client
from reliability.fakeserver import Attempt, FakeServer, Reply, answer, fail
from reliability.support import BACKENDS, drive

ProviderFactory = Callable[..., Provider]
AGENT = Agent(name="cancel", model="test:m", instructions="Talk.")
ROUNDS = 500
POOL = 2


def _endless_or_answer(attempt: Attempt) -> Reply:
    if attempt.seen.task == "talk forever":
        return Reply(endless=True, event_delay=0.001)
    return answer("the pool still works")


async def _cancel_once(provider: Provider, how: str, tracker: TrackingTransport | None) -> None:
    """Start a stream, let three deltas through, leave; check it ended as the consumer left."""
    three = asyncio.Event()
    texts: list[str] = []

    async def consume() -> None:
        async with aclosing(run.stream(AGENT, "talk forever", provider=provider)) as events:
            async for event in events:
                if isinstance(event, TextEvent):
                    texts.append(event.text)
                    if len(texts) == 3:
                        three.set()
                        if how == "break":
                            break
                        await asyncio.sleep(3600)  # cancelled here, mid-stream

    task = asyncio.create_task(consume())
    await asyncio.wait_for(three.wait(), 10)
    if how == "cancel":
        task.cancel()
    # a guard against a hang only (well below the server's 20 s cap on an endless stream)
    with suppress(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    assert task.cancelled() is (how == "cancel")
    assert len(texts) == 3  # nothing reached the consumer after it left
    if tracker is not None:  # the response was closed by leaving, not later by the GC
        assert tracker.closed == tracker.opened


async def _quiesce() -> None:
    """Let the loop run the finalizers of generators the libraries left to the GC."""
    gc.collect()
    for _ in range(10):
        await asyncio.sleep(0)


def _client(kind: str, backend: str) -> tuple[httpx2.AsyncClient, TrackingTransport | None]:
    if kind == "httpx2":
        return tracking_client(POOL)
    limits = httpx2.Limits(max_connections=POOL, max_keepalive_connections=POOL)
    sdk = anthropic if backend == "anthropic" else openai
    return sdk.DefaultAioHttpClient(limits=limits), None


@pytest.mark.parametrize(
    ("backend", "client_kind", "rounds"),
    [  # 500 in a row on one client per backend; the other client 100 times
        ("openai", "aiohttp", ROUNDS),
        ("openai-responses", "httpx2", ROUNDS),
        ("anthropic", "aiohttp", ROUNDS),
        ("openai", "httpx2", 100),
        ("openai-responses", "aiohttp", 100),
        ("anthropic", "httpx2", 100),
    ],
)
async def test_cancelling_mid_stream_500_times_on_a_small_pool(
    server: FakeServer, providers: ProviderFactory, backend: str, client_kind: str, rounds: int
) -> None:
    client, tracker = _client(client_kind, backend)
    provider = providers(backend, http_client=client, timeout=5.0)
    server.responder = _endless_or_answer
    await asyncio.sleep(0)
    before = asyncio.all_tasks()
    for n in range(rounds):
        await _cancel_once(provider, "cancel" if n % 2 == 0 else "break", tracker)
    assert server.settle(10)
    outcomes = server.outcomes()
    assert outcomes == ["client_closed"] * rounds  # the server saw every response closed
    if tracker is not None:
        assert tracker.opened == tracker.closed == rounds
    await _quiesce()
    assert asyncio.all_tasks() == before  # nothing left running
    # the pool (two connections) is not exhausted: request 501 gets through at once
    result = await asyncio.wait_for(run(AGENT, "and now?", provider=provider), 5)
    assert result.output == "the pool still works"


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("backend", BACKENDS)
async def test_cancelling_during_a_retry_backoff_returns_at_once(
    server: FakeServer, providers: ProviderFactory, backend: str, stream: bool
) -> None:
    server.script(fail(503), answer("too late"))
    waiting = asyncio.Event()
    sleeps: list[str] = []

    async def sleep_forever(seconds: float) -> None:
        sleeps.append("started")
        waiting.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            sleeps.append("cancelled")  # the backoff itself was interrupted
            raise

    retry = RetryPolicy(max_retries=3, sleep=sleep_forever)
    provider = providers(backend)
    await asyncio.sleep(0)
    before = asyncio.all_tasks()
    task = asyncio.create_task(drive(AGENT, "hi", provider=provider, stream=stream, retry=retry))
    await asyncio.wait_for(waiting.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)  # a guard against a hang; the sleep never ends
    assert task.cancelled()
    assert sleeps == ["started", "cancelled"]  # one backoff, cut short, none after it
    assert server.count() == 1 and server.remaining == 1  # no retry after the cancel
    await _quiesce()
    assert asyncio.all_tasks() == before


EXO_SOURCE = str(Path(exo.__file__).parent)


@pytest.mark.parametrize("raw", [True, False], ids=["lean", "sdk"])
@pytest.mark.parametrize("backend", BACKENDS)
async def test_leaving_a_stream_closes_exos_own_generators(
    server: FakeServer, providers: ProviderFactory, backend: str, raw: bool
) -> None:
    """exo closes what it opens; it never leaves a generator for the GC to close later."""
    client, tracker = tracking_client(POOL)
    provider = providers(backend, raw=raw, http_client=client)
    server.responder = _endless_or_answer
    loop = asyncio.get_running_loop()
    hooks = sys.get_asyncgen_hooks()
    left_to_gc: list[str] = []

    def finalizer(agen: AsyncGenerator[Any, Any]) -> None:
        code = getattr(agen, "ag_code", None)
        if code is not None and code.co_filename.startswith(EXO_SOURCE):
            left_to_gc.append(code.co_qualname)
        assert hooks.finalizer is not None
        hooks.finalizer(agen)

    sys.set_asyncgen_hooks(firstiter=hooks.firstiter, finalizer=finalizer)
    try:
        for n in range(6):
            await _cancel_once(provider, "cancel" if n % 2 == 0 else "break", tracker)
        await _quiesce()
    finally:
        sys.set_asyncgen_hooks(*hooks)
    assert loop.is_running()
    assert left_to_gc == []
