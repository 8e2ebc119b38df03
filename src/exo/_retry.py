"""The one layer that retries model calls.

Providers build their SDK clients with retries off and raise :class:`ModelError` with
``retryable`` and ``retry_after``; this module decides whether and when to try again:
exponential backoff with full jitter, never less than the provider's ``Retry-After``.
A stream is retried only while nothing has reached the caller yet: once text has streamed,
a failure ends the call with a ModelError that keeps the partial text.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass

from exo.errors import ModelError
from exo.models.base import (
    ModelChunk,
    ModelRequest,
    ModelResponse,
    Provider,
    ReasoningDelta,
    TextDelta,
)

__all__ = ["RetryPolicy", "call_model", "complete_model"]

log = logging.getLogger("exo.retry")

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How failed model calls are retried.

    Attributes:
        max_retries: Retries after the first attempt (0 disables retrying).
        initial_delay: Base delay in seconds before the first retry.
        max_delay: Cap of any single delay (a longer ``Retry-After`` is still honoured up to
            ``max_retry_after``).
        max_retry_after: Longest ``Retry-After`` we agree to wait; beyond it we fail at once.
        jitter: Randomize delays (full jitter) so many clients do not retry in lockstep.
        sleep: The sleep function (tests pass a fake clock).
    """

    max_retries: int = 2
    initial_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0
    jitter: bool = True
    sleep: Sleep = asyncio.sleep

    def delay(self, attempt: int, error: ModelError) -> float | None:
        """Seconds to wait before retry number ``attempt`` (1-based), or None to give up."""
        if not error.retryable or attempt > self.max_retries:
            return None
        backoff: float = min(self.max_delay, self.initial_delay * (2.0 ** (attempt - 1)))
        if self.jitter:
            backoff = random.uniform(backoff / 2, backoff)
        if error.retry_after is not None:
            if error.retry_after > self.max_retry_after:
                return None
            return max(backoff, float(error.retry_after))
        return backoff


async def complete_model(
    provider: Provider, request: ModelRequest, *, policy: RetryPolicy
) -> ModelResponse:
    """Make one whole (non-streamed) model call with retries; return the response.

    What :func:`call_model` yields for ``stream=False``, without an async generator around
    it (the common call of ``run``: a generator and its ``aclose`` cost a few µs per call).
    """
    attempt = 0
    while True:
        try:
            return await provider.complete(request)
        except ModelError as exc:
            attempt += 1
            await _before_retry(provider, policy, attempt, exc)


async def call_model(
    provider: Provider, request: ModelRequest, *, stream: bool, policy: RetryPolicy
) -> AsyncGenerator[ModelChunk, None]:
    """Make one model call with retries; yield deltas (when streaming), then the response."""
    if not stream:
        yield await complete_model(provider, request, policy=policy)
        return
    attempt = 0
    while True:
        emitted = False  # did the caller see text? then a retry would repeat it
        text: list[str] = []
        try:
            chunks = provider.stream(request)
            try:  # aclosing's work without its context manager (a Python-level __aexit__)
                async for chunk in chunks:
                    if isinstance(chunk, TextDelta):
                        text.append(chunk.text)
                        emitted = True
                    elif isinstance(chunk, ReasoningDelta):
                        emitted = True
                    yield chunk
                    if isinstance(chunk, ModelResponse):
                        return
            finally:
                await chunks.aclose()
            raise ModelError(
                "the stream ended without a final response",
                backend=provider.backend,
                model=provider.model,
                retryable=True,
            )
        except ModelError as exc:
            if emitted:
                raise exc.with_partial_text("".join(text)) from exc.__cause__
            attempt += 1
            await _before_retry(provider, policy, attempt, exc)


async def _before_retry(
    provider: Provider, policy: RetryPolicy, attempt: int, error: ModelError
) -> None:
    """Wait before retry number ``attempt``; re-raise ``error`` when it is not retried."""
    wait = policy.delay(attempt, error)
    if wait is None:
        raise error
    log.info(
        "model call to %s:%s failed (%s); retry %d/%d in %.2fs",
        provider.backend,
        provider.model,
        error.detail,
        attempt,
        policy.max_retries,
        wait,
    )
    await policy.sleep(wait)
