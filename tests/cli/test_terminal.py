"""``exo run`` as a person sees it: the real command in a real terminal (tmux), screen captured."""

from __future__ import annotations

import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from exo.models import BUILTIN_BACKENDS

WIDTH = 60
LONG_TASK = "Compare the upkeep of React and Svelte for a team that ships each week"


@pytest.fixture
def tmux() -> Iterator[list[str]]:
    if shutil.which("tmux") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("tmux must be installed in CI (apt-get install tmux)")
        pytest.skip("tmux is not installed")
    # A private server per test: no other sessions, no race with the last one shutting down.
    base = ["tmux", "-L", f"exo-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"]
    yield base
    subprocess.run([*base, "kill-server"], capture_output=True, check=False)


def _exo() -> list[str]:
    script = Path(sys.executable).parent / "exo"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from exo.cli import main; main()"]


def _screen(tmux: list[str], command: list[str], cwd: Path) -> tuple[list[str], int]:
    # As in a person's terminal: the width comes from the terminal, not a COLUMNS variable.
    run = shlex.join(["env", "-u", "COLUMNS", "-u", "LINES", *command])
    shell = f"cd {shlex.quote(str(cwd))} && {run}; echo __EXIT=$?; sleep 60"
    subprocess.run(
        [*tmux, "new-session", "-d", "-s", "look", "-x", str(WIDTH), "-y", "50", shell], check=True
    )
    for _ in range(300):  # a bound on waiting, not a timing assertion
        screen = subprocess.run(
            # -S -: from the start of the scrollback, for output taller than the pane.
            [*tmux, "capture-pane", "-p", "-S", "-", "-t", "look"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        if "__EXIT=" in screen:
            lines = screen.rstrip("\n").splitlines()
            code = int(next(ln for ln in lines if ln.startswith("__EXIT="))[7:])
            return [ln.rstrip() for ln in lines if not ln.startswith("__EXIT=")], code
        time.sleep(0.1)
    pytest.fail(f"exo did not finish; screen:\n{screen}")


def test_run_reads_well_in_a_terminal(tmux: list[str], agent_dir: Path) -> None:
    lines, code = _screen(tmux, [*_exo(), "run", "agent.py", LONG_TASK], agent_dir)
    text = "\n".join(lines)
    assert code == 0, text
    assert all(len(line) <= WIDTH for line in lines), text
    # The plan panel is drawn whole, then the tool call and result, then the answer and usage.
    top = next(i for i, ln in enumerate(lines) if ln.startswith("╭─ Plan · test:exec"))
    bottom = next(
        (i for i, ln in enumerate(lines) if ln.startswith("╰") and ln.endswith("tokens ─╯")), -1
    )
    assert bottom > top, text
    assert all(ln.startswith("│") and ln.endswith("│") for ln in lines[top + 1 : bottom])
    call = lines.index("→ search(query='example')")
    assert lines[call + 1] == "  ← search: results for example"
    assert top < call
    usage = next(i for i, ln in enumerate(lines) if ln.startswith("tokens: plan "))
    answer = " ".join(lines[call + 2 : usage])
    # Wrapped at word boundaries: the words of the answer arrive whole.
    assert (
        answer.split()
        == (
            f"1. Understand the task: {LONG_TASK} 2. Use search: results for example "
            "3. Report the answer."
        ).split()
    )
    # No markup left raw, no spinner frames left behind.
    assert "[/" not in text
    assert "Working with" not in text
    assert not any(frame in text for frame in "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏")


def test_errors_read_as_one_message(tmux: list[str], tmp_path: Path) -> None:
    lines, code = _screen(tmux, [*_exo(), "run", "missing.py", "task"], tmp_path)
    assert code == 2
    assert lines[0].startswith("error: agent file ")
    assert "Traceback" not in "\n".join(lines)


def test_models_fit_a_narrow_terminal(tmux: list[str], tmp_path: Path) -> None:
    lines, code = _screen(tmux, [*_exo(), "models"], tmp_path)
    text = "\n".join(lines)
    assert code == 0, text
    assert all(len(line) <= WIDTH for line in lines), text
    assert "…" not in text  # nothing cut off
    words = text.split()
    for info in BUILTIN_BACKENDS.values():  # every name, description word and variable, whole
        assert info.name in words, info.name
        assert all(word in words for word in info.description.split()), info.description
        assert all(var in words for var in info.env_vars), info.env_vars


# --------------------------------------------------------------------------- Ctrl-C

SLOW_PY = """
import asyncio

from exo import Agent
from exo.models import register_provider
from exo.testing import TestModel

turns = 0


class Slow(TestModel):
    async def _reply(self, request):
        global turns
        turns += 1
        if turns == 1:
            await asyncio.sleep(120)  # a first turn that takes long, like a model loading
        return await super()._reply(request)


register_provider("slow", lambda name: Slow(name))
agent = Agent(name="s", model="slow:x", instructions="Be brief.")
"""


class Session:
    """An interactive command in a tmux pane: type into it, wait for text on its screen."""

    def __init__(self, tmux: list[str], command: list[str], cwd: Path) -> None:
        self.tmux = tmux
        run = shlex.join(["env", "-u", "COLUMNS", "-u", "LINES", *command])
        shell = f"cd {shlex.quote(str(cwd))} && {run}; echo __EXIT=$?; sleep 60"
        subprocess.run(
            [*tmux, "new-session", "-d", "-s", "chat", "-x", str(WIDTH), "-y", "40", shell],
            check=True,
        )

    def screen(self) -> list[str]:
        out = subprocess.run(
            [*self.tmux, "capture-pane", "-p", "-t", "chat"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return [line.rstrip() for line in out.rstrip("\n").splitlines()]

    def keys(self, *keys: str) -> None:
        subprocess.run([*self.tmux, "send-keys", "-t", "chat", *keys], check=True)

    def wait_for(self, predicate: Callable[[list[str]], bool], what: str) -> list[str]:
        for _ in range(300):  # a bound on waiting, not a timing assertion
            lines = self.screen()
            if predicate(lines):
                return lines
            time.sleep(0.1)
        pytest.fail(f"never saw {what}; screen:\n" + "\n".join(self.screen()))


def _prompts(lines: list[str]) -> int:
    return sum(line.startswith("you ›") for line in lines)


def test_ctrl_c_in_chat_stops_the_turn_and_keeps_the_session(
    tmux: list[str], tmp_path: Path
) -> None:
    (tmp_path / "slow.py").write_text(SLOW_PY)
    chat = Session(tmux, [*_exo(), "chat", "slow.py"], tmp_path)
    chat.wait_for(lambda s: _prompts(s) == 1, "the first prompt")
    chat.keys("Take your time", "Enter")
    chat.wait_for(lambda s: any("Working with slow:x" in ln for ln in s), "the spinner")
    chat.keys("C-c")
    lines = chat.wait_for(lambda s: _prompts(s) == 2, "a new prompt after Ctrl-C")
    interrupted = lines.index("interrupted (this turn is not kept)")
    assert lines[interrupted - 1] == "you › Take your time"  # on its own line, spinner gone
    assert lines[interrupted + 1] == "you ›"
    # The session goes on: the next turn runs and answers its own question.
    chat.keys("Second try", "Enter")
    lines = chat.wait_for(lambda s: _prompts(s) == 3, "the prompt after the second turn")
    assert "1. Understand the task: Second try" in lines
    assert not any("__EXIT=" in ln for ln in lines)
    # Ctrl-C at the empty prompt leaves, cleanly.
    chat.keys("C-c")
    lines = chat.wait_for(lambda s: any(ln.startswith("__EXIT=") for ln in s), "the exit")
    assert lines[-1] == "__EXIT=0", lines
    assert lines[-2].removesuffix(" ^C") == "you ›"  # the terminal echoes ^C; then a newline
    assert "Traceback" not in "\n".join(lines)


def test_ctrl_d_at_the_prompt_leaves_the_chat(tmux: list[str], agent_dir: Path) -> None:
    chat = Session(tmux, [*_exo(), "chat", "agent.py", "--no-plan"], agent_dir)
    chat.wait_for(lambda s: _prompts(s) == 1, "the first prompt")
    chat.keys("C-d")
    lines = chat.wait_for(lambda s: any(ln.startswith("__EXIT=") for ln in s), "the exit")
    assert lines[-2:] == ["you ›", "__EXIT=0"]


def test_ctrl_c_while_waiting_ends_the_line_and_says_interrupted(
    tmux: list[str], tmp_path: Path
) -> None:
    (tmp_path / "slow.py").write_text(SLOW_PY)
    run = Session(tmux, [*_exo(), "run", "slow.py", "hello"], tmp_path)
    run.wait_for(lambda s: any("Working with slow:x" in ln for ln in s), "the spinner")
    run.keys("C-c")
    lines = run.wait_for(lambda s: any(ln.startswith("__EXIT=") for ln in s), "the exit")
    assert lines[-2:] == ["interrupted", "__EXIT=130"], lines
    assert not any("Working with" in ln for ln in lines)


def _child_pid(tmux: list[str]) -> int | None:
    shell = subprocess.run(
        [*tmux, "list-panes", "-t", "chat", "-F", "#{pane_pid}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    children = Path(f"/proc/{shell}/task/{shell}/children")
    pids = children.read_text().split() if children.exists() else []
    return int(pids[0]) if pids else None


def _stderr_is_silenced(pid: int | None) -> bool:
    try:
        return pid is not None and os.readlink(f"/proc/{pid}/fd/2") == "/dev/null"
    except OSError:
        return False


@pytest.mark.local_model
def test_ctrl_c_while_the_local_model_loads_says_interrupted(
    tmux: list[str], tmp_path: Path
) -> None:
    if importlib.util.find_spec("llama_cpp") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("llama-cpp-python must be installed in CI: pip install 'exo-agents[local]'")
        pytest.skip("llama-cpp-python is not installed")
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to see when llama.cpp loads the model")
    run = Session(tmux, [*_exo(), "run", "Compare React vs Svelte"], tmp_path)
    # llama-cpp-python points the process's stderr at /dev/null while it loads the model (on
    # exo's engine thread): press Ctrl-C exactly then, as a person does at the spinner.
    pid = None
    for _ in range(600):  # a bound on waiting, not a timing assertion
        pid = pid or _child_pid(tmux)
        if _stderr_is_silenced(pid):
            break
        time.sleep(0.05)
    else:
        pytest.fail("never saw llama.cpp load the model; screen:\n" + "\n".join(run.screen()))
    run.keys("C-c")
    lines = run.wait_for(lambda s: any(ln.startswith("__EXIT=") for ln in s), "the exit")
    assert [ln for ln in lines if ln][-2:] == ["interrupted", "__EXIT=130"], lines
    assert not any("loading the model" in ln for ln in lines), lines
