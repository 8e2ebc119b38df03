"""The ``console`` examples of docs/cli.md and docs/local-model.md run, and print what they show.

In a ```console block (not marked ``no-run``), each ``$ exo …`` line runs from the repository
root; every line shown under it must appear, stripped, within a line it printed (stdout and
stderr), ignoring the timing in usage lines. A command whose shown output has no
``error:`` must exit 0.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from exo.cli import app

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "docs" / "cli.md", ROOT / "docs" / "local-model.md"]
BLOCK = re.compile(r"^```console([^\n]*)\n(.*?)^```", re.S | re.M)
TIMING = re.compile(r", \d+\.\d+s\)$")


def _examples() -> list[tuple[str, list[str]]]:
    examples: list[tuple[str, list[str]]] = []
    for page in PAGES:
        if not page.exists():
            continue
        for info, body in BLOCK.findall(page.read_text(encoding="utf-8")):
            if "no-run" in info:
                continue
            for chunk in re.split(r"^(?=\$ )", body, flags=re.M):
                if chunk.startswith("$ exo "):
                    command, *shown = chunk.rstrip("\n").splitlines()
                    examples.append((command[2:], shown))
    return examples


@pytest.mark.parametrize(("command", "shown"), _examples(), ids=lambda v: str(v)[:60])
def test_console_example(command: str, shown: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("EXO_MODEL", raising=False)
    args = shlex.split(command)[1:]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "80"})
    printed = [TIMING.sub("", line.rstrip()) for line in result.output.splitlines()]
    for line in shown:
        want = TIMING.sub("", line.strip())
        assert any(want in got for got in printed), (line, result.output)
    if not any(line.startswith("error:") for line in shown):
        assert result.exit_code == 0, result.output


def test_the_pages_have_runnable_examples() -> None:
    assert len(_examples()) >= 4
