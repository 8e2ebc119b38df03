"""exo run --durable and exo runs list / show / cancel / resume, as a user types them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

CLI = "from exo._cli_entry import main; main()"


def _exo(tmp_path: Path, *args: str) -> str:
    env = {**os.environ, "EXO_HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", CLI, *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_durable_cli_run_is_recorded_and_not_run_twice(tmp_path: Path) -> None:
    out = _exo(tmp_path, "run", "--model", "test:x", "--durable", "--run-id", "c-1", "say hi")
    assert (tmp_path / "durable.db").exists()
    shown = json.loads(_exo(tmp_path, "runs", "show", "c-1"))
    assert shown["status"] == "SUCCESS"
    assert shown["steps"] == ["model:researcher_planner", "model:researcher"]
    assert shown["output"] == out.strip()
    again = _exo(tmp_path, "run", "--model", "test:x", "--run-id", "c-1", "say hi")
    assert again == out
    assert json.loads(_exo(tmp_path, "runs", "show", "c-1"))["steps"] == shown["steps"]
    assert _exo(tmp_path, "runs", "list").splitlines() == ["c-1\tSUCCESS\tresearcher"]
    cancel = _exo(tmp_path, "runs", "cancel", "c-1").strip()
    assert cancel == "c-1 has already ended (SUCCESS): nothing to cancel"
    assert json.loads(_exo(tmp_path, "runs", "show", "c-1"))["status"] == "SUCCESS"
