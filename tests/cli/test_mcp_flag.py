"""``exo run --mcp`` and ``mcp:`` in agent files: an MCP server's tools join the agent's."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from exo._cli_agents import load_agent
from exo.cli import app
from exo.errors import ConfigError

pytest.importorskip("mcp", reason="needs the MCP SDK: pip install 'exo-agents[mcp]'")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "mcp_server.py"


def test_run_with_mcp_servers_calls_their_tools(cli: CliRunner, tmp_path: Path) -> None:
    agent = tmp_path / "agent.yaml"
    agent.write_text("name: t\nmodel: test:exec\n")
    result = cli.invoke(
        app,
        ["run", str(agent), "Count words", "--json", "--mcp", f"{sys.executable} {EXAMPLE}"],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    results = {m["tool_name"]: m["content"] for m in data["messages"] if m["role"] == "tool"}
    # the test model calls each tool once with sample arguments ("example", 1)
    assert results == {"word_count": "1 words", "add": '{"result": 2.0}', "shout": "EXAMPLE"}


def test_mcp_entries_in_an_agent_file(tmp_path: Path) -> None:
    (tmp_path / "server.py").write_text(EXAMPLE.read_text())
    path = tmp_path / "agent.toml"
    path.write_text(
        textwrap.dedent(
            f"""
            name = "t"
            model = "test:exec"
            mcp = [
                "{sys.executable} server.py",
                {{ command = "{sys.executable}", args = ["server.py"], prefix = "b" }},
                {{ url = "http://127.0.0.1:9/mcp", prefix = "web" }},
            ]
            """
        )
    )
    agent = load_agent(str(path))
    first, second, web = agent.toolsets
    assert first.cwd == second.cwd == tmp_path  # type: ignore[attr-defined]
    assert second.prefix == "b" and second.args == ["server.py"]  # type: ignore[attr-defined]
    assert web.url == "http://127.0.0.1:9/mcp"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('mcp = "python s.py"', "mcp must be a list of servers"),
        ("mcp = [{ args = [] }]", "needs 'command' or 'url'"),
        ('mcp = [{ command = "python", colour = "red" }]', "unknown keys: colour"),
        ('mcp = ["\\"unclosed"]', "cannot split the MCP command line"),
    ],
)
def test_malformed_mcp_entries_are_config_errors(tmp_path: Path, entry: str, message: str) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(f'name = "t"\nmodel = "test:exec"\n{entry}\n')
    with pytest.raises(ConfigError, match=message):
        load_agent(str(path))


def test_a_server_that_fails_to_start_is_a_usage_error(cli: CliRunner, tmp_path: Path) -> None:
    agent = tmp_path / "agent.yaml"
    agent.write_text("name: t\nmodel: test:exec\n")
    result = cli.invoke(app, ["run", str(agent), "task", "--mcp", "/nonexistent/server"])
    assert result.exit_code == 1
    assert "MCP server '/nonexistent/server' could not be connected" in result.stderr
