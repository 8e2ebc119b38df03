"""How ``exo`` finds its agent: file and module references, factories, YAML and TOML files."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from exo.cli import app
from exo.models import unregister_provider


def _run_json(cli: CliRunner, *args: str) -> dict[str, object]:
    result = cli.invoke(app, ["run", *args, "--no-plan", "--json"])
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.stdout)
    return data


def test_file_reference_defaults_to_the_agent_attribute(cli: CliRunner, agent_dir: Path) -> None:
    assert _run_json(cli, str(agent_dir / "agent.py"), "t")["agent_name"] == "tester"


def test_factory_functions_are_called(cli: CliRunner, agent_dir: Path) -> None:
    assert _run_json(cli, f"{agent_dir}/agent.py:make_agent", "t")["agent_name"] == "made"


def test_module_reference_imports_from_the_current_directory(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "mypkg_cli_test"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "agents.py").write_text(
        "from exo import Agent\nwriter = Agent(name='writer', model='test:w')\n"
    )
    monkeypatch.chdir(tmp_path)
    assert _run_json(cli, "mypkg_cli_test.agents:writer", "t")["agent_name"] == "writer"


def test_yaml_agent_file_with_tool_import_paths(cli: CliRunner, agent_dir: Path) -> None:
    path = agent_dir / "helper.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            name: helper
            model: test:yaml
            instructions: Help briefly.
            planning_enabled: true
            planning_instructions: Plan first.
            max_steps: 5
            tools:
              - agent_tools.py:search
            """
        )
    )
    result = cli.invoke(app, ["run", str(path), "Find docs", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["agent_name"] == "helper"
    assert data["model"] == "test:yaml"
    assert data["messages"][0]["content"] == "Help briefly."
    assert data["plan"]["text"].startswith("1. Understand the task: Find docs")
    assert [m["tool_name"] for m in data["messages"] if m["role"] == "tool"] == ["search"]


def test_toml_agent_file_takes_its_name_from_the_file(cli: CliRunner, agent_dir: Path) -> None:
    path = agent_dir / "scout.toml"
    path.write_text('model = "test:toml"\ntools = ["agent_tools:search"]\n')
    data = _run_json(cli, str(path), "t")
    assert data["agent_name"] == "scout"
    assert data["model"] == "test:toml"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("model: test:x\ncolour: blue\n", "unknown keys: colour"),
        ("model: test:x\ntools: agent_tools.py:search\n", "tools must be a list"),
        ("model: test:x\ntools: [agent_tools.py:nothing]\n", "has no 'nothing'"),
        ("model: test:x\ntools: [just_a_name]\n", "is not of the form 'module:name'"),
        ("- a\n- b\n", "must hold a mapping"),
        ("model: [unclosed\n", "cannot parse agent file"),
        ("model: gpt4\n", "is not of the form 'backend:model'"),
    ],
)
def test_bad_agent_files_are_usage_errors(
    cli: CliRunner, agent_dir: Path, content: str, message: str
) -> None:
    path = agent_dir / "bad.yaml"
    path.write_text(content)
    result = cli.invoke(app, ["run", str(path), "t"])
    assert result.exit_code == 2, result.output
    assert message in result.stderr


ANSWER_PY = """
from pydantic import BaseModel


class Answer(BaseModel):
    title: str
    score: int
"""


def test_an_agent_file_names_its_output_type_and_json_prints_it(
    cli: CliRunner, agent_dir: Path
) -> None:
    (agent_dir / "answer_types.py").write_text(ANSWER_PY)
    path = agent_dir / "typed.yaml"
    path.write_text("model: test:typed\noutput_type: answer_types.py:Answer\n")
    data = _run_json(cli, str(path), "Rate it")
    assert data["output"] == {"title": "example", "score": 1}
    toml = agent_dir / "typed.toml"
    toml.write_text('model = "test:typed"\noutput_type = "answer_types:Answer"\n')
    assert _run_json(cli, str(toml), "Rate it")["output"] == {"title": "example", "score": 1}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("Answer", "output_type must be an import path like 'mypkg.models:Answer'"),
        ("answer_types.py:Nope", "has no 'Nope'"),
        ("answer_types.py:not_a_type", "is not a type exo can ask a model for"),
    ],
)
def test_a_bad_output_type_in_an_agent_file_is_a_config_error(
    cli: CliRunner, agent_dir: Path, value: str, message: str
) -> None:
    (agent_dir / "answer_types.py").write_text(ANSWER_PY + "\nnot_a_type = 3\n")
    path = agent_dir / "typed.yaml"
    path.write_text(f"model: test:typed\noutput_type: {value}\n")
    result = cli.invoke(app, ["run", str(path), "t", "--json"])
    assert result.exit_code == 2
    assert message in result.output


def test_exo_run_prints_a_typed_answer_given_in_tool_mode(cli: CliRunner, agent_dir: Path) -> None:
    (agent_dir / "answer_types.py").write_text(ANSWER_PY)
    (agent_dir / "tool_agent.py").write_text(
        "from exo import Agent\n"
        "from exo.testing import ScriptedModel, call\n"
        "from exo.models import register_provider\n"
        "from answer_types import Answer\n"
        "register_provider('scripted', lambda m: ScriptedModel("
        "[call('final_result', {'title': 'T', 'score': 9})]))\n"
        "agent = Agent(name='t', model='scripted:x', output_type=Answer)\n"
    )
    try:
        result = cli.invoke(app, ["run", str(agent_dir / "tool_agent.py"), "go", "--no-plan"])
    finally:
        unregister_provider("scripted")
    assert result.exit_code == 0, result.output
    assert '{"title":"T","score":9}' in result.stdout
