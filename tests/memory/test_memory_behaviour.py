"""The memory behaviour suite: every test runs against every backend (see conftest.store)."""

from __future__ import annotations

import asyncio
import signal
import threading
from datetime import UTC, datetime

import pytest
from memory_samples import every_kind_of_message, tag_of, tool_turn
from memory_store import Store

from exo.errors import ConfigError
from exo.memory import Memory, estimate_tokens
from exo.types import AssistantMessage, Message, ToolCall, ToolResult, Usage, UserMessage


def assert_whole_turns(messages: list[Message]) -> list[str]:
    """Check the messages are whole tool_turns back to back; return their tags in order."""
    assert len(messages) % 4 == 0
    tags = [tag_of(messages[start]) for start in range(0, len(messages), 4)]
    assert messages == [m for tag in tags for m in tool_turn(tag)]
    return tags


# --------------------------------------------------------------------------- round trips


async def test_every_message_and_block_type_round_trips(store: Store, memory: Memory) -> None:
    turn = every_kind_of_message()
    await memory.append("c1", turn, usage=Usage(requests=2, input_tokens=10, output_tokens=3))
    assert await memory.load("c1") == turn
    if store.persistent:  # read back through another connection: the stored form, not a cache
        assert await store.open().load("c1") == turn


async def test_turns_keep_their_usage_and_timestamps(store: Store, memory: Memory) -> None:
    usage = Usage(requests=3, input_tokens=120, output_tokens=40, cache_read_tokens=7)
    before = datetime.now(UTC)
    await memory.append("c1", tool_turn("a"), usage=usage)
    await memory.append("c1", tool_turn("b"))
    after = datetime.now(UTC)
    turns = await memory.turns("c1")  # type: ignore[attr-defined]
    assert [t.index for t in turns] == [0, 1]
    assert [t.messages for t in turns] == [tool_turn("a"), tool_turn("b")]
    assert [t.usage for t in turns] == [usage, None]
    for turn in turns:
        assert before <= turn.created_at <= after


async def test_unknown_conversation_is_empty(memory: Memory) -> None:
    assert await memory.load("nobody") == []
    assert await memory.load("nobody", max_tokens=1000) == []
    await memory.delete("nobody")
    assert await memory.list_conversations() == []


async def test_list_and_delete(memory: Memory) -> None:
    for conversation in ("a", "b", "c"):
        await memory.append(conversation, tool_turn(conversation))
    await memory.append("a", tool_turn("a2"))
    assert await memory.list_conversations() == ["a", "b", "c"]

    await memory.delete("b")
    assert await memory.list_conversations() == ["a", "c"]
    assert await memory.load("b") == []
    assert await memory.load("a") == tool_turn("a") + tool_turn("a2")
    await memory.delete("b")  # deleting again is fine

    await memory.append("b", tool_turn("fresh"))  # a new conversation under the old id
    assert await memory.load("b") == tool_turn("fresh")
    assert [t.index for t in await memory.turns("b")] == [0]  # type: ignore[attr-defined]


@pytest.mark.parametrize("bad", ["", "x" * 513, "nul\x00", 42])
async def test_bad_conversation_ids_are_rejected(memory: Memory, bad: object) -> None:
    with pytest.raises(ConfigError) as info:
        await memory.append(bad, tool_turn("a"))  # type: ignore[arg-type]
    assert info.value.parameter == "conversation_id"
    assert await memory.list_conversations() == []


# --------------------------------------------------------------------------- concurrency


async def test_hundreds_of_concurrent_turns_on_different_conversations(memory: Memory) -> None:
    ids = [f"conv-{i:03d}" for i in range(300)]
    await asyncio.gather(*(memory.append(c, tool_turn(c)) for c in ids))
    assert sorted(await memory.list_conversations()) == ids
    loaded = await asyncio.gather(*(memory.load(c) for c in ids))
    assert loaded == [tool_turn(c) for c in ids]


async def test_concurrent_turns_on_one_conversation_never_interleave(
    store: Store, memory: Memory
) -> None:
    # On persistent stores, half the writers use a second instance (another connection).
    other = store.open() if store.persistent else memory
    tags = [f"t{i:02d}" for i in range(60)]
    await asyncio.gather(
        *((memory if i % 2 else other).append("shared", tool_turn(t)) for i, t in enumerate(tags))
    )
    messages = await memory.load("shared")
    assert sorted(assert_whole_turns(messages)) == tags
    turns = await memory.turns("shared")  # type: ignore[attr-defined]
    assert [t.index for t in turns] == list(range(60))


def test_one_backend_serves_successive_event_loops(store: Store) -> None:
    """run.sync() starts a new event loop per call; one backend must keep working across them."""
    memory = store.open()
    seen: list[list[Message]] = []

    def in_fresh_loops() -> None:
        asyncio.run(memory.append("c1", tool_turn("first")))
        asyncio.run(memory.append("c1", tool_turn("second")))
        seen.append(asyncio.run(memory.load("c1")))

    thread = threading.Thread(target=in_fresh_loops)  # no loop running there
    thread.start()
    thread.join(60)
    assert seen == [tool_turn("first") + tool_turn("second")]


# --------------------------------------------------------------------------- failures


async def test_append_with_bad_data_writes_nothing(memory: Memory) -> None:
    await memory.append("c1", tool_turn("kept"))
    unserializable = AssistantMessage(
        tool_calls=[ToolCall(id="x", name="f", arguments=object())]  # type: ignore[arg-type]
    )
    bad_turns: list[tuple[type[Exception], list[object]]] = [
        (ValueError, [UserMessage(content="q"), unserializable]),
        (ValueError, [UserMessage(content="q"), AssistantMessage(content="lone \ud800")]),
        (TypeError, [UserMessage(content="q"), {"role": "assistant", "content": "dict"}]),
        (ValueError, []),
    ]
    for error, turn in bad_turns:
        for conversation in ("c1", "new"):
            with pytest.raises(error):
                await memory.append(conversation, turn)  # type: ignore[arg-type]
    assert await memory.load("c1") == tool_turn("kept")
    assert await memory.list_conversations() == ["c1"]
    assert len(await memory.turns("c1")) == 1  # type: ignore[attr-defined]


async def test_cancelled_appends_store_whole_turns_or_nothing(memory: Memory) -> None:
    big = [m for i in range(5) for m in tool_turn(f"b{i}", size=2_000)]
    await memory.append("warm-up", tool_turn("w"))  # connections open: cancel mid-transaction
    tasks = []
    for i in range(40):
        tasks.append(asyncio.create_task(memory.append(f"c{i:02d}", big)))
        await asyncio.sleep(i * 0.0002)  # cancel each append at a different point
        tasks[-1].cancel()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    for outcome in outcomes:
        assert outcome is None or isinstance(outcome, asyncio.CancelledError)

    listed = set(await memory.list_conversations())
    for i in range(40):
        loaded = await memory.load(f"c{i:02d}")
        assert loaded in ([], big)
        assert (f"c{i:02d}" in listed) == bool(loaded)
    # The backend is healthy afterwards: no connection left inside a transaction.
    await memory.append("after", tool_turn("ok"))
    assert await memory.load("after") == tool_turn("ok")


async def test_killed_writer_loses_no_completed_turn(durable_store: Store) -> None:
    store = durable_store
    worker = store.spawn("forever", "crash")
    assert worker.stdout is not None
    committed = -1
    while committed < 7:  # the worker prints a turn's number once append() returned
        line = await asyncio.to_thread(worker.stdout.readline)
        assert line, f"worker exited early: {worker.stderr.read() if worker.stderr else ''}"
        committed = int(line)
    worker.send_signal(signal.SIGKILL)  # mid-loop: possibly inside the next append
    rest, _ = await asyncio.to_thread(worker.communicate)
    committed = max([committed, *map(int, rest.split())])  # it may have run ahead of us

    messages = await store.open().load("crash")
    tags = assert_whole_turns(messages)  # nothing partial
    assert tags[: committed + 1] == [f"k{i}" for i in range(committed + 1)]
    assert len(tags) in (committed + 1, committed + 2)  # the in-flight turn: all or nothing


async def test_several_processes_share_one_store(durable_store: Store) -> None:
    store = durable_store
    workers = [store.spawn("burst", "shared", "10", prefix) for prefix in ("p", "q", "r")]
    for worker in workers:
        out, err = await asyncio.to_thread(worker.communicate)
        assert worker.returncode == 0, err
        assert out.strip() == "done"
    memory = store.open()
    tags = assert_whole_turns(await memory.load("shared"))
    assert len(tags) == 30
    for prefix in ("p", "q", "r"):
        own = [f"{prefix}{i}" for i in range(10)]
        assert [t for t in tags if t[0] == prefix] == own  # each writer's turns in its order
        assert assert_whole_turns(await memory.load(f"shared-{prefix}")) == own


# --------------------------------------------------------------------------- max_tokens


def newest_fitting(turns: list[list[Message]], budget: int) -> list[Message]:
    """The spec: the longest run of newest whole turns whose estimate fits in the budget."""
    kept: list[list[Message]] = []
    used = 0
    for turn in reversed(turns):
        used += estimate_tokens(turn)
        if used > budget:
            break
        kept.insert(0, turn)
    return [m for turn in kept for m in turn]


def assert_well_formed(history: list[Message]) -> None:
    """History starts at a user turn and every tool result follows its call."""
    if history:
        assert isinstance(history[0], UserMessage)
    called: set[str] = set()
    for message in history:
        if isinstance(message, AssistantMessage):
            called.update(c.id for c in message.tool_calls)
        if isinstance(message, ToolResult):
            assert message.tool_call_id in called


async def test_load_with_max_tokens_keeps_newest_whole_turns(memory: Memory) -> None:
    turns = [tool_turn("a", size=400), tool_turn("b", size=40), tool_turn("c", size=4_000)]
    turns.append([UserMessage(content="d: plain"), AssistantMessage(content="d: reply")])
    for turn in turns:
        await memory.append("c1", turn)
    sizes = [estimate_tokens(t) for t in turns]
    total = sum(sizes)
    budgets = {0, 1, sizes[-1] - 1, sizes[-1], total - 1, total, total + 50}
    budgets |= set(range(0, total + 1, 97))
    for budget in sorted(budgets):
        history = await memory.load("c1", max_tokens=budget)
        assert history == newest_fitting(turns, budget), budget
        assert_well_formed(history)
    # The window is contiguous: a big turn in between stops it, even if an older one would fit.
    assert sizes[2] > sizes[1]
    assert await memory.load("c1", max_tokens=sizes[3] + sizes[1]) == turns[3]
    assert await memory.load("c1", max_tokens=total) == await memory.load("c1")


@pytest.mark.parametrize("bad", [-1, 1.5, "100", True])
async def test_load_rejects_bad_max_tokens(memory: Memory, bad: object) -> None:
    with pytest.raises(ConfigError) as info:
        await memory.load("c1", max_tokens=bad)  # type: ignore[arg-type]
    assert info.value.parameter == "max_tokens"
