"""The retry layer on its own: backoff arithmetic, Retry-After, and what a stream may retry.

The providers here implement the Provider protocol directly (scripted streams of chunks), so
each test sees exactly which attempts were made and what the caller was shown.
"""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncGenerator, Sequence

import pytest

from exo._retry import RetryPolicy, call_model
from exo.errors import ModelError
from exo.models.base import (
    ModelChunk,
    ModelRequest,
    ModelResponse,
    Provider,
    ReasoningDelta,
    TextDelta,
)
from exo.types import AssistantMessage, Usage, UserMessage

REQUEST = ModelRequest(messages=[UserMessage(content="hi")])
DONE = ModelResponse(message=AssistantMessage(content="whole"), usage=Usage(requests=1))


def err(retryable: bool = True, retry_after: float | None = None) -> ModelError:
    return ModelError(
        "overloaded", backend="fake", model="m", retryable=retryable, retry_after=retry_after
    )


class ScriptedStreams:
    """A provider whose attempt n streams ``attempts[n]``: chunks, then maybe an error."""

    backend = "fake"
    model = "m"

    def __init__(self, attempts: Sequence[Sequence[ModelChunk | ModelError]]) -> None:
        self.attempts = [list(a) for a in attempts]
        self.calls = 0

    async def complete(self, request: ModelRequest) -> ModelResponse:
        raise AssertionError("this provider only streams")

    async def stream(self, request: ModelRequest) -> AsyncGenerator[ModelChunk, None]:
        script = self.attempts[self.calls]
        self.calls += 1
        for item in script:
            if isinstance(item, ModelError):
                raise item
            yield item

    def with_model(self, model: str) -> Provider:
        return self

    async def aclose(self) -> None:
        """Nothing to close."""


class Clock:
    def __init__(self) -> None:
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


async def drain(provider: ScriptedStreams, policy: RetryPolicy) -> list[ModelChunk]:
    return [c async for c in call_model(provider, REQUEST, stream=True, policy=policy)]


# --------------------------------------------------------------------------- delay arithmetic


def test_backoff_doubles_from_the_initial_delay_up_to_the_cap() -> None:
    policy = RetryPolicy(max_retries=6, initial_delay=0.5, max_delay=3.0, jitter=False)
    delays = [policy.delay(n, err()) for n in range(1, 7)]
    assert delays == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]
    assert policy.delay(7, err()) is None  # past max_retries
    assert policy.delay(1, err(retryable=False)) is None


def test_jitter_draws_between_half_and_the_whole_backoff() -> None:
    policy = RetryPolicy(max_retries=3, initial_delay=1.0, max_delay=8.0)
    random.seed(11)
    expected = [random.uniform(b / 2, b) for b in (1.0, 2.0, 4.0)]
    random.seed(11)
    assert [policy.delay(n, err()) for n in (1, 2, 3)] == expected


def test_retry_after_is_a_floor_up_to_max_retry_after() -> None:
    policy = RetryPolicy(max_retries=3, initial_delay=0.5, max_retry_after=30.0, jitter=False)
    assert policy.delay(1, err(retry_after=4.0)) == 4.0  # longer than the backoff: honoured
    assert policy.delay(3, err(retry_after=0.1)) == 2.0  # shorter: the backoff wins
    assert policy.delay(1, err(retry_after=30.0)) == 30.0  # exactly the limit: still waited
    assert policy.delay(1, err(retry_after=30.5)) is None  # beyond it: give up at once


# --------------------------------------------------------------------------- streams


async def test_a_failure_after_text_is_not_retried_and_keeps_the_text() -> None:
    provider = ScriptedStreams([[TextDelta(text="Hel"), TextDelta(text="lo"), err()], [DONE]])
    clock = Clock()
    with pytest.raises(ModelError) as caught:
        await drain(provider, RetryPolicy(max_retries=3, sleep=clock.sleep))
    assert caught.value.partial_text == "Hello"
    assert provider.calls == 1 and clock.sleeps == []


async def test_a_failure_after_reasoning_is_not_retried_either() -> None:
    provider = ScriptedStreams([[ReasoningDelta(text="thinking"), err()], [DONE]])
    clock = Clock()
    with pytest.raises(ModelError) as caught:
        await drain(provider, RetryPolicy(max_retries=3, sleep=clock.sleep))
    assert caught.value.partial_text == ""  # reasoning is shown, but it is not answer text
    assert provider.calls == 1 and clock.sleeps == []


async def test_a_failure_before_any_text_is_retried_and_the_caller_sees_one_answer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    provider = ScriptedStreams([[err()], [TextDelta(text="whole"), DONE]])
    clock = Clock()
    policy = RetryPolicy(max_retries=2, initial_delay=0.25, jitter=False, sleep=clock.sleep)
    with caplog.at_level(logging.INFO, logger="exo.retry"):
        chunks = await drain(provider, policy)
    assert chunks == [TextDelta(text="whole"), DONE]
    assert provider.calls == 2 and clock.sleeps == [0.25]
    assert caplog.messages == ["model call to fake:m failed (overloaded); retry 1/2 in 0.25s"]


async def test_a_stream_that_ends_without_a_response_is_a_retryable_model_error() -> None:
    provider = ScriptedStreams([[], [], []])
    clock = Clock()
    policy = RetryPolicy(max_retries=2, jitter=False, sleep=clock.sleep)
    with pytest.raises(ModelError, match="the stream ended without a final response") as caught:
        await drain(provider, policy)
    error = caught.value
    assert (error.backend, error.model, error.retryable) == ("fake", "m", True)
    assert provider.calls == 3 and clock.sleeps == [0.5, 1.0]
