"""Runs that continue a conversation: what memory loads and keeps around a run."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from exo import Agent, ModelError, run
from exo.memory import InMemoryMemory
from exo.testing import ScriptedModel, call
from exo.types import AssistantMessage, ToolResult, UserMessage


def lookup(key: str) -> str:
    """Look a key up."""
    return f"value of {key}"


def agent(memory: object, **kw: object) -> Agent:
    return Agent(name="bot", model="test:m", tools=[lookup], memory=memory, **kw)  # type: ignore[arg-type]


async def test_second_turn_sees_the_first_and_memory_keeps_original_input() -> None:
    mem = InMemoryMemory()
    bot = agent(mem, planning_enabled=True)
    model = ScriptedModel(
        {
            "bot_planner": ["1. look up x", "1. answer from history"],
            "bot": [call("lookup", key="x"), "x is known", "you asked about x"],
        }
    )
    first = await run(bot, "What is x?", provider=model, conversation_id="c1")
    assert first.conversation_id == "c1"
    stored = await mem.load("c1")
    assert stored[0] == UserMessage(content="What is x?")  # never the plan-wrapped text
    assert [type(m) for m in stored] == [
        UserMessage,
        AssistantMessage,
        ToolResult,
        AssistantMessage,
    ]

    await run(bot, "What did I ask?", provider=model, conversation_id="c1")
    executor_request = model.requests[-1]
    assert executor_request.messages[:4] == stored  # history first (no instructions here)
    planner_request = [r for r in model.requests if r.agent_name == "bot_planner"][-1]
    assert planner_request.messages[:4] == stored  # the planner plans in context
    assert len(await mem.load("c1")) == 6


async def test_runs_without_conversation_id_share_nothing() -> None:
    mem = InMemoryMemory()
    bot = agent(mem)
    model = ScriptedModel(["one", "two"])
    await run(bot, "a", provider=model)
    await run(bot, "b", provider=model)
    assert len(model.requests[1].messages) == 1
    assert await mem.list_conversations() == []


async def test_history_max_tokens_limits_the_history_a_run_loads() -> None:
    mem = InMemoryMemory()
    await mem.append("c", [UserMessage(content="x" * 4000), AssistantMessage(content="long")])
    await mem.append("c", [UserMessage(content="short?"), AssistantMessage(content="yes")])
    model = ScriptedModel(["budgeted", "whole"])
    await run(agent(mem, history_max_tokens=100), "next", provider=model, conversation_id="c")
    await run(agent(mem), "again", provider=model, conversation_id="c")
    budgeted, whole = ([m.content for m in r.messages] for r in model.requests)
    assert budgeted == ["short?", "yes", "next"]  # the older, larger turn is left out
    assert whole[:5] == ["x" * 4000, "long", "short?", "yes", "next"]


async def test_failed_or_cancelled_turn_writes_nothing() -> None:
    mem = InMemoryMemory()
    bot = agent(mem)
    err = ModelError("boom", backend="test", model="m", status=400)
    with pytest.raises(ModelError):
        await run(
            bot, "a", provider=ScriptedModel([call("lookup", key="k"), err]), conversation_id="c"
        )
    assert await mem.load("c") == []

    gate = asyncio.Event()

    async def hang(key: str) -> str:
        await gate.wait()
        return key

    slow = Agent(name="bot", model="test:m", tools=[hang], memory=mem)
    task = asyncio.create_task(
        run(slow, "a", provider=ScriptedModel([call("hang", key="k"), "done"]), conversation_id="c")
    )
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await mem.load("c") == []


async def test_string_memory_settings_are_resolved_once_per_agent(tmp_path: Path) -> None:
    bot = agent(str(tmp_path / "chat.db"))
    model = ScriptedModel(["hello", "again"])
    await run(bot, "hi", provider=model, conversation_id="c")
    await run(bot, "hi again", provider=model, conversation_id="c")
    assert len(model.requests[1].messages) == 3
    assert (tmp_path / "chat.db").exists()
    in_process = agent("memory")
    model = ScriptedModel(["a", "b"])
    await run(in_process, "1", provider=model, conversation_id="k")
    await run(in_process, "2", provider=model, conversation_id="k")
    assert len(model.requests[1].messages) == 3


async def test_default_memory_is_embedded_sqlite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exo import Runner

    monkeypatch.setenv("EXO_HOME", str(tmp_path))
    runner = Runner()  # its default memory opens on first use, under EXO_HOME
    bot = agent(None)
    model = ScriptedModel(["a", "b"])
    await runner(bot, "1", provider=model, conversation_id="k")
    await runner(bot, "2", provider=model, conversation_id="k")
    assert len(model.requests[1].messages) == 3
    assert (tmp_path / "memory.db").exists()
    assert runner.memory_for(bot) is runner.memory_for(agent(None))  # one per runner


async def test_the_test_model_answers_the_last_user_message_with_memory() -> None:
    def lookup(topic: str) -> str:
        """Look a topic up.

        Args:
            topic: What to look up.
        """
        return f"notes on {topic}"

    agent = Agent(name="a", model="test:m", memory=InMemoryMemory(), tools=[lookup])
    first = await run(agent, "Compare React vs Svelte", conversation_id="c")
    second = await run(agent, "Now summarise Vue", conversation_id="c")
    assert "Compare React vs Svelte" in first.output
    assert "Understand the task: Now summarise Vue" in second.output
    assert "React" not in second.output
    # The second turn calls its tools again: the first turn's results are history, not its own.
    assert sum(isinstance(m, ToolResult) for m in second.messages) == 2
    assert second.output.count("Use lookup") == 1
