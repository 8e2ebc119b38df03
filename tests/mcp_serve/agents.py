"""Offline agents that ``exo mcp serve`` serves in these tests (loaded as ``agents.py:NAME``).

Every model is exo's own test backend (``test:``, the TestModel: it calls each tool once,
then answers with a numbered summary) or the ``turns:`` backend registered below, so no
test leaves the machine. Markers go to ``$EXO_TEST_MARKERS`` so a test can see from outside
what a tool did in the server process.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from pydantic import BaseModel

from exo import Agent, tool
from exo.models import register_provider
from exo.testing import AgentInfo, FunctionModel
from exo.types import Message, UserMessage, text_of


def _marker(name: str) -> None:
    Path(os.environ["EXO_TEST_MARKERS"], name).write_text(name, encoding="utf-8")


def search(query: str) -> str:
    """Search the web.

    Args:
        query: What to look for.
    """
    return f"Top results for {query!r}: docs, benchmarks"


def summarize(text: str) -> str:
    """Summarize a text.

    Args:
        text: The text.
    """
    return f"summary of {text}"


researcher = Agent(
    name="researcher",
    model="test:demo",
    instructions="Research the task.",
    tools=[search, summarize],
    planning_enabled=True,
)


async def wait_for_ever(reason: str) -> str:
    """Wait for something that never happens.

    Args:
        reason: Why.
    """
    if Path(os.environ["EXO_TEST_MARKERS"], "cancelled").exists():  # noqa: ASYNC240
        return "done after a cancel"  # blocks only until a run has been cancelled
    _marker("started")
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        _marker("cancelled")
        raise
    _marker("finished")
    return "done"


blocker = Agent(
    name="blocker",
    model="test:demo",
    tools=[wait_for_ever],
    planning_enabled=True,
    planning_tools=[],  # the planner only plans; the executor's call is the one that blocks
)


class Verdict(BaseModel):
    """A typed answer."""

    answer: str
    confidence: int
    sources: list[str]


judge = Agent(name="judge", model="test:demo", output_type=Verdict, planning_enabled=True)

lister = Agent(name="lister", model="test:demo", output_type=list[str])
"""A non-object output: served wrapped in ``{"response": ...}``."""

short = Agent(name="short", model="test:demo", tools=[search], max_steps=1)
"""Calls its tool in its one allowed step, so it ends with MaxStepsExceeded."""


@tool(requires_approval=True)
def delete_file(path: str) -> str:
    """Delete a file.

    Args:
        path: The file.
    """
    _marker("deleted")
    return f"deleted {path}"


janitor = Agent(name="janitor", model="test:demo", tools=[delete_file])

careful = Agent(
    name="careful",
    model="test:demo",
    tools=[delete_file],
    planning_enabled=True,
    planning_tools=[],
    approve_plan=True,
)
"""Asks for its plan and for each delete_file call."""

remote = Agent(name="remote", model="openai:gpt-4o-mini", max_retries=0)
"""Needs OpenAI: pointed at a closed loopback port, its call fails."""


def _turns(messages: list[Message], info: AgentInfo) -> str:
    users = [text_of(m.content) for m in messages if isinstance(m, UserMessage)]
    return f"turn {len(users)}: {users[-1]}"


register_provider("turns", lambda model: FunctionModel(_turns, model=model))
chatter = Agent(name="chatter", model="turns:x", memory="memory")
"""Answers with how many user turns it has seen: shows the conversation memory."""


def _leaky_instructions() -> str:
    raise RuntimeError(f"cannot use key {os.environ['OPENAI_API_KEY']}")


leaky = Agent(name="leaky", model="test:demo", instructions=_leaky_instructions)
"""Its instructions function fails with the key in its message."""
