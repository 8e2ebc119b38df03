"""The spec's coder: an expensive executor with a cheaper planning model.

Offline both phases use the embedded model. With keys, e.g.:
    EXO_MODEL=anthropic:claude-sonnet-4-6 EXO_PLANNING_MODEL=openai:gpt-4o-mini \
        python examples/coder.py
"""

from __future__ import annotations

import os
import sys

from exo import Agent, run

MODEL = os.environ.get("EXO_MODEL", "local:gemma-3-270m")
PLANNING_MODEL = os.environ.get("EXO_PLANNING_MODEL", MODEL)


def read_file(path: str) -> str:
    """Read a file of the repository.

    Args:
        path: The file's path.
    """
    return "def list_users(db):\n    return db.all()\n"


def write_file(path: str, content: str) -> str:
    """Write a file of the repository.

    Args:
        path: The file's path.
        content: The new content.
    """
    return f"wrote {len(content)} characters to {path} (offline: nothing was written)"


def run_tests() -> str:
    """Run the test suite."""
    return "12 passed"


agent = Agent(
    name="coder",
    model=MODEL,
    instructions="You are an expert software engineer.",
    tools=[read_file, write_file, run_tests],
    planning_enabled=True,
    planning_model=PLANNING_MODEL,
    planning_instructions=(
        "Analyze the task and create a step-by-step implementation plan. "
        "List files to modify, functions to change, and tests to add. "
        "Do NOT execute -- only plan."
    ),
    max_tokens=256,
)

if __name__ == "__main__":
    result = run.sync(agent, " ".join(sys.argv[1:]) or "Add pagination to the /users endpoint")
    print("PLAN:\n" + (result.plan.text if result.plan else ""))
    print("\nANSWER:\n" + result.output)
    for phase, usage in result.usage_by_phase.items():
        print(f"{phase}: {usage.total_tokens} tokens")
