"""The agents the worker tests run with ``exo worker``: their tool logs its idempotency key,
blocks on the item ``stop`` the first time (writing the marker) so the test can kill it, and
on any item with ``hold`` in it in the worker named by ``EXO_TEST_HOLD_ON``."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from exo import Agent, ToolContext

DIR = Path(os.environ["EXO_TEST_DURABLE_DIR"])


async def work(item: str, ctx: ToolContext) -> str:
    """Do the work on one item."""
    marker = DIR / "marker"
    with (DIR / "keys.log").open("a") as f:
        f.write(f"{item} {ctx.idempotency_key}\n")
    if item == "stop" and not marker.exists():
        marker.write_text(os.environ.get("EXO_TEST_WORKER", "?"))
        await asyncio.sleep(3600)
    hold_on = os.environ.get("EXO_TEST_HOLD_ON")
    if "hold" in item and hold_on and os.environ.get("EXO_TEST_WORKER") == hold_on:
        await asyncio.sleep(3600)  # the worker named in EXO_TEST_HOLD_ON is killed in here
    return f"worked on {item}"


agent = Agent(name="queued", model="openai:gpt-4o-mini", tools=[work], max_steps=4)

family = Agent(
    name="family",
    model="openai:gpt-4o-mini",
    tools=[work],
    max_steps=4,
    allow_self_spawn=True,
    max_spawn_depth=1,
)
