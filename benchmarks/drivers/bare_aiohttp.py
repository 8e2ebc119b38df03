"""Bare loop over an ``aiohttp.ClientSession``: the floor every framework is compared to."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp

from drivers._bare import HEADERS, run_loop, stream_loop
from drivers._task import FirstText


class BareAiohttp:
    """The hand-written loop posting with one shared aiohttp session."""

    def __init__(self, base_url: str, concurrency: int) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        connector = aiohttp.TCPConnector(limit=max(100, concurrency))
        self.session = aiohttp.ClientSession(connector=connector, headers=HEADERS)

    async def _post(self, body: bytes) -> bytes:
        async with self.session.post(self.url, data=body) as response:
            response.raise_for_status()
            return await response.read()

    async def _post_lines(self, body: bytes) -> AsyncIterator[bytes]:
        async with self.session.post(self.url, data=body) as response:
            response.raise_for_status()
            async for line in response.content:
                yield line

    async def run(self) -> str:
        return await run_loop(self._post)

    async def stream(self, first_text: FirstText) -> str:
        return await stream_loop(self._post_lines, first_text)

    async def aclose(self) -> None:
        await self.session.close()


async def make(base_url: str, concurrency: int) -> BareAiohttp:
    """Build the driver inside the running event loop."""
    return BareAiohttp(base_url, concurrency)
