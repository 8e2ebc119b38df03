"""A model call's attempts as its ``chat`` span sees them, and what spans say of failures.

:class:`Watched` stands in for the run's provider inside one ``chat`` span: the retry layer
calls it once per attempt, so each failed attempt becomes an event on the span, and a
stream's time to first chunk is measured from the start of the attempt that answered.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from urllib.parse import urlsplit

from opentelemetry.trace import Span
from opentelemetry.util.types import AttributeValue

from exo.errors import ModelError
from exo.models.base import ModelChunk, ModelRequest, ModelResponse, Provider

__all__ = ["Watched", "error_type", "server_attributes"]

Attributes = dict[str, AttributeValue]


def error_type(exc: BaseException) -> str:
    """``error.type``: a model call's HTTP status, else the exception's qualified class name."""
    if isinstance(exc, ModelError) and exc.status is not None:
        return str(exc.status)
    cls = type(exc)
    return (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )


def server_attributes(provider: Provider) -> Attributes:
    """``server.address`` / ``server.port`` from the provider's base URL (never its userinfo)."""
    url = getattr(provider, "base_url", None)
    if not isinstance(url, str):
        return {}
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return {}
    if not host:
        return {}
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    return {"server.address": host, "server.port": port}


class Watched:
    """The run's provider as one ``chat`` span sees it: each attempt, its failure, and when
    a stream's first chunk came (from the start of the attempt that sent it)."""

    __slots__ = ("_provider", "_span", "attempts", "first_chunk")

    def __init__(self, provider: Provider, span: Span) -> None:
        self._provider = provider
        self._span = span
        self.attempts = 0
        self.first_chunk: float | None = None

    @property
    def backend(self) -> str:
        """The watched provider's backend."""
        return self._provider.backend

    @property
    def model(self) -> str:
        """The watched provider's model."""
        return self._provider.model

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """One attempt of a whole call."""
        self.attempts += 1
        try:
            return await self._provider.complete(request)
        except ModelError as exc:
            self._failed(exc)
            raise

    async def stream(self, request: ModelRequest) -> AsyncGenerator[ModelChunk, None]:
        """One attempt of a streamed call."""
        self.attempts += 1
        started = time.perf_counter()
        first = True
        try:
            async with aclosing(self._provider.stream(request)) as chunks:
                async for chunk in chunks:
                    if first:
                        self.first_chunk = time.perf_counter() - started
                        first = False
                    yield chunk
        except ModelError as exc:
            self._failed(exc)
            raise

    def with_model(self, model: str) -> Provider:
        """The watched provider's copy for another model (not watched)."""
        return self._provider.with_model(model)

    async def aclose(self) -> None:
        """Close the watched provider."""
        await self._provider.aclose()

    def _failed(self, exc: ModelError) -> None:
        if not self._span.is_recording():
            return
        attributes: Attributes = {"exo.attempt": self.attempts, "error.type": error_type(exc)}
        if exc.retry_after is not None:
            attributes["exo.retry_after"] = exc.retry_after
        self._span.add_event("exo.attempt_failed", attributes)
