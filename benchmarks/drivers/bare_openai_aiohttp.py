"""Bare loop over ``AsyncOpenAI`` with the SDK's ``DefaultAioHttpClient`` transport."""

from __future__ import annotations

from openai import AsyncOpenAI, DefaultAioHttpClient

from drivers._task import API_KEY
from drivers.bare_openai import BareOpenAI


async def make(base_url: str, concurrency: int) -> BareOpenAI:
    """Build the driver: ``AsyncOpenAI(http_client=DefaultAioHttpClient())``."""
    client = AsyncOpenAI(base_url=base_url, api_key=API_KEY, http_client=DefaultAioHttpClient())
    return BareOpenAI(client)
