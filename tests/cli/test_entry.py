"""The installed ``exo`` script without the ``[cli]`` extra: one line saying what to install."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

# Run the real console-script entry point with typer hidden, as on a bare
# `pip install exo-agents` (a venv without the extra would cost an install per test run).
HIDE_TYPER_AND_RUN_EXO = """
import sys
from importlib.abc import MetaPathFinder
from importlib.metadata import entry_points


class NoTyper(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "typer" or name.startswith("typer."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, NoTyper())
for name in [m for m in sys.modules if m == "typer" or m.startswith("typer.")]:
    del sys.modules[name]
(script,) = entry_points(group="console_scripts", name="exo")
sys.argv = ["exo", "run", "hello"]
script.load()()
"""


def test_the_exo_script_is_declared_on_the_entry_module() -> None:
    (script,) = entry_points(group="console_scripts", name="exo")
    assert script.value == "exo._cli_entry:main"


def test_without_the_cli_extra_exo_says_which_extra_to_install() -> None:
    done = subprocess.run(
        [sys.executable, "-c", HIDE_TYPER_AND_RUN_EXO],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        "exo: the command line needs the [cli] extra (typer is not installed): "
        "pip install 'exo-agents[cli]'"
    ]
    assert done.stdout == ""
