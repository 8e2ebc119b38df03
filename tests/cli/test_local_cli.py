"""``exo run "task"`` with no agent: the default researcher on the embedded model, for real."""

from __future__ import annotations

import importlib.util
import json
import os

import pytest
from typer.testing import CliRunner

from exo.cli import app


@pytest.fixture
def llama() -> None:
    if importlib.util.find_spec("llama_cpp") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("llama-cpp-python must be installed in CI: pip install 'exo-agents[local]'")
        pytest.skip("llama-cpp-python is not installed")


@pytest.mark.local_model
def test_default_agent_plans_and_answers_offline(cli: CliRunner, llama: None) -> None:
    shown = cli.invoke(app, ["run", "Compare React vs Svelte for a new project"])
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.strip()
    assert "Plan · local:gemma-3-270m" in shown.stderr
    assert "tokens: plan " in shown.stderr

    result = cli.invoke(app, ["run", "Plan a weekend trip to Paris", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    plan_lines = data["plan"]["text"].splitlines()
    assert plan_lines[0].startswith("1.")
    assert data["output"].strip()
    assert data["usage_by_phase"]["plan"]["output_tokens"] > 0
    assert data["usage_by_phase"]["execute"]["output_tokens"] > 0
    assert data["usage"]["requests"] == 2


@pytest.mark.local_model
def test_the_readme_first_command_runs_the_researcher_example(llama: None) -> None:
    """The README's first command (after its install step), as a person runs it."""
    import re
    import shlex
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text(encoding="utf-8")
    first = re.search(r"```bash\n(.*?)\n```", readme, re.S)
    assert first is not None
    command = first.group(1).split("&&")[-1].strip()  # the `exo run ...` part
    words = shlex.split(command)
    assert words[0].endswith("exo") and words[1:3] == ["run", "examples/researcher.py"]
    done = subprocess.run(
        [sys.executable, "-c", "from exo.cli import main; main()", *words[1:]],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "100"},
    )
    assert done.returncode == 0, done.stderr
    assert "Plan · local:gemma-3-270m" in done.stderr
    assert "tokens: plan " in done.stderr
    assert done.stdout.strip()  # the executor's answer
