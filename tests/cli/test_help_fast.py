"""``exo --help`` is printed from a table with rich alone (``exo._cli_help``), without typer.

These tests keep that honest against typer's real rendering of ``exo.cli.app``: for
``exo --help`` and a bare ``exo``, in new interpreters, piped and on a real terminal (a pty
of a given size), at several widths and colour settings, the fast path must write exactly the
bytes and exit with exactly the code the full app does. A command added to ``exo.cli`` and not
to ``COMMANDS``, or a typer release that renders the help differently, fails here.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time

import pytest

from exo._cli_help import COMMANDS, OPTIONS, is_root_help

# Each side prints `exo --help`, then a bare `exo`, each followed by its exit code.
# FAST is what the `exo` script runs (exo._cli_entry); FULL is typer with every command.
HELP_BOTH_WAYS = """
import sys
from {module} import main

for args in (["--help"], []):
    sys.argv = [{program!r}, *args]
    try:
        main()
    except SystemExit as stop:
        code = stop.code
    sys.stdout.write(f"<exit {{code}}>")
    sys.stdout.flush()
sys.stdout.write(" ".join(sorted(sys.modules)))
"""
FAST = HELP_BOTH_WAYS.format(module="exo._cli_entry", program="exo")
FULL = HELP_BOTH_WAYS.format(module="exo.cli", program="exo")

# everything rich and typer read to pick the width and the colours
_RENDERING_VARIABLES = (
    "COLUMNS",
    "LINES",
    "TERMINAL_WIDTH",
    "NO_COLOR",
    "FORCE_COLOR",
    "PY_COLORS",
    "GITHUB_ACTIONS",
    "_TYPER_FORCE_DISABLE_TERMINAL",
    "TTY_COMPATIBLE",
    "TTY_INTERACTIVE",
    "TERM",
    "COLORTERM",
    "JUPYTER_COLUMNS",
    "JUPYTER_LINES",
    "DATABRICKS_RUNTIME_VERSION",
)


def _env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _RENDERING_VARIABLES}
    return env | overrides


def _piped(script: str, env: dict[str, str]) -> bytes:
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stderr == b""
    return done.stdout


def _on_a_terminal(script: str, env: dict[str, str], columns: int) -> bytes:
    """What ``script`` writes to a pseudo-terminal ``columns`` wide (stdin, stdout, stderr)."""
    main, side = pty.openpty()
    fcntl.ioctl(side, termios.TIOCSWINSZ, struct.pack("HHHH", 30, columns, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdin=side, stdout=side, stderr=side, env=env
    )
    os.close(side)
    out = bytearray()
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if not select.select([main], [], [], 1)[0]:
                continue
            try:
                chunk = os.read(main, 65536)
            except OSError:  # EIO: the child exited and closed the terminal
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(main)
        if proc.poll() is None:
            proc.kill()
    assert proc.wait(timeout=10) == 0, out.decode(errors="replace")
    return bytes(out)


def _split(output: bytes) -> tuple[bytes, set[str]]:
    """The two helps with their exit codes, and the modules the process had imported."""
    helps, _, modules = output.rpartition(b">")
    return helps + b">", set(modules.decode().split())


def _check_same(fast: bytes, full: bytes) -> None:
    fast_helps, fast_modules = _split(fast)
    full_helps, _ = _split(full)
    plain = re.sub(rb"\x1b\[[0-9;]*m", b"", full_helps)
    assert plain.count(b"Usage: exo [OPTIONS] COMMAND [ARGS]...") == 2
    assert b"<exit 0>" in plain and plain.endswith(b"<exit 2>")
    for name, _ in COMMANDS:
        assert f" {name} ".encode() in plain
    # a command added to exo.cli and not to exo._cli_help.COMMANDS fails here
    assert fast_helps.decode() == full_helps.decode(), (
        "exo._cli_help no longer prints what typer prints for exo.cli.app: update its "
        "COMMANDS / OPTIONS tables, or its renderables if typer's rendering changed"
    )
    # ... and the fast side really took the fast path
    assert "typer" not in fast_modules and "exo.cli" not in fast_modules


PIPED = {
    "default": {},
    "COLUMNS=52": {"COLUMNS": "52"},
    "COLUMNS=160": {"COLUMNS": "160"},
    "TERMINAL_WIDTH=70": {"TERMINAL_WIDTH": "70"},
    "FORCE_COLOR, 256 colours": {"FORCE_COLOR": "1", "TERM": "xterm-256color"},
    "FORCE_COLOR, truecolor": {"FORCE_COLOR": "1", "COLORTERM": "truecolor", "COLUMNS": "90"},
    "PY_COLORS, 8 colours": {"PY_COLORS": "1", "TERM": "xterm"},
    "FORCE_COLOR with NO_COLOR": {"FORCE_COLOR": "1", "NO_COLOR": "1"},
    "GITHUB_ACTIONS, typer's terminal off": {
        "GITHUB_ACTIONS": "true",
        "_TYPER_FORCE_DISABLE_TERMINAL": "1",
    },
}


@pytest.mark.parametrize("overrides", PIPED.values(), ids=PIPED.keys())
def test_piped_the_fast_root_help_is_typers(overrides: dict[str, str]) -> None:
    env = _env(**overrides)
    _check_same(_piped(FAST, env), _piped(FULL, env))


TERMINALS = {
    "100 columns, 256 colours": (100, {"TERM": "xterm-256color"}),
    "44 columns, truecolor": (44, {"TERM": "xterm-256color", "COLORTERM": "truecolor"}),
    "80 columns, NO_COLOR": (80, {"TERM": "xterm-256color", "NO_COLOR": "1"}),
    "120 columns, a dumb terminal": (120, {"TERM": "dumb"}),
}


@pytest.mark.parametrize(("columns", "overrides"), TERMINALS.values(), ids=TERMINALS.keys())
def test_on_a_terminal_the_fast_root_help_is_typers(
    columns: int, overrides: dict[str, str]
) -> None:
    env = _env(**overrides)
    fast = _on_a_terminal(FAST, env, columns)
    _check_same(fast, _on_a_terminal(FULL, env, columns))
    if overrides["TERM"] == "dumb":
        assert b"\x1b[" not in fast
    elif overrides.get("NO_COLOR"):
        assert b"\x1b[1m" in fast and b"36m" not in fast  # bold, no colour
    else:  # the colours really are compared
        assert b"\x1b[1;36m" in fast


def test_a_program_name_click_would_wrap_takes_typers_path() -> None:
    program = "/usr/local/bin/exo-with-a-long-program-name"
    env = _env(COLUMNS="52")  # click wraps the usage line at 50 columns
    fast = _piped(HELP_BOTH_WAYS.format(module="exo._cli_entry", program=program), env)
    full = _piped(HELP_BOTH_WAYS.format(module="exo.cli", program=program), env)
    fast_helps, fast_modules = _split(fast)
    assert fast_helps == _split(full)[0]
    assert b" Usage: exo-with-a-long-program-name    " in fast_helps
    assert b"            [OPTIONS] COMMAND [ARGS]...   " in fast_helps
    assert "typer" in fast_modules


def test_the_table_holds_plain_lines() -> None:
    # typer reads help lines as rich markup and replays ANSI codes: the table has neither
    for line in [name for name, _ in COMMANDS] + [text for opt in OPTIONS for text in opt]:
        assert "\x1b" not in line and "\n" not in line


def test_only_the_root_help_takes_the_fast_path() -> None:
    assert is_root_help([]) and is_root_help(["--help"])
    assert not is_root_help(["run", "--help"])
    assert not is_root_help(["--version"])
    assert not is_root_help(["-h"])
    assert not is_root_help(["--help", "--version"])
    assert not is_root_help(["models"])


def test_the_fast_path_imports_no_command_module() -> None:
    _, modules = _split(_piped(FAST, _env()))
    for heavy in ("exo.cli", "exo.runner", "exo._loop", "pydantic", "openai", "anthropic"):
        assert heavy not in modules
    for typer_side in ("typer", "click", "rich.markdown", "rich.traceback"):
        assert typer_side not in modules
