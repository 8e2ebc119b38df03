"""OpenAI Agents SDK on ``AsyncOpenAI(http_client=DefaultAioHttpClient())``."""

from __future__ import annotations

from openai import AsyncOpenAI, DefaultAioHttpClient

from drivers._task import API_KEY
from drivers.openai_agents import AgentsDriver


async def make(base_url: str, concurrency: int) -> AgentsDriver:
    """Build the driver on the SDK's aiohttp transport."""
    client = AsyncOpenAI(base_url=base_url, api_key=API_KEY, http_client=DefaultAioHttpClient())
    return AgentsDriver(client)
