"""``exo run`` as a person sees it: the real command in a real terminal (tmux), screen captured."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

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
            [*tmux, "capture-pane", "-p", "-t", "look"], capture_output=True, text=True, check=True
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
