"""Stream faults: resets before and after text, malformed events, slow and stalled streams.

A stream is retried only while nothing has reached the caller; once text has streamed, the run
fails with a ModelError that keeps the partial text, and the HTTP response is closed.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import aclosing

import pytest

from exo import Agent, ModelError, run
from exo.models.base import Provider
from exo.types import TextEvent
from reliability.clients import TrackingTransport, tracking_client
from reliability.fakeserver import FakeServer, Reply, answer, reset, tools
from reliability.support import BACKENDS, FakeClock, drive, policy
from reliability.wire import Turn, render_events

ProviderFactory = Callable[..., Provider]
backends = pytest.mark.parametrize("backend", BACKENDS)
paths = pytest.mark.parametrize("raw", [True, False], ids=["lean", "sdk"])
AGENT = Agent(name="streamer", model="test:m", instructions="Answer.")
LONG = "The quick brown fox jumps over the lazy dog, again and again and again."

calls: list[tuple[int, int]] = []


def add(a: int, b: int) -> int:
    """Add two integers."""
    calls.append((a, b))
    return a + b


def _tracked(
    providers: ProviderFactory, backend: str, raw: bool = True
) -> tuple[Provider, TrackingTransport]:
    client, tracker = tracking_client(4)
    return providers(backend, raw=raw, http_client=client), tracker


@backends
@paths
@pytest.mark.parametrize("where", ["before-headers", "after-headers"])
async def test_reset_before_the_first_event_is_retried(
    server: FakeServer, providers: ProviderFactory, backend: str, raw: bool, where: str
) -> None:
    first = reset() if where == "before-headers" else answer(LONG, reset_after=0)
    server.script(first, answer(LONG, pieces=5))
    provider, tracker = _tracked(providers, backend, raw)
    texts: list[str] = []
    clock = FakeClock()
    result = await drive(
        AGENT, "hi", provider=provider, stream=True, texts=texts, retry=policy(clock)
    )
    assert result.output == LONG and "".join(texts) == LONG  # nothing was shown twice
    assert server.count() == 2 and len(clock.sleeps) == 1
    assert tracker.opened == tracker.closed


@backends
@paths
async def test_reset_after_tool_call_deltas_but_before_text_is_retried_without_duplicates(
    server: FakeServer, providers: ProviderFactory, backend: str, raw: bool
) -> None:
    calls.clear()
    agent = AGENT.replace(tools=[add])
    call = ("add", '{"a": 20, "b": 22}')
    # the opening events and a piece of the call's arguments go out, then the reset
    server.script(tools(call, pieces=4, reset_after=5), tools(call), answer("42"))
    provider, tracker = _tracked(providers, backend, raw)
    clock = FakeClock()
    result = await drive(agent, "add", provider=provider, stream=True, retry=policy(clock))
    assert result.output == "42" and result.steps == 2
    assert calls == [(20, 22)]  # the torn call never ran; the retried one ran once
    assert server.count() == 3
    assert tracker.opened == tracker.closed


@backends
@paths
@pytest.mark.parametrize("client", ["httpx2", "aiohttp"])
async def test_reset_after_text_fails_with_the_partial_text_and_closes_the_response(
    server: FakeServer, providers: ProviderFactory, backend: str, raw: bool, client: str
) -> None:
    # enough opening events for every protocol, then three text deltas
    server.script(answer(LONG, pieces=8, reset_after=6), answer("a retry would show this"))
    tracker: TrackingTransport | None = None
    if client == "httpx2":
        provider, tracker = _tracked(providers, backend, raw)
    else:
        provider = providers(backend, raw=raw)
    texts: list[str] = []
    clock = FakeClock()
    with pytest.raises(ModelError) as caught:
        await drive(AGENT, "hi", provider=provider, stream=True, texts=texts, retry=policy(clock))
    err = caught.value
    shown = "".join(texts)
    assert shown and LONG.startswith(shown) and shown != LONG
    assert err.partial_text == shown
    assert server.count() == 1 and clock.sleeps == []  # not retried blindly
    assert server.outcomes() == ["reset"]
    if tracker is not None:
        assert tracker.opened == tracker.closed == 1


@backends
@paths
async def test_reset_halfway_through_a_json_body_is_retried(
    server: FakeServer, providers: ProviderFactory, backend: str, raw: bool
) -> None:
    server.script(answer(LONG, reset_after=1), answer(LONG))
    provider, tracker = _tracked(providers, backend, raw)
    clock = FakeClock()
    result = await drive(AGENT, "hi", provider=provider, stream=False, retry=policy(clock))
    assert result.output == LONG and server.count() == 2
    assert tracker.opened == tracker.closed == 2


@backends
@paths
async def test_malformed_event_after_text_keeps_the_partial_text(
    server: FakeServer, providers: ProviderFactory, backend: str, raw: bool
) -> None:
    server.script(answer(LONG, pieces=8, malformed_after=6), answer("never"))
    provider, tracker = _tracked(providers, backend, raw)
    texts: list[str] = []
    with pytest.raises(ModelError) as caught:
        await drive(
            AGENT, "hi", provider=provider, stream=True, texts=texts, retry=policy(FakeClock())
        )
    shown = "".join(texts)
    assert shown and LONG.startswith(shown) and caught.value.partial_text == shown
    assert server.count() == 1
    assert tracker.opened == tracker.closed == 1


@backends
@paths
async def test_malformed_event_before_text_is_a_model_error(
    server: FakeServer, providers: ProviderFactory, backend: str, raw: bool
) -> None:
    server.script(answer(LONG, malformed_after=1), answer(LONG), answer(LONG))
    provider, tracker = _tracked(providers, backend, raw)
    clock = FakeClock()
    texts: list[str] = []
    with pytest.raises(ModelError) as caught:  # a typed error, never a raw JSONDecodeError
        await drive(AGENT, "hi", provider=provider, stream=True, texts=texts, retry=policy(clock))
    err = caught.value
    assert err.backend == backend and err.partial_text == "" and texts == []
    # a server that sends broken JSON is not asked again: the error surfaced at once
    assert err.retryable is False
    assert server.count() == 1 and clock.sleeps == [] and server.remaining == 2
    assert tracker.opened == tracker.closed == 1


@backends
async def test_slow_streams_arrive_as_they_are_sent(
    server: FakeServer, providers: ProviderFactory, backend: str
) -> None:
    server.script(answer(LONG, pieces=4, event_delay=0.05))
    total = len(render_events(backend, Turn(text=LONG, pieces=4), "m"))
    provider = providers(backend)
    first_seen_at: int | None = None
    texts: list[str] = []
    async with aclosing(run.stream(AGENT, "hi", provider=provider)) as events:
        async for event in events:
            if isinstance(event, TextEvent):
                if first_seen_at is None:
                    first_seen_at = server.attempts[0].events_sent
                texts.append(event.text)
    assert "".join(texts) == LONG and len(texts) == 4
    assert first_seen_at is not None and first_seen_at < total  # not buffered to the end


@backends
async def test_a_server_that_stalls_before_answering_times_out_and_is_retried(
    server: FakeServer, providers: ProviderFactory, backend: str
) -> None:
    # the stall is far past the timeout and the timeout far past a normal answer, so the
    # test holds on a loaded machine (it once timed out the second answer too at 0.3 s)
    server.script(Reply(delay=6.0), answer("fast enough"))
    provider = providers(backend, timeout=1.5)
    clock = FakeClock()
    result = await drive(AGENT, "hi", provider=provider, stream=True, retry=policy(clock))
    assert result.output == "fast enough"
    assert server.count() == 2 and len(clock.sleeps) == 1


@backends
async def test_a_stream_that_stalls_after_text_fails_with_the_partial_text(
    server: FakeServer, providers: ProviderFactory, backend: str
) -> None:
    server.script(answer(LONG, pieces=8, stall_after=6, stall=4.0), answer("never"))
    provider = providers(backend, timeout=1.0)  # far past a normal piece on a loaded machine
    texts: list[str] = []
    clock = FakeClock()
    with pytest.raises(ModelError) as caught:
        await drive(AGENT, "hi", provider=provider, stream=True, texts=texts, retry=policy(clock))
    shown = "".join(texts)
    assert shown and caught.value.partial_text == shown
    assert caught.value.retryable and server.count() == 1 and clock.sleeps == []
