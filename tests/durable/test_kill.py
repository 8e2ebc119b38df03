"""Kill tests: a durable run's process is SIGKILLed at a boundary, a new process recovers it.

After the relaunch the run ends with the output of an uninterrupted run, every completed model
call reached the (counting) fake server once in all, and only the interrupted step ran twice,
with the same idempotency key both times. Each runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from durable.conftest import make_app
from exo.memory_sqlite import SQLiteMemory
from reliability.fakeserver import Attempt, FakeServer, Reply, answer, tools

HANG = 3600.0  # a model call the test kills the process in


def _bodies(server: FakeServer) -> list[str]:
    return [json.dumps(a.body, sort_keys=True) for a in server.attempts]


def test_an_uninterrupted_run_is_the_reference(
    tmp_path: Path, server: FakeServer, database: dict[str, str]
) -> None:
    server.script(tools(("work", '{"item": "a"}')), answer("all done"))
    app = make_app(tmp_path, server, database)
    assert app.finish() == {"output": "all done", "steps": 2}
    assert server.count() == 2
    [line] = app.keys()
    assert line.startswith("a run-1:")


def test_killed_inside_a_tool(tmp_path: Path, server: FakeServer, database: dict[str, str]) -> None:
    server.script(tools(("work", '{"item": "a"}')), answer("all done"))
    app = make_app(tmp_path, server, database, stop_at="tool")
    assert app.kill_at_marker() == "tool"
    assert server.count() == 1  # the first model call, completed before the kill
    assert app.finish() == {"output": "all done", "steps": 2}
    assert server.count() == 2  # the first call was not sent again
    first, second = app.keys()
    assert first == second  # the tool ran twice, with one idempotency key
    assert first.startswith("a run-1:")


def test_killed_during_a_model_call(
    tmp_path: Path, server: FakeServer, database: dict[str, str]
) -> None:
    server.script(
        tools(("work", '{"item": "a"}')),
        answer("all done", delay=HANG),
        answer("all done"),
    )
    app = make_app(tmp_path, server, database)
    app.kill_when(lambda: server.count() == 2)
    assert app.finish() == {"output": "all done", "steps": 2}
    first, interrupted, again = _bodies(server)
    assert interrupted == again  # only the interrupted call was sent twice, unchanged
    assert first != interrupted
    assert len(app.keys()) == 1  # the tool finished before the kill: not run again


def test_killed_during_the_planner(
    tmp_path: Path, server: FakeServer, database: dict[str, str]
) -> None:
    server.script(
        answer("1. work on a", delay=HANG),
        answer("1. work on a"),
        tools(("work", '{"item": "a"}')),
        answer("all done"),
    )
    app = make_app(tmp_path, server, database, plan=True)
    app.kill_when(lambda: server.count() == 1)
    assert app.finish() == {"output": "all done", "steps": 2}
    assert server.count() == 4
    planner, again, executor, _ = _bodies(server)
    assert planner == again
    assert "1. work on a" in executor  # the plan reached the executor
    assert len(app.keys()) == 1


def test_killed_inside_a_child(
    tmp_path: Path, server: FakeServer, database: dict[str, str]
) -> None:
    server.script(
        tools(("spawn_self", '{"tasks": ["work on a"]}')),
        tools(("work", '{"item": "a"}')),  # the child's first call
        answer("a is done"),  # the child's answer
        answer("all done"),
    )
    app = make_app(tmp_path, server, database, spawn=True, stop_at="tool")
    assert app.kill_at_marker() == "tool"
    assert server.count() == 2
    assert app.finish() == {"output": "all done", "steps": 2}
    assert server.count() == 4  # no completed call of parent or child was sent again
    first, second = app.keys()
    assert first == second


def _family(attempt: Attempt) -> Reply:
    """The parent spawns two children; each child works on its item, then answers."""
    messages = attempt.body["messages"]
    task = next(m["content"] for m in messages if m["role"] == "user")
    done = messages[-1]["role"] == "tool"
    if task == "do the job":
        if done:
            return answer("all done")
        return tools(("spawn_self", '{"tasks": ["work on a", "work on b"]}'))
    item = task.removeprefix("work on ")
    return answer(f"{item} is done") if done else tools(("work", json.dumps({"item": item})))


def test_killed_inside_one_of_two_concurrent_children(
    tmp_path: Path, server: FakeServer, database: dict[str, str]
) -> None:
    server.responder = _family
    app = make_app(tmp_path, server, database, spawn=True, stop_at="tool", stop_item="b")
    assert app.kill_at_marker() == "tool"
    server.settle()
    before = len(server.attempts)
    completed = {
        b for a, b in zip(server.attempts, _bodies(server), strict=True) if a.outcome == "ok"
    }
    assert app.finish() == {"output": "all done", "steps": 2}
    assert server.count() >= 6  # parent 2 calls, each child 2
    resent = [b for b in _bodies(server)[before:] if b in completed]
    assert resent == []  # no completed call of parent or child was sent again
    keys: dict[str, set[str]] = {}
    lines = app.keys()
    for line in lines:
        item, key = line.split()
        keys.setdefault(item, set()).add(key)
    # each child is a workflow with an id derived from its parent's, in spawn order
    assert keys["a"] == {"run-1:child:1:2"} and keys["b"] == {"run-1:child:2:2"}
    assert lines.count(f"b {keys['b'].pop()}") == 2  # the killed tool ran again


def _tree(attempt: Attempt) -> Reply:
    """do the job -> spawns branch -> spawns leaf; leaf works, then tries to spawn a twig."""
    messages = attempt.body["messages"]
    task = next(m["content"] for m in messages if m["role"] == "user")
    results = [m for m in messages if m["role"] == "tool"]
    if task == "leaf":
        if not results:
            return tools(("work", '{"item": "leaf"}'))
        if len(results) == 1:
            return tools(("spawn_self", '{"tasks": ["twig"]}'))
        return answer(f"leaf saw: {results[-1]['content']}")
    below = {"do the job": "branch", "branch": "leaf"}[task]
    if results:
        return answer("all done" if task == "do the job" else "branch done")
    return tools(("spawn_self", json.dumps({"tasks": [below]})))


def test_a_recovered_grandchild_draws_from_the_trees_spawn_pool(
    tmp_path: Path, server: FakeServer, database: dict[str, str]
) -> None:
    # the tree may start 2 children in all: branch and leaf; the leaf, recovered in a fresh
    # process, must not start a third
    server.responder = _tree
    config = {"spawn": True, "max_spawn_depth": 3, "max_spawn_total": 2, "stop_item": "leaf"}
    app = make_app(tmp_path, server, database, stop_at="tool", **config)
    assert app.kill_at_marker() == "tool"
    assert app.finish() == {"output": "all done", "steps": 2}
    tasks = [
        next(m["content"] for m in b["messages"] if m["role"] == "user")
        for b in (a.body for a in server.attempts)
    ]
    assert "twig" not in tasks  # no third child was started
    leaf_last = [a.body for a in server.attempts if tasks[a.n] == "leaf"][-1]
    refusal = leaf_last["messages"][-1]["content"]
    assert "may start 0 more children in all (max_spawn_total=2)" in refusal
    [key] = set(app.keys())
    assert key == "leaf run-1:child:1:child:1:2"


def test_killed_during_the_memory_append(
    tmp_path: Path, server: FakeServer, database: dict[str, str]
) -> None:
    server.script(tools(("work", '{"item": "a"}')), answer("all done"))
    app = make_app(tmp_path, server, database, conversation="c1", stop_at="append")
    assert app.kill_at_marker() == "append"
    (tmp_path / "marker").unlink()
    assert app.finish(stop_at=None) == {"output": "all done", "steps": 2}
    assert server.count() == 2

    async def turn() -> list[str]:
        memory = SQLiteMemory(tmp_path / "memory.db")
        try:
            return [m.role for m in await memory.load("c1")]
        finally:
            await memory.aclose()

    # the turn was appended exactly once
    assert asyncio.run(turn()) == ["user", "assistant", "tool", "assistant"]


def test_a_redeploy_resumes_the_runs_in_flight(
    tmp_path: Path, server: FakeServer, database: dict[str, str]
) -> None:
    # the application version is pinned (exo-{name}-v1), so the new code takes the run over
    server.script(tools(("work", '{"item": "a"}')), answer("all done"))
    app = make_app(tmp_path, server, database, stop_at="tool")
    assert app.kill_at_marker() == "tool"
    assert app.finish(v2=True) == {"output": "all done", "steps": 2}
    assert server.count() == 2
    # the interrupted tool ran again on the new code, and the model saw that result
    assert "worked on a (v2)" in json.dumps(server.attempts[1].body)


def test_context_changes_of_a_tool_survive_a_kill_before_the_next_model_call(
    tmp_path: Path, server: FakeServer, database: dict[str, str]
) -> None:
    server.script(
        tools(("remember", '{"fact": "blue"}')),
        tools(("recall", "{}"), delay=HANG),  # killed while this call waits
        tools(("recall", "{}")),
        answer("all done"),
    )
    app = make_app(tmp_path, server, database)
    app.kill_when(lambda: server.count() == 2)
    assert app.finish() == {"output": "all done", "steps": 3}
    assert len(app.keys()) == 1  # remember ran once: its step was replayed, not run again
    last = json.dumps(server.attempts[-1].body)
    # the replayed step restored what remember put in the context, so recall found it
    assert "facts: ['blue']; todos: 1. [ ] use blue" in last


def _probe(app: Any, **changes: Any) -> str:
    """Launch the app (DBOS recovers what it recovers) and exit; return what it logged."""
    proc = app._start(probe=True, **changes)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    assert json.loads(out.strip().splitlines()[-1]) == {"probe": True}
    return str(err)


def test_a_redeploy_under_another_version_strands_the_run_and_says_so(
    tmp_path: Path, server: FakeServer, database: dict[str, str]
) -> None:
    # DBOS's default version, a hash of the registered workflows' source (not exo's pin)
    server.script(tools(("work", '{"item": "a"}')), answer("all done"))
    app = make_app(tmp_path, server, database, stop_at="tool", version="dbos-default")
    assert app.kill_at_marker() == "tool"
    stranded = "1 durable run(s) in flight were started under another application version"
    # the redeploy changed the workflows: DBOS's version moved, it does not recover the run
    logged = _probe(app, new_workflow=True)
    assert stranded in logged
    assert "'run-1'" in logged
    # a pinned version that changed strands it the same way
    assert stranded in _probe(app, version="exo-exotest-v2")
    assert len(app.keys()) == 1  # the interrupted tool did not run again
    # the first deploy's code again: the same hash, so DBOS recovers the run and it finishes
    assert app.finish() == {"output": "all done", "steps": 2}
    assert server.count() == 2
    first, second = app.keys()
    assert first == second
