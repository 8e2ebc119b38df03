"""The retry matrix, at the HTTP boundary: which statuses are retried, how often, how long.

Every test goes through the real providers and official SDKs against the fake server, for
each backend, streaming and not, on the lean (raw) and the SDK call paths. Attempts are
counted by the server, so a second retry layer (the SDK's own, or a transport's) would show.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable

import pytest

from exo import Agent, ModelError
from exo.models import get_provider
from exo.models.base import Provider
from reliability.fakeserver import Attempt, FakeServer, Reply, answer, fail, reset
from reliability.support import BACKENDS, FakeClock, drive, policy

RETRYABLE = (408, 409, 429, 500, 502, 503, 504, 529)
FATAL = (400, 401, 403, 404, 422)
AGENT = Agent(name="retry", model="test:m", instructions="Answer.")

ProviderFactory = Callable[..., Provider]
paths = pytest.mark.parametrize("raw", [True, False], ids=["lean", "sdk"])
modes = pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
backends = pytest.mark.parametrize("backend", BACKENDS)


@pytest.mark.parametrize("status", RETRYABLE)
@backends
@modes
@paths
async def test_one_retryable_failure_then_success_is_two_attempts(
    server: FakeServer,
    providers: ProviderFactory,
    status: int,
    backend: str,
    stream: bool,
    raw: bool,
) -> None:
    clock = FakeClock()
    server.script(fail(status), answer("recovered"))
    provider = providers(backend, raw=raw)
    result = await drive(AGENT, "hi", provider=provider, stream=stream, retry=policy(clock))
    assert result.output == "recovered"
    assert server.count() == 2
    assert server.outcomes() == ["error", "ok"]
    assert len(clock.sleeps) == 1
    assert result.usage.requests == 1  # the failed attempt is not a model call


@pytest.mark.parametrize("status", FATAL)
@backends
@modes
@paths
async def test_client_errors_are_one_attempt_and_a_typed_model_error(
    server: FakeServer,
    providers: ProviderFactory,
    status: int,
    backend: str,
    stream: bool,
    raw: bool,
) -> None:
    clock = FakeClock()
    server.script(fail(status, message=f"rejected because of rule {status}"), answer("never"))
    provider = providers(backend, raw=raw)
    with pytest.raises(ModelError) as caught:
        await drive(AGENT, "hi", provider=provider, stream=stream, retry=policy(clock))
    err = caught.value
    assert type(err) is ModelError
    assert (err.status, err.retryable, err.backend) == (status, False, backend)
    assert f"rejected because of rule {status}" in str(err)  # the provider's own words
    assert f"HTTP {status}" in str(err)
    assert server.count() == 1 and server.remaining == 1
    assert clock.sleeps == []


@pytest.mark.parametrize(
    ("headers", "at_least"),
    [
        ({"retry_after": "7"}, 7.0),
        ({"retry_after_ms": "2500"}, 2.5),
        ({"retry_after": "30", "retry_after_ms": "1500"}, 1.5),  # the finer header wins
    ],
    ids=["seconds", "milliseconds", "both"],
)
@backends
@modes
async def test_429_waits_at_least_retry_after(
    server: FakeServer,
    providers: ProviderFactory,
    headers: dict[str, str],
    at_least: float,
    backend: str,
    stream: bool,
) -> None:
    clock = FakeClock()
    server.script(fail(429, **headers), answer("after the wait"))  # type: ignore[arg-type]
    # max_delay is far below Retry-After: the server's wish still wins
    retry = policy(clock, initial_delay=0.01, max_delay=0.05)
    result = await drive(AGENT, "hi", provider=providers(backend), stream=stream, retry=retry)
    assert result.output == "after the wait"
    assert server.count() == 2
    assert len(clock.sleeps) == 1 and clock.sleeps[0] >= at_least


@backends
async def test_retry_after_as_an_http_date(
    server: FakeServer, providers: ProviderFactory, backend: str
) -> None:
    clock = FakeClock()
    when = email.utils.formatdate(time.time() + 20, usegmt=True)
    server.script(fail(503, retry_after=when), answer("ok"))
    await drive(AGENT, "hi", provider=providers(backend), stream=False, retry=policy(clock))
    assert len(clock.sleeps) == 1 and 17.0 <= clock.sleeps[0] <= 21.0


@backends
@modes
async def test_retry_after_beyond_the_policy_limit_fails_at_once(
    server: FakeServer, providers: ProviderFactory, backend: str, stream: bool
) -> None:
    clock = FakeClock()
    server.script(fail(429, retry_after="3600"), answer("never"))
    retry = policy(clock, max_retry_after=60.0)
    with pytest.raises(ModelError) as caught:
        await drive(AGENT, "hi", provider=providers(backend), stream=stream, retry=retry)
    assert caught.value.status == 429 and caught.value.retry_after == 3600.0
    assert server.count() == 1 and clock.sleeps == []


@pytest.mark.parametrize("max_retries", [0, 1, 4])
@pytest.mark.parametrize("fault", ["503", "529", "reset"])
@backends
@modes
async def test_attempts_are_bounded_by_one_retry_layer(
    server: FakeServer,
    providers: ProviderFactory,
    max_retries: int,
    fault: str,
    backend: str,
    stream: bool,
) -> None:
    clock = FakeClock()
    failure = reset() if fault == "reset" else fail(int(fault))
    server.responder = lambda _: failure
    retry = policy(clock, max_retries=max_retries)
    with pytest.raises(ModelError) as caught:
        await drive(AGENT, "hi", provider=providers(backend), stream=stream, retry=retry)
    assert caught.value.retryable
    assert server.count() == max_retries + 1  # never (1 + SDK retries) x (1 + ours)
    assert len(clock.sleeps) == max_retries


@pytest.mark.parametrize(
    ("reply", "attempts"),
    [(fail(503, should_retry=False), 1), (fail(400, should_retry=True), 2)],
    ids=["503-told-not-to", "400-told-to"],
)
@backends
async def test_x_should_retry_overrides_the_status(
    server: FakeServer, providers: ProviderFactory, reply: Reply, attempts: int, backend: str
) -> None:
    clock = FakeClock()
    server.script(reply, answer("second time lucky"))
    provider = providers(backend)
    if attempts == 1:
        with pytest.raises(ModelError):
            await drive(AGENT, "hi", provider=provider, stream=False, retry=policy(clock))
    else:
        await drive(AGENT, "hi", provider=provider, stream=False, retry=policy(clock))
    assert server.count() == attempts


@pytest.mark.parametrize("model", ["openai:gpt-4o", "openai-responses:gpt-4o", "anthropic:c-1"])
async def test_providers_from_the_registry_do_not_retry_on_their_own(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch, model: str
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "registry-key")
    monkeypatch.setenv("OPENAI_BASE_URL", f"{server.url}/v1")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "registry-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
    server.responder = lambda _: fail(503)
    clock = FakeClock()
    agent = AGENT.replace(model=model, max_retries=3)
    provider = get_provider(model)
    try:
        with pytest.raises(ModelError):
            await drive(agent, "hi", provider=provider, stream=False, retry=policy(clock, 3))
        assert server.count() == 4
        server.reset()
        server.responder = lambda _: fail(503)
        with pytest.raises(ModelError):  # resolved by the runner itself this time
            await drive(agent, "hi", provider=None, stream=True, retry=policy(clock, 1))  # type: ignore[arg-type]
        assert server.count() == 2
        assert {a.key for a in server.attempts} == {"registry-key"}
    finally:
        await provider.aclose()


@backends
async def test_retried_requests_are_identical(
    server: FakeServer, providers: ProviderFactory, backend: str
) -> None:
    clock = FakeClock()
    server.script(fail(500), reset(), fail(429, retry_after_ms="1"), answer("fourth time"))
    result = await drive(
        AGENT, "hi", provider=providers(backend), stream=True, retry=policy(clock, 3)
    )
    assert result.output == "fourth time" and server.count() == 4
    bodies = [a.body for a in server.attempts]
    assert all(body == bodies[0] for body in bodies)
    assert len({_retry_count(a) for a in server.attempts}) == 1  # the SDK never counted retries


def _retry_count(attempt: Attempt) -> str:
    return attempt.headers.get("x-stainless-retry-count", "0")
