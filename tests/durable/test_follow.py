"""Following a durable run from another process: its events survive the crashes of the
process executing it, and a follower that reattaches with ``after`` sees each event id once.

The run executes in tests/durable/app.py processes; this test process reads its events through
a ``DBOSClient`` (no launched DBOS here), on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from durable.conftest import make_app
from exo.durable import DurableEvent, follow
from exo.errors import ConfigError
from exo.types import RunCompleteEvent
from reliability.fakeserver import FakeServer, answer, tools

IDLE = 1.0  # a follower of a run whose process is dead stops waiting after this


async def _collect(
    database: dict[str, str], after: str | None, *, idle: float | None = IDLE
) -> list[DurableEvent]:
    """The run's events after ``after``, until it ends (or until none came for ``idle`` s)."""
    seen: list[DurableEvent] = []
    try:
        async for event in follow(
            "run-1",
            after=after,
            database_url=database["database_url"],
            dbos_system_schema=database.get("schema"),
            idle_timeout=idle,
        ):
            seen.append(event)
    except TimeoutError:
        pass  # the process executing the run is dead: nothing more comes until a relaunch
    return seen


def test_a_follower_reattaches_across_two_crashes(
    tmp_path: Path, server: FakeServer, database: dict[str, str]
) -> None:
    server.script(tools(("work", '{"item": "a"}')), answer("all done"))
    app = make_app(tmp_path, server, database, conversation="c1")

    # 1. killed inside the tool: the model call's event was written before the tool started
    assert app.kill_at_marker(stop_at="tool") == "tool"
    first = asyncio.run(_collect(database, None))
    assert [e.id for e in first] == ["run-1:1:0"]

    # 2. relaunched, killed in the memory append: the tool and the answer ran live
    (tmp_path / "marker").unlink()
    assert app.kill_at_marker(stop_at="append") == "append"
    second = asyncio.run(_collect(database, first[-1].id))

    # 3. relaunched to the end, followed live from here while the other process runs it
    (tmp_path / "marker").unlink()

    async def finish_while_following() -> list[DurableEvent]:
        follower = asyncio.ensure_future(_collect(database, second[-1].id, idle=None))
        assert await asyncio.to_thread(app.finish) == {"output": "all done", "steps": 2}
        return await follower

    third = asyncio.run(finish_while_following())
    seen = first + second + third
    assert [(e.id, e.replayed, e.event.type) for e in seen] == [
        ("run-1:1:0", False, "tool_call"),
        ("run-1:2:0", False, "tool_result"),  # the tool ran (again) live in the second process
        ("run-1:3:0", False, "text"),
        # the third process replayed every step from the record: its only new event
        ("run-1:3:1", True, "run_complete"),
    ]
    end = seen[-1].event
    assert isinstance(end, RunCompleteEvent)
    assert end.result.output == "all done"
    assert server.count() == 2  # each model call was sent once in all
    # a follower from the start reads the same log: each id once, in order
    assert asyncio.run(_collect(database, None, idle=None)) == seen
    assert asyncio.run(_collect(database, seen[-1].id, idle=None)) == []


def test_following_a_run_that_does_not_exist_says_so(
    tmp_path: Path, database: dict[str, str], server: FakeServer
) -> None:
    server.script(answer("hi"))
    assert make_app(tmp_path, server, database, run_id="other").finish()["output"] == "hi"
    with pytest.raises(ConfigError, match="no durable run 'run-1'"):
        asyncio.run(_collect(database, None))
    with pytest.raises(ConfigError, match="not a durable event id"):
        asyncio.run(_collect(database, "run-1:end"))
