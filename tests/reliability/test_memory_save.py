"""No answer is lost: when saving a finished turn fails, the error carries the whole result,
the stream has delivered it, and ``run.save`` tries again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from exo import Agent, ConfigError, MemorySaveError, run
from exo.memory import InMemoryMemory
from exo.testing import ScriptedModel
from exo.types import ErrorEvent, Message, RunCompleteEvent, TextEvent, Usage


class FlakyMemory(InMemoryMemory):
    """An in-process store whose writes fail while ``broken`` (a disk full, a server down)."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error
        self.broken = True

    async def append(
        self, conversation_id: str, messages: Sequence[Message], *, usage: Usage | None = None
    ) -> None:
        if self.broken:
            raise self.error
        await super().append(conversation_id, messages, usage=usage)


ERRORS = [OSError(28, "No space left on device"), ConnectionError("server closed"), ValueError()]


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: type(e).__name__)
async def test_run_raises_memory_save_error_with_the_complete_result(error: Exception) -> None:
    memory = FlakyMemory(error)
    agent = Agent(name="a", model="test:m", memory=memory)
    with pytest.raises(MemorySaveError) as info:
        await run(
            agent, "question", provider=ScriptedModel(["the paid-for answer"]), conversation_id="c"
        )
    err = info.value
    assert err.__cause__ is error
    assert err.result.output == "the paid-for answer"
    assert err.result.conversation_id == "c"
    assert [m.role for m in err.result.new_messages] == ["user", "assistant"]
    assert "run.save" in str(err)
    assert await memory.load("c") == []

    memory.broken = False
    await run.save(agent, err.result)  # the documented retry
    assert await memory.load("c") == err.result.new_messages


@pytest.mark.parametrize("detailed", [False, True])
async def test_the_stream_delivers_the_result_before_the_error(detailed: bool) -> None:
    agent = Agent(name="a", model="test:m", memory=FlakyMemory(OSError("disk full")))
    events: list[Any] = []
    with pytest.raises(MemorySaveError) as info:
        async for event in run.stream(
            agent, "q", provider=ScriptedModel(["answer"]), conversation_id="c", detailed=detailed
        ):
            events.append(event)
    kinds = [type(e) for e in events]
    assert kinds[-2:] == [RunCompleteEvent, ErrorEvent]
    assert TextEvent in kinds
    complete = events[-2]
    assert complete.result is info.value.result
    assert events[-1].error_type == "MemorySaveError"


async def test_many_runs_lose_no_answer_while_memory_is_down() -> None:
    memory = FlakyMemory(ConnectionError("server stopped"))
    agent = Agent(name="a", model="test:m", memory=memory)
    answers: list[str] = []
    pending = []
    for i in range(50):
        memory.broken = 15 <= i < 50  # the server stops mid-way
        try:
            result = await run(
                agent, f"q{i}", provider=ScriptedModel([f"a{i}"]), conversation_id=f"c{i}"
            )
        except MemorySaveError as err:
            result = err.result
            pending.append(result)
        answers.append(result.output)
    assert answers == [f"a{i}" for i in range(50)]
    assert len(pending) == 35
    memory.broken = False
    for result in pending:
        await run.save(agent, result)
    for i in range(50):
        assert [m.role for m in await memory.load(f"c{i}")] == ["user", "assistant"]


async def test_a_successful_save_is_unchanged() -> None:
    memory = InMemoryMemory()
    agent = Agent(name="a", model="test:m", memory=memory)
    result = await run(agent, "q", provider=ScriptedModel(["a"]), conversation_id="c")
    assert await memory.load("c") == result.new_messages


async def test_save_needs_a_conversation() -> None:
    agent = Agent(name="a", model="test:m")
    result = await run(agent, "q", provider=ScriptedModel(["a"]))
    with pytest.raises(ConfigError):
        await run.save(agent, result)


async def test_a_reader_that_stops_at_the_result_still_hears_of_the_failed_save(
    caplog: pytest.LogCaptureFixture,
) -> None:
    agent = Agent(name="a", model="test:m", memory=FlakyMemory(OSError("disk full")))
    events = run.stream(agent, "q", provider=ScriptedModel(["answer"]), conversation_id="c")
    async for event in events:
        if isinstance(event, RunCompleteEvent):
            assert event.result.output == "answer"
            break
    await events.aclose()
    assert any("saving its turn" in r.getMessage() for r in caplog.records)
