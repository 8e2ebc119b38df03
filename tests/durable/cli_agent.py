"""The agent the CLI tests run with ``exo run AGENT --run-id``: its tool logs each call,
writes the marker the first time, then waits for the file ``go`` (or forever) so the test can
cancel or kill the run while it is inside the tool."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from exo import Agent

DIR = Path(os.environ["EXO_TEST_DURABLE_DIR"])


async def work(item: str) -> str:
    """Do the work on one item."""
    marker, go = DIR / "marker", DIR / "go"
    with (DIR / "calls.log").open("a") as f:
        f.write(f"{item}\n")
    if not marker.exists():
        marker.write_text("tool")
        while not go.exists():  # noqa: ASYNC110 (a file the test process writes)
            await asyncio.sleep(0.02)
    return f"worked on {item}"


agent = Agent(name="clitest", model="openai:gpt-4o-mini", tools=[work], max_steps=4)
