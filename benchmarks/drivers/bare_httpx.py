"""Bare loop over an ``httpx.AsyncClient`` (the HTTP library the SDKs build on)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from drivers._bare import HEADERS, run_loop, stream_loop
from drivers._task import FirstText


class BareHttpx:
    """The hand-written loop posting with one shared httpx client."""

    def __init__(self, base_url: str, concurrency: int) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        limits = httpx.Limits(max_connections=max(100, concurrency), max_keepalive_connections=None)
        self.client = httpx.AsyncClient(headers=HEADERS, limits=limits, timeout=60)

    async def _post(self, body: bytes) -> bytes:
        response = await self.client.post(self.url, content=body)
        response.raise_for_status()
        return response.content

    async def _post_lines(self, body: bytes) -> AsyncIterator[bytes]:
        async with self.client.stream("POST", self.url, content=body) as response:
            response.raise_for_status()
            async for line in response.aiter_lines():
                yield line.encode()

    async def run(self) -> str:
        return await run_loop(self._post)

    async def stream(self, first_text: FirstText) -> str:
        return await stream_loop(self._post_lines, first_text)

    async def aclose(self) -> None:
        await self.client.aclose()


async def make(base_url: str, concurrency: int) -> BareHttpx:
    """Build the driver inside the running event loop."""
    return BareHttpx(base_url, concurrency)
