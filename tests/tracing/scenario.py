"""The run every tree test traces: a planner whose first call gets a 429, two tools in one
turn (one fails, the run goes on), a spawn of two children, and a final answer, all through
the real OpenAI provider and the fake server's HTTP."""

from __future__ import annotations

import json
from typing import Any

from exo import Agent, RetryPolicy, run
from exo.models.base import Provider
from exo.types import RunResult, StreamEvent
from reliability.fakeserver import Attempt, FakeServer, Reply, answer, fail, tools
from tracing.conftest import no_sleep

TASK = "Convert 2 units and look up k; then split the rest in two."
PLAN = "1. convert and look up\n2. spawn two children"
FINAL = "All done: 42."
CHILD_TASKS = ["child task A", "child task B"]


def convert(x: int) -> int:
    """Convert a quantity (always fails here: a sync tool in a worker thread)."""
    raise ValueError(f"cannot convert {x}")


async def lookup(key: str) -> str:
    """Look a key up."""
    return f"value of {key}"


def agent(**changes: Any) -> Agent:
    """The boss: plans, calls convert and lookup, spawns two children, answers."""
    return Agent(
        name="boss",
        model="openai:gpt-4o",
        instructions="EXEC",
        planning_enabled=True,
        planning_instructions="PLAN",
        tools=[convert, lookup],
        allow_self_spawn=True,
        max_spawn_children=2,
        max_retries=2,
        temperature=0.5,
        max_tokens=300,
    ).replace(**changes)


def responder() -> Any:
    """Answer each request from what it holds (children run concurrently)."""
    failed = False

    def respond(attempt: Attempt) -> Reply:
        nonlocal failed
        messages = attempt.body["messages"]
        system = messages[0]["content"] if messages[0]["role"] == "system" else ""
        user = next(m["content"] for m in messages if m["role"] == "user")
        if system == "PLAN":
            if not failed:
                failed = True
                return fail(429, retry_after="0")
            return answer(PLAN)
        for task in CHILD_TASKS:
            if user == task:
                return answer(f"done: {task}")
        results = sum(1 for m in messages if m["role"] == "tool")
        if results == 0:
            return tools(("convert", '{"x": 2}'), ("lookup", '{"key": "k"}'))
        if results == 2:
            return tools(("spawn_self", json.dumps({"tasks": CHILD_TASKS})))
        return answer(FINAL)

    return respond


async def run_scenario(
    server: FakeServer, provider: Provider, *, stream: bool, **changes: Any
) -> tuple[RunResult, list[StreamEvent]]:
    """Run the boss once (streamed or not); return its result and the events seen."""
    server.responder = responder()
    policy = RetryPolicy(max_retries=2, sleep=no_sleep)
    events: list[StreamEvent] = []
    if not stream:
        result = await run(agent(**changes), TASK, provider=provider, retry=policy)
        return result, events
    final: RunResult | None = None
    async for event in run.stream(
        agent(**changes), TASK, provider=provider, retry=policy, detailed=True
    ):
        events.append(event)
        if event.type == "run_complete" and not event.lineage:
            final = event.result
    assert final is not None
    return final, events


EXPECTED_TREE = [
    (
        "invoke_agent boss",
        [
            ("invoke_agent boss_planner", [("chat gpt-4o", [])]),
            ("chat gpt-4o", []),
            ("execute_tool convert", []),
            ("execute_tool lookup", []),
            ("chat gpt-4o", []),
            (
                "execute_tool spawn_self",
                [
                    ("invoke_agent boss_child_1", [("chat gpt-4o", [])]),
                    ("invoke_agent boss_child_2", [("chat gpt-4o", [])]),
                ],
            ),
            ("chat gpt-4o", []),
        ],
    )
]
