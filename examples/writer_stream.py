"""The spec's streaming writer: the planner runs first, then the executor's text streams."""

from __future__ import annotations

import asyncio
import os
import sys

from exo import Agent, run
from exo.types import TextEvent

MODEL = os.environ.get("EXO_MODEL", "local:gemma-3-270m")

agent = Agent(
    name="writer",
    model=MODEL,
    instructions="You are a technical writer.",
    planning_enabled=True,
    planning_instructions="Outline the structure: sections, key points, and flow.",
    max_tokens=256,
)


async def main(task: str) -> None:
    async for event in run.stream(agent, task):
        if isinstance(event, TextEvent):
            print(event.text, end="", flush=True)
    print()


if __name__ == "__main__":
    asyncio.run(main(" ".join(sys.argv[1:]) or "Write a guide on Python async/await"))
