"""exo runs cancel / resume / follow end to end, as a user types them: a run cancelled while
its process executes it, and a run whose process was SIGKILLed, are finished by
``exo runs resume --agent``; ``exo runs follow`` prints the events from another process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from durable.conftest import TESTS
from reliability.fakeserver import FakeServer, answer, tools

CLI = "from exo._cli_entry import main; main()"
AGENT = "cli_agent.py:agent"


@pytest.fixture
def env(tmp_path: Path, server: FakeServer) -> dict[str, str]:
    server.script(tools(("work", '{"item": "a"}')), answer("all done"))
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(TESTS / "durable"), str(TESTS.parent / "src")]),
        "EXO_HOME": str(tmp_path / "home"),
        "EXO_TEST_DURABLE_DIR": str(tmp_path),
        "OPENAI_API_KEY": "test-key",
        "OPENAI_BASE_URL": f"{server.url}/v1",
    }


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def _exo(env: dict[str, str], *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-c", CLI, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=TESTS / "durable",
    )
    assert done.returncode == code, done.stderr
    return done


def _start(env: dict[str, str], procs: list[subprocess.Popen[str]], *args: str) -> Any:
    proc = subprocess.Popen(
        [sys.executable, "-c", CLI, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=TESTS / "durable",
    )
    procs.append(proc)
    return proc


def _wait_for(path: Path, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120  # a hang fails the test instead of blocking CI
    while not path.exists():
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.05)


def _status(env: dict[str, str], run_id: str) -> dict[str, Any]:
    shown: dict[str, Any] = json.loads(_exo(env, "runs", "show", run_id).stdout)
    return shown


def test_a_run_cancelled_while_running_stops_at_its_next_step_and_resume_finishes_it(
    tmp_path: Path, env: dict[str, str], server: FakeServer, procs: list[Any]
) -> None:
    run = _start(env, procs, "run", AGENT, "--run-id", "x-1", "do the job")
    _wait_for(tmp_path / "marker", run)
    assert _exo(env, "runs", "cancel", "x-1").stdout.strip() == "cancelled x-1"
    (tmp_path / "go").write_text("")  # the tool returns; the next step sees the cancel
    _, err = run.communicate(timeout=120)
    assert run.returncode != 0
    assert "durable run 'x-1' was cancelled" in err
    assert "exo runs resume" in err
    shown = _status(env, "x-1")
    assert shown["status"] == "CANCELLED"
    # the tool call in flight when the run was cancelled is not recorded (DBOS refuses the
    # writes of an execution that no longer owns the run): like a killed step, it runs again
    assert shown["steps"] == ["model:clitest"]
    assert server.count() == 1  # the answer's model call was never sent

    done = _exo(env, "runs", "resume", "x-1", "--agent", AGENT)
    assert done.stdout.strip() == "all done"
    assert _status(env, "x-1")["status"] == "SUCCESS"
    assert server.count() == 2  # the recorded model call was not sent again
    assert (tmp_path / "calls.log").read_text().split() == ["a", "a"]


def test_a_run_whose_process_died_is_resumed_and_followed_from_another_process(
    tmp_path: Path, env: dict[str, str], server: FakeServer, procs: list[Any]
) -> None:
    run = _start(env, procs, "run", AGENT, "--run-id", "k-1", "do the job")
    _wait_for(tmp_path / "marker", run)
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    assert _status(env, "k-1")["status"] == "PENDING"  # nobody executes it now
    follower = _start(env, procs, "runs", "follow", "k-1")  # waits for the relaunch

    (tmp_path / "go").write_text("")
    done = _exo(env, "runs", "resume", "k-1", "--agent", AGENT)
    assert done.stdout.strip() == "all done"
    out, err = follower.communicate(timeout=120)
    assert follower.returncode == 0, err
    lines = [line.split("\t") for line in out.splitlines()]
    assert [line[:3] for line in lines] == [
        ["k-1:1:0", "tool_call", "live"],  # written by the killed process
        ["k-1:2:0", "tool_result", "live"],  # the killed tool call ran again
        ["k-1:3:0", "text", "live"],
        ["k-1:3:1", "run_complete", "live"],
    ]
    assert lines[-1][3] == "all done"
    assert server.count() == 2  # the first model call was not sent again
    assert (tmp_path / "calls.log").read_text().split() == ["a", "a"]  # only it ran twice
    # reattached after an event it saw: only the later ones
    again = _exo(env, "runs", "follow", "k-1", "--after", "k-1:2:0").stdout
    assert [line.split("\t")[0] for line in again.splitlines()] == ["k-1:3:0", "k-1:3:1"]


def test_the_runs_commands_say_what_is_missing(tmp_path: Path, env: dict[str, str]) -> None:
    commands = ("show", "cancel", "resume", "follow")
    assert _exo(env, "runs", "list").stdout == ""  # a database where no run ever started
    for command in commands:
        done = _exo(env, "runs", command, "nope", code=2)
        assert "no durable run has been started on this database" in done.stderr, command
    (tmp_path / "go").write_text("")
    assert _exo(env, "run", AGENT, "--run-id", "ok", "do the job").stdout.strip() == "all done"
    assert _exo(env, "runs", "list").stdout.split() == ["ok", "SUCCESS", "clitest"]
    for command in commands:
        done = _exo(env, "runs", command, "nope", code=2)
        assert "error: no durable run 'nope'" in done.stderr, command
        assert "hint: exo runs list" in done.stderr
