"""The client side of the fake server: real exo providers pointed at it, tracked responses.

:func:`make_provider` builds the real providers (official SDKs inside) with ``base_url=`` and
``api_key=``; :class:`TrackingTransport` wraps an ``httpx2`` transport and counts the
responses that were opened and closed, so tests can see that every response was closed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx2

from exo.models.base import Provider
from reliability.fakeserver import MODELS, FakeServer

__all__ = ["TrackingTransport", "make_provider", "tracking_client"]


class _TrackedStream(httpx2.AsyncByteStream):
    def __init__(self, inner: httpx2.AsyncByteStream, owner: TrackingTransport) -> None:
        self._inner = inner
        self._owner = owner
        self._closed = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        # the inner iterator itself: a generator of ours would outlive a cancelled read
        return self._inner.__aiter__()

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            self._owner.closed += 1
        await self._inner.aclose()


class TrackingTransport(httpx2.AsyncBaseTransport):
    """An ``httpx2`` transport wrapper that counts responses opened and closed."""

    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self.inner = inner
        self.opened = 0
        self.closed = 0

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Send the request through the wrapped transport; track its response."""
        response = await self.inner.handle_async_request(request)
        self.opened += 1
        assert isinstance(response.stream, httpx2.AsyncByteStream)
        return httpx2.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_TrackedStream(response.stream, self),
            extensions=response.extensions,
            request=request,
        )

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self.inner.aclose()


def tracking_client(max_connections: int = 100) -> tuple[httpx2.AsyncClient, TrackingTransport]:
    """An ``httpx2.AsyncClient`` with a connection pool of ``max_connections``, tracked."""
    limits = httpx2.Limits(
        max_connections=max_connections, max_keepalive_connections=max_connections
    )
    transport = TrackingTransport(httpx2.AsyncHTTPTransport(limits=limits))
    return httpx2.AsyncClient(transport=transport), transport


def make_provider(
    backend: str,
    server: FakeServer,
    *,
    key: str = "test-key",
    raw: bool = True,
    http_client: httpx2.AsyncClient | None = None,
    timeout: float | None = None,
    output_mode: str | None = None,
) -> Provider:
    """The real exo provider for ``backend``, pointed at ``server`` (SDK inside);
    ``output_mode`` chooses how Chat Completions asks for a typed answer."""
    model = MODELS[backend]
    if backend == "anthropic":
        from exo.models.anthropic import AnthropicProvider

        return AnthropicProvider(
            model,
            api_key=key,
            base_url=server.url,
            http_client=http_client,
            timeout=timeout,
            raw=raw,
        )
    options: dict[str, Any] = {
        "api_key": key,
        "base_url": f"{server.url}/v1",
        "http_client": http_client,
        "timeout": timeout,
        "raw": raw,
    }
    # (the ignores: their stream() is annotated AsyncIterator, not the protocol's AsyncGenerator)
    if backend == "openai":
        from exo.models.openai import OpenAIProvider

        return OpenAIProvider(model, output_mode=output_mode, **options)  # type: ignore[arg-type]
    from exo.models.openai_responses import OpenAIResponsesProvider

    return OpenAIResponsesProvider(model, **options)
