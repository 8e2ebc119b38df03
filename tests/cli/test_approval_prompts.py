"""``exo run`` asks a person: y / n for a tool call, y / n / edit for a plan (real tmux)."""

from __future__ import annotations

from pathlib import Path

from .test_terminal import Session, _exo, tmux

__all__ = ["tmux"]  # the fixture, shared with the terminal tests

# An echo model: it calls delete_file once, then answers with what it last read, so the
# screen shows exactly what reached the executor (the tool result, or the injected plan).
AGENT_PY = '''
from exo import Agent, tool
from exo.models import register_provider
from exo.testing import FunctionModel, call
from exo.types import ToolResult, UserMessage, text_of

DELETED = []


@tool(requires_approval=True)
def delete_file(path: str) -> str:
    """Delete a file."""
    DELETED.append(path)
    return f"deleted {path}"


def reply(messages, info):
    last = messages[-1]
    if info.agent_name.endswith("_planner"):
        return "1. Look around\\n2. Delete"
    if isinstance(last, UserMessage) and info.tools:
        return call("delete_file", path="notes.txt")
    return "ECHO " + text_of(last.content).replace("\\n", " | ")


register_provider("echo", lambda name: FunctionModel(reply, model=name))
tools_agent = Agent(name="ops", model="echo:x", tools=[delete_file])
plan_agent = Agent(name="ops", model="echo:x", planning_enabled=True, approve_plan=True)
'''


def _agent_dir(tmp_path: Path) -> Path:
    (tmp_path / "ops.py").write_text(AGENT_PY)
    return tmp_path


def _exit(session: Session) -> list[str]:
    return session.wait_for(lambda s: any(ln.startswith("__EXIT=") for ln in s), "the exit")


def test_a_tool_call_is_asked_with_its_arguments_and_y_runs_it(
    tmux: list[str], tmp_path: Path
) -> None:
    session = Session(tmux, [*_exo(), "run", "ops.py:tools_agent", "tidy"], _agent_dir(tmp_path))
    lines = session.wait_for(lambda s: any("run it? [y/n]" in ln for ln in s), "the question")
    assert "? approve this call:" in lines
    assert '    path = "notes.txt"' in lines
    assert not any("Running delete_file" in ln for ln in lines)  # no spinner over the question
    session.keys("y", "Enter")
    lines = _exit(session)
    assert "ECHO deleted notes.txt" in lines
    assert lines[-1] == "__EXIT=0"


def test_n_denies_the_call_and_the_model_reads_why(tmux: list[str], tmp_path: Path) -> None:
    session = Session(tmux, [*_exo(), "run", "ops.py:tools_agent", "tidy"], _agent_dir(tmp_path))
    session.wait_for(lambda s: any("run it? [y/n]" in ln for ln in s), "the question")
    session.keys("maybe", "Enter")
    session.wait_for(lambda s: "answer y or n" in s, "the question again")
    session.keys("n", "Enter")
    text = " ".join(_exit(session))
    assert "ECHO Error: the call of 'delete_file' was not approved" in text
    assert "the user said no at the terminal" in text


def test_yes_approves_without_asking(tmux: list[str], tmp_path: Path) -> None:
    command = [*_exo(), "run", "ops.py:tools_agent", "tidy", "--yes"]
    lines = _exit(Session(tmux, command, _agent_dir(tmp_path)))
    assert any(ln.startswith("✓ approved (--yes): delete_file(") for ln in lines), lines
    assert "ECHO deleted notes.txt" in lines
    assert not any("run it?" in ln for ln in lines)


def test_a_plan_is_shown_and_an_edited_plan_reaches_the_executor(
    tmux: list[str], tmp_path: Path
) -> None:
    command = ["env", "-u", "EDITOR", "-u", "VISUAL", *_exo(), "run", "ops.py:plan_agent", "tidy"]
    session = Session(tmux, command, _agent_dir(tmp_path))
    question = "use this plan? [y]es / [n]o (run without it) / [e]dit"
    lines = session.wait_for(lambda s: any(question in ln for ln in s), "the question")
    assert any("1. Look around" in ln for ln in lines)  # the plan panel is drawn first
    session.keys("e", "Enter")
    session.wait_for(lambda s: any("end it with a line" in ln for ln in s), "the editor prompt")
    session.keys("1. Only look", "Enter", "2. Report back", "Enter", ".", "Enter")
    text = " ".join(_exit(session))
    assert (
        "ECHO Original task: | tidy |  | Planner output: | 1. Only look | 2. Report back |  | "
        "Use the planner output while completing the task." in text
    )


def test_n_runs_without_the_plan(tmux: list[str], tmp_path: Path) -> None:
    session = Session(tmux, [*_exo(), "run", "ops.py:plan_agent", "tidy"], _agent_dir(tmp_path))
    session.wait_for(lambda s: any("use this plan?" in ln for ln in s), "the question")
    session.keys("n", "Enter")
    lines = _exit(session)
    assert "ECHO tidy" in lines
