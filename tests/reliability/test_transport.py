"""Nothing hangs, nothing grows without bound: deadlines, idle timeouts and size caps.

Every backend, both request paths, against the fake server: keep-alive comments forever
end with a ModelError once the idle timeout passes (comments are not data); a body dripped
one byte at a time ends at the call's deadline; a line that never ends stops at the line cap
with the memory it took bounded (tracemalloc peak), not grown with the stream.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import AsyncIterator, Callable

import httpx2
import pytest

from exo import Agent, ConfigError, ModelError
from exo.models._transport import MAX_BODY_BYTES, MAX_LINE_BYTES, guard
from exo.models.base import Provider
from exo.planning import build_planner
from reliability.fakeserver import FakeServer, Reply, answer
from reliability.support import BACKENDS, FakeClock, drive, policy, until

ProviderFactory = Callable[..., Provider]
backends = pytest.mark.parametrize("backend", BACKENDS)
paths = pytest.mark.parametrize("raw", [True, False], ids=["raw", "sdk"])
modes = pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
AGENT = Agent(name="waiter", model="test:m", instructions="Answer.")
LONG = "a long answer that takes a while to drip out of this server " * 4


async def _fails(agent: Agent, provider: Provider, *, stream: bool) -> ModelError:
    clock = FakeClock()
    with pytest.raises(ModelError) as caught:
        await drive(agent, "hi", provider=provider, stream=stream, retry=policy(clock, 0))
    return caught.value


async def _closed(server: FakeServer) -> bool:
    """Whether the server saw its one response closed by the client (the loop runs meanwhile:
    closing the socket takes a turn of it)."""
    await until(lambda: all(a.outcome != "pending" for a in server.attempts))
    outcomes = [a.outcome for a in server.attempts]
    assert outcomes == ["client_closed"]
    return True


@backends
@paths
async def test_keep_alive_comments_forever_end_at_the_idle_timeout(
    server: FakeServer, providers: ProviderFactory, backend: str, raw: bool
) -> None:
    server.script(Reply(keepalive=0.05))
    agent = AGENT.replace(model_idle_timeout=0.4, model_timeout=60)
    err = await _fails(agent, providers(backend, raw=raw), stream=True)
    assert "no data for 0.4 s" in err.detail and err.retryable
    assert "idle_timeout" in (err.hint or "")
    assert await _closed(server)  # the connection was closed, not left open


@backends
@paths
@modes
async def test_a_body_dripped_byte_by_byte_ends_at_the_deadline(
    server: FakeServer, providers: ProviderFactory, backend: str, raw: bool, stream: bool
) -> None:
    server.script(answer(LONG, drip=0.01))
    agent = AGENT.replace(model_timeout=0.5, model_idle_timeout=60)
    err = await _fails(agent, providers(backend, raw=raw), stream=stream)
    assert "within its 0.5 s deadline" in err.detail
    assert await _closed(server)


@backends
async def test_the_provider_timeout_is_a_deadline_too(
    server: FakeServer, providers: ProviderFactory, backend: str
) -> None:
    """``timeout=`` on the provider (the issue's ``timeout=3`` case) bounds the whole call."""
    server.script(Reply(keepalive=0.05))
    err = await _fails(AGENT, providers(backend, timeout=0.4), stream=True)
    assert "within its 0.4 s deadline" in err.detail


@backends
@paths
async def test_a_slow_but_steady_stream_is_not_cut(
    server: FakeServer, providers: ProviderFactory, backend: str, raw: bool
) -> None:
    """Each event is progress: gaps below the idle timeout never add up to a failure."""
    server.script(answer(LONG, pieces=8, event_delay=0.05))
    agent = AGENT.replace(model_idle_timeout=1.0)  # 20x the gap: holds on a loaded machine
    result = await drive(agent, "hi", provider=providers(backend, raw=raw), stream=True)
    assert result.output == LONG


@backends
@paths
async def test_an_endless_line_stops_at_the_cap_with_bounded_memory(
    server: FakeServer, providers: ProviderFactory, backend: str, raw: bool
) -> None:
    server.script(Reply(endless_line=True))
    provider = providers(backend, raw=raw)
    tracemalloc.start()
    try:
        err = await _fails(AGENT, provider, stream=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert f"longer than {MAX_LINE_BYTES // 2**20} MiB" in err.detail
    assert not err.retryable  # the same server would send the same line again
    # the server really went past the cap: its line is an opening `data: {...` plus these
    # pieces, so pieces worth the cap already make it longer than the cap
    sent = server.attempts[0].events_sent * 65536
    assert sent >= MAX_LINE_BYTES
    assert peak < 3 * MAX_LINE_BYTES  # what the client held, whatever the server sent
    assert await _closed(server)


class _Endless(httpx2.AsyncByteStream):
    def __init__(self, chunk: bytes) -> None:
        self.chunk = chunk
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            self.sent += len(self.chunk)
            yield self.chunk


@pytest.mark.parametrize(
    ("kind", "chunk", "cap"),
    [
        ("application/json", b"x" * 2**20, MAX_BODY_BYTES),
        ("text/event-stream", b"data: {}\n\n" * 100_000, MAX_BODY_BYTES),
        ("text/event-stream", b"y" * 2**20, MAX_LINE_BYTES),
        ("text/event-stream", b"z" * 2**20 + b"\r", MAX_BODY_BYTES),  # CR ends lines too
    ],
    ids=["json-body", "many-events", "one-line", "cr-ends"],
)
async def test_the_guard_stops_every_endless_body(kind: str, chunk: bytes, cap: int) -> None:
    body = _Endless(chunk)
    response = guard(httpx2.Response(200, headers={"content-type": kind}, stream=body))
    read = 0
    with pytest.raises(httpx2.HTTPError, match="reading stopped"):
        async for piece in response.aiter_raw():
            read += len(piece)
    assert cap - len(chunk) <= read <= cap  # stopped at the cap, not before
    await response.aclose()


@pytest.mark.parametrize("value", [0, -1, "30", True])
@pytest.mark.parametrize("name", ["model_timeout", "model_idle_timeout"])
def test_timeouts_are_checked_at_construction(name: str, value: object) -> None:
    with pytest.raises(ConfigError) as caught:
        Agent(name="a", model="test:m", **{name: value})
    assert caught.value.parameter == name


def test_the_planner_inherits_the_agents_timeouts() -> None:
    agent = AGENT.replace(model_timeout=12.5, model_idle_timeout=3, planning_enabled=True)
    settings = build_planner(agent).model_settings()
    assert (settings.timeout, settings.idle_timeout) == (12.5, 3)
