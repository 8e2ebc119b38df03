"""The spec's analyst: custom planning instructions."""

from __future__ import annotations

import os
import sys

from exo import Agent, run

MODEL = os.environ.get("EXO_MODEL", "local:gemma-3-270m")


def query_db(sql: str) -> str:
    """Run a read-only SQL query and return CSV.

    Args:
        sql: The query.
    """
    return "region,total\nnorth,120\nsouth,95\n"


def chart(kind: str, data: str) -> str:
    """Draw a chart.

    Args:
        kind: bar, line or pie.
        data: CSV data to plot.
    """
    return f"<{kind} chart of {len(data.splitlines())} rows>"


agent = Agent(
    name="analyst",
    model=MODEL,
    instructions="You are a data analyst. Answer questions with clear visualizations.",
    tools=[query_db, chart],
    planning_enabled=True,
    planning_instructions=(
        "You are a planning assistant. Given a data analysis request, "
        "break it into steps: which tables to query, what aggregations "
        "to compute, and what chart types to use. Output a numbered plan."
    ),
    max_tokens=256,
)

if __name__ == "__main__":
    result = run.sync(agent, " ".join(sys.argv[1:]) or "Which region sold most last quarter?")
    print("PLAN:\n" + (result.plan.text if result.plan else ""))
    print("\nANSWER:\n" + result.output)
