"""A user tool's context changes are recorded with its step and restored when it is replayed."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from dbos import DBOS
from dbos._error import DBOSAwaitedWorkflowCancelledError

from exo import Agent, Context, ToolContext
from exo.durable import DBOSAgent, launch, shutdown
from exo.durable._context import ContextChanges, apply, changes, snapshot
from exo.errors import ConfigError
from exo.testing import ScriptedModel, call


def test_changes_cover_state_notes_and_todos_and_round_trip_as_json() -> None:
    client = object()  # not JSON: compared by identity, left alone
    context = Context({"keep": 1, "gone": 2, "list": [1], "client": client}, notes={"n": "a"})
    before = snapshot(context)
    context.state["list"].append(2)  # changed in place
    context.state["new"] = {"k": "v"}
    del context.state["gone"]
    context.notes["m"] = "b"
    del context.notes["n"]
    context.add_todo("x")
    made = changes(before, context, tool="t")
    assert made == ContextChanges(
        state={"list": [1, 2], "new": {"k": "v"}},
        state_deleted=["gone"],
        notes={"m": "b"},
        notes_deleted=["n"],
        todos=context.todos,
    )
    fresh = Context({"keep": 1, "gone": 2, "list": [1], "client": client}, notes={"n": "a"})
    apply(ContextChanges.model_validate_json(made.model_dump_json()), fresh)
    assert fresh.state == context.state
    assert fresh.notes == context.notes
    assert fresh.todos == context.todos
    assert not changes(snapshot(fresh), fresh, tool="t")


def test_a_value_that_cannot_be_restored_fails_loudly() -> None:
    context = Context()
    before = snapshot(context)
    context.state["conn"] = object()
    with pytest.raises(ConfigError, match=r"tool 'open' stored a value that is not JSON"):
        changes(before, context, tool="open")


def test_a_resumed_run_restores_what_a_replayed_tool_wrote(tmp_path: Path) -> None:
    calls: list[str] = []
    inside = asyncio.Event()

    def note(text: str, ctx: ToolContext) -> str:
        """Keep a note."""
        calls.append("note")
        ctx.context.notes["kept"] = text
        return "noted"

    async def wait(ctx: ToolContext) -> str:
        """Read the note, slowly the first time."""
        calls.append("wait")
        if calls.count("wait") == 1:
            inside.set()
            await asyncio.sleep(30)  # cancelled while in here
        return f"the note says {ctx.context.notes.get('kept')!r}"

    model = ScriptedModel([call("note", text="hello"), call("wait"), "done"])
    agent = DBOSAgent(
        Agent(name="noter", model="test:x", tools=[note, wait]), name="ctx-test", provider=model
    )
    launch(f"sqlite:///{tmp_path / 'dbos.db'}", name="ctxtest")

    async def go() -> Any:
        handle = await agent.start("go", run_id="n-1")
        await inside.wait()
        await DBOS.cancel_workflow_async("n-1")
        with pytest.raises(DBOSAwaitedWorkflowCancelledError):
            await handle.result()
        await DBOS.resume_workflow_async("n-1")  # replays `note`, runs `wait` again
        return await agent.run("go", run_id="n-1")

    try:
        result = asyncio.run(go())
    finally:
        shutdown()
    assert calls == ["note", "wait", "wait"]
    assert result.output == "done"
    [*_, last] = model.requests
    assert "the note says 'hello'" in str(last.messages[-1])
