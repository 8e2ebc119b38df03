"""``exo --help`` answers from a table (``exo._cli_help``) without importing the commands.

These tests keep that table honest: the fast root help must print exactly what the full app
prints, for ``exo --help`` and for a bare ``exo``; and the fast path must really skip the
command modules (the run loop, pydantic, the SDKs).
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from exo._cli_help import COMMANDS, is_root_help, root_help_app
from exo.cli import app

FAST_HELP_IMPORTS = """
import sys
sys.argv = ["exo", "--help"]
from exo._cli_entry import main
try:
    main()
except SystemExit as stop:
    assert not stop.code, stop.code
print(" ".join(sorted(sys.modules)))
"""


@pytest.mark.parametrize("args", [["--help"], []], ids=["--help", "bare"])
def test_the_fast_root_help_is_the_full_apps(args: list[str]) -> None:
    runner = CliRunner()
    full = runner.invoke(app, args, prog_name="exo")
    fast = runner.invoke(root_help_app(), args, prog_name="exo")
    assert fast.exit_code == full.exit_code
    assert "Usage: exo" in full.output
    for name, _ in COMMANDS:
        assert f" {name} " in full.output
    # a command added to exo.cli and not to exo._cli_help.COMMANDS fails here
    assert fast.output == full.output


def test_only_the_root_help_takes_the_fast_path() -> None:
    assert is_root_help([]) and is_root_help(["--help"])
    assert not is_root_help(["run", "--help"])
    assert not is_root_help(["--version"])
    assert not is_root_help(["models"])


def test_the_fast_path_imports_no_command_module() -> None:
    done = subprocess.run(
        [sys.executable, "-c", FAST_HELP_IMPORTS], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    modules = set(done.stdout.split()[-1000:])
    assert "Commands" in done.stdout  # the help was printed
    for heavy in ("exo.cli", "exo.runner", "exo._loop", "pydantic", "openai", "anthropic"):
        assert heavy not in modules
