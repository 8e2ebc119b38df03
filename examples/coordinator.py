"""The spec's coordinator: planning plus self-spawn (the planner never gets spawn_self)."""

from __future__ import annotations

import os
import sys

from exo import Agent, run

MODEL = os.environ.get("EXO_MODEL", "local:gemma-3-270m")


def search(query: str) -> str:
    """Search the web for a query.

    Args:
        query: What to look for.
    """
    return f"(offline search) results for {query!r}"


agent = Agent(
    name="coordinator",
    model=MODEL,
    instructions="Plan research, then delegate via spawn_self.",
    tools=[search],
    planning_enabled=True,
    planning_instructions="Create a research plan listing topics to investigate.",
    allow_self_spawn=True,
    max_spawn_children=4,
    max_tokens=256,
)

if __name__ == "__main__":
    result = run.sync(agent, " ".join(sys.argv[1:]) or "Survey the state of WebAssembly")
    print("PLAN:\n" + (result.plan.text if result.plan else ""))
    print("\nANSWER:\n" + result.output)
    print(f"children: {len(result.children)}; total tokens: {result.usage.total_tokens}")
