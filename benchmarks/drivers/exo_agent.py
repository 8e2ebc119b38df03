"""exo: ``Agent`` + ``run`` / ``run.stream`` on the ``openai:`` backend (OPENAI_BASE_URL)."""

from __future__ import annotations

import os

from drivers._task import API_KEY, MODEL, PROMPT, FirstText, add
from exo import Agent, run
from exo.models import get_provider


class ExoDriver:
    """One exo agent, shared by every concurrent run."""

    def __init__(self) -> None:
        self.agent = Agent(name="bench", model=f"openai:{MODEL}", tools=[add])

    async def run(self) -> str:
        result = await run(self.agent, PROMPT)
        return result.output

    async def stream(self, first_text: FirstText) -> str:
        seen_text = False
        async for event in run.stream(self.agent, PROMPT):
            if event.type == "text" and event.text and not seen_text:
                seen_text = True
                first_text()
            elif event.type == "run_complete":
                return event.result.output
        raise RuntimeError("exo: the stream ended without a run_complete event")

    async def aclose(self) -> None:
        """Nothing per driver: runs share exo's provider, cached per event loop."""


async def make(base_url: str, concurrency: int) -> ExoDriver:
    """Build the driver; exo reads the mock's URL from OPENAI_BASE_URL at run time."""
    os.environ["OPENAI_BASE_URL"] = base_url
    os.environ["OPENAI_API_KEY"] = API_KEY
    return ExoDriver()


async def shutdown() -> None:
    """Close the provider (and its HTTP client) exo cached for this event loop."""
    await get_provider(f"openai:{MODEL}").aclose()
