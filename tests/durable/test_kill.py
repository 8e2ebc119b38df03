"""Kill tests: a durable run's process is SIGKILLed at a boundary, a new process recovers it.

After the relaunch the run ends with the output of an uninterrupted run, every completed model
call reached the (counting) fake server once in all, and only the interrupted step ran twice,
with the same idempotency key both times.
"""

from __future__ import annotations

from pathlib import Path

from durable.conftest import make_app
from reliability.fakeserver import FakeServer, answer, tools


def _sqlite(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'dbos.db'}"


def test_an_uninterrupted_run_is_the_reference(tmp_path: Path, server: FakeServer) -> None:
    server.script(tools(("work", '{"item": "a"}')), answer("all done"))
    app = make_app(tmp_path, server, _sqlite(tmp_path))
    assert app.finish() == {"output": "all done", "steps": 2}
    assert server.count() == 2
    [line] = app.keys()
    assert line.startswith("a run-1:")


def test_killed_inside_a_tool(tmp_path: Path, server: FakeServer) -> None:
    server.script(tools(("work", '{"item": "a"}')), answer("all done"))
    app = make_app(tmp_path, server, _sqlite(tmp_path), stop_at="tool")
    assert app.kill_at_marker() == "tool"
    assert server.count() == 1  # the first model call, completed before the kill
    assert app.finish() == {"output": "all done", "steps": 2}
    assert server.count() == 2  # the first call was not sent again
    first, second = app.keys()
    assert first == second  # the tool ran twice, with one idempotency key
    assert first.startswith("a run-1:")
