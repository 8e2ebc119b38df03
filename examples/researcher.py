"""The spec's researcher: planning on, two tools.

Runs offline on the embedded model by default; set EXO_MODEL (and the provider's key) to use
a real one, e.g. EXO_MODEL=openai:gpt-4o-mini OPENAI_API_KEY=... python examples/researcher.py

    exo run examples/researcher.py "Compare React vs Svelte for a new project"
"""

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
    return f"(offline search) Top results for {query!r}: official docs, benchmarks, surveys."


def summarize(text: str) -> str:
    """Summarize a text in a few sentences.

    Args:
        text: The text to summarize.
    """
    return text[:300]


agent = Agent(
    name="researcher",
    model=MODEL,
    instructions="You are a thorough research assistant.",
    tools=[search, summarize],
    planning_enabled=True,
    max_tokens=256,
)

if __name__ == "__main__":
    task = " ".join(sys.argv[1:]) or "Compare React vs Svelte for a new project"
    result = run.sync(agent, task)
    print("PLAN:\n" + (result.plan.text if result.plan else ""))
    print("\nANSWER:\n" + result.output)
    print(f"\n{result.usage.total_tokens} tokens in {result.usage.requests} model calls")
