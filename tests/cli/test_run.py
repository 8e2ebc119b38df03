"""``exo run``: what it shows, what --json prints, and its exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from exo.cli import app


def test_run_shows_plan_tool_calls_answer_and_usage(cli: CliRunner, agent_dir: Path) -> None:
    result = cli.invoke(app, ["run", f"{agent_dir}/agent.py", "Compare React vs Svelte"])
    assert result.exit_code == 0, result.output
    # The answer alone is on stdout: the test model's numbered summary of task and tool results.
    assert result.stdout.splitlines() == [
        "1. Understand the task: Compare React vs Svelte",
        "2. Use search: results for example",
        "3. Report the answer.",
    ]
    err = result.stderr
    assert "Plan · test:exec" in err
    assert "│ 1. Understand the task: Compare React vs Svelte" in err
    assert "→ search(query='example')" in err
    assert "← search: results for example" in err
    assert err.index("Plan · test:exec") < err.index("→ search") < err.index("tokens: plan")


def test_usage_line_matches_the_result(cli: CliRunner, agent_dir: Path) -> None:
    args = ["run", f"{agent_dir}/agent.py", "Compare React vs Svelte"]
    shown = cli.invoke(app, args)
    data = json.loads(cli.invoke(app, [*args, "--json"]).stdout)
    phases = data["usage_by_phase"]
    plan = phases["plan"]["input_tokens"] + phases["plan"]["output_tokens"]
    execute = phases["execute"]["input_tokens"] + phases["execute"]["output_tokens"]
    usage = data["usage"]
    assert plan > 0
    assert execute > 0
    assert (
        f"tokens: plan {plan} · execute {execute} · total {usage['total_tokens']} "
        f"({usage['input_tokens']} in, {usage['output_tokens']} out; {usage['requests']} requests,"
    ) in shown.stderr


def test_json_prints_the_result_only(cli: CliRunner, agent_dir: Path) -> None:
    result = cli.invoke(app, ["run", f"{agent_dir}/agent.py", "Compare React vs Svelte", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["agent_name"] == "tester"
    assert data["model"] == "test:exec"
    assert data["output"].startswith("1. Understand the task: Compare React vs Svelte")
    assert data["plan"]["model"] == "test:exec"
    assert data["plan"]["text"].startswith("1. Understand the task")
    assert data["usage"]["total_tokens"] == (
        data["usage"]["input_tokens"] + data["usage"]["output_tokens"]
    )
    assert set(data["usage_by_phase"]) == {"plan", "execute", "children"}
    assert [m["role"] for m in data["messages"]] == [
        "system",
        "user",
        "assistant",
        "tool",
        "assistant",
    ]
    assert result.stderr == ""


def test_options_override_the_agent(cli: CliRunner, agent_dir: Path) -> None:
    result = cli.invoke(
        app,
        [
            "run",
            f"{agent_dir}/agent.py",
            "Do it",
            "--no-plan",
            "--model",
            "test:other",
            "--instructions",
            "Answer in French.",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["plan"] is None
    assert data["model"] == "test:other"
    assert data["messages"][0] == {"role": "system", "content": "Answer in French."}
    assert data["usage_by_phase"]["plan"]["requests"] == 0


def test_planning_model_option(cli: CliRunner, agent_dir: Path) -> None:
    result = cli.invoke(
        app, ["run", f"{agent_dir}/agent.py", "Do it", "--planning-model", "test:cheap", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["plan"]["model"] == "test:cheap"


def test_no_agent_uses_the_default_planning_researcher(cli: CliRunner) -> None:
    result = cli.invoke(app, ["run", "Name three rivers", "--model", "test:x", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["agent_name"] == "researcher"
    assert data["plan"]["model"] == "test:x"
    assert "research assistant" in data["messages"][0]["content"]


def test_task_from_stdin(cli: CliRunner, agent_dir: Path) -> None:
    result = cli.invoke(
        app, ["run", f"{agent_dir}/agent.py", "-", "--no-plan", "--json"], input="Piped task\n"
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["output"].startswith("1. Understand the task: Piped task")


def test_without_plan_no_panel_is_shown(cli: CliRunner, agent_dir: Path) -> None:
    result = cli.invoke(app, ["run", f"{agent_dir}/agent.py", "Do it", "--no-plan"])
    assert result.exit_code == 0, result.output
    assert "Plan ·" not in result.stderr
    assert "tokens: execute" in result.stderr


# --------------------------------------------------------------------------- exit codes


def test_missing_agent_file_is_a_usage_error(cli: CliRunner, tmp_path: Path) -> None:
    result = cli.invoke(app, ["run", f"{tmp_path}/nope.py", "task"])
    assert result.exit_code == 2
    assert "error: agent file" in result.stderr
    assert "nope.py' not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_agent_references_are_usage_errors(cli: CliRunner, agent_dir: Path) -> None:
    cases = {
        f"{agent_dir}/agent.py:missing": "has no attribute 'missing'",
        f"{agent_dir}/agent.py:not_an_agent": "is a int, not an exo.Agent",
        "no_such_module_xyz:agent": "cannot import 'no_such_module_xyz'",
        f"{agent_dir}/absent.yaml": "not found",
    }
    for reference, message in cases.items():
        result = cli.invoke(app, ["run", reference, "task"])
        assert result.exit_code == 2, (reference, result.output)
        assert message in result.stderr, (reference, result.stderr)


def test_unknown_backend_is_a_usage_error(cli: CliRunner) -> None:
    result = cli.invoke(app, ["run", "task", "--model", "nope:model"])
    assert result.exit_code == 2
    assert "unknown backend 'nope' in model 'nope:model'" in result.stderr
    assert "hint: known backends:" in result.stderr


def test_malformed_model_and_bad_options_are_usage_errors(cli: CliRunner) -> None:
    assert cli.invoke(app, ["run", "task", "--model", "gpt4"]).exit_code == 2
    assert cli.invoke(app, ["run", "task", "--max-steps", "0"]).exit_code == 2
    assert cli.invoke(app, ["run", "task", "--bogus"]).exit_code == 2
    assert cli.invoke(app, ["run", "a", "b", "c"]).exit_code == 2
    assert cli.invoke(app, ["run", "   "]).exit_code == 2


def test_model_error_exits_3(cli: CliRunner, broken_file: Path) -> None:
    result = cli.invoke(app, ["run", str(broken_file), "task"])
    assert result.exit_code == 3, result.output
    assert "error: broken:x (HTTP 500): upstream exploded" in result.stderr
    assert "Traceback" not in result.stderr


def test_model_error_in_the_planner_exits_3(cli: CliRunner, broken_file: Path) -> None:
    result = cli.invoke(
        app, ["run", str(broken_file), "task", "--model", "test:x", "--planning-model", "broken:x"]
    )
    assert result.exit_code == 3, result.output
    assert "planning phase" in result.stderr


def test_max_steps_exceeded_exits_4(cli: CliRunner, agent_dir: Path) -> None:
    # The test model calls the tool first, so one step cannot reach an answer.
    result = cli.invoke(
        app, ["run", f"{agent_dir}/agent.py", "task", "--no-plan", "--max-steps", "1"]
    )
    assert result.exit_code == 4, result.output
    assert "→ search" in result.stderr
    assert "error:" in result.stderr


def test_other_failures_exit_1_and_debug_shows_the_traceback(
    cli: CliRunner, broken_file: Path
) -> None:
    result = cli.invoke(app, ["run", f"{broken_file}:crashing", "task"])
    assert result.exit_code == 1, result.output
    assert "error: RuntimeError: instructions went wrong" in result.stderr
    assert "--debug" in result.stderr
    assert "Traceback" not in result.stderr
    debug = cli.invoke(app, ["run", f"{broken_file}:crashing", "task", "--debug"])
    assert debug.exit_code == 1
    assert "Traceback" in debug.stderr
    assert "explode" in debug.stderr


# --------------------------------------------------------------------------- a newcomer's slips


def test_an_agent_file_without_a_task_says_the_task_is_missing(
    cli: CliRunner, agent_dir: Path
) -> None:
    (agent_dir / "helper.yaml").write_text("model: test:yaml\n")
    for reference in ("agent.py", "agent.py:make_agent", "helper.yaml"):
        result = cli.invoke(app, ["run", f"{agent_dir}/{reference}"])
        assert result.exit_code == 2, (reference, result.output)
        assert f"error: the task is missing: '{agent_dir}/{reference}' is an agent file" in (
            " ".join(result.stderr.split())
        )
        assert result.stdout == ""  # nothing ran
    # A task that merely looks like a path is still a task.
    ran = cli.invoke(app, ["run", "notes/todo.py", "--model", "test:x", "--no-plan", "--json"])
    assert ran.exit_code == 0, ran.output
    assert json.loads(ran.stdout)["output"].startswith("1. Understand the task: notes/todo.py")


def test_an_agent_file_calling_sys_exit_is_named_and_exits_2(
    cli: CliRunner, tmp_path: Path
) -> None:
    script = tmp_path / "script.py"
    script.write_text("import sys\n\nsys.exit(7)\n")
    result = cli.invoke(app, ["run", str(script), "task"])
    assert result.exit_code == 2, result.output
    message = " ".join(result.stderr.split())
    assert f"error: agent file '{script}' raised SystemExit(7) while being loaded" in message
    assert "if __name__ == '__main__':" in message


def test_planning_on_error_skip_runs_unplanned(cli: CliRunner, broken_file: Path) -> None:
    args = ["run", str(broken_file), "task", "--model", "test:x", "--planning-model", "broken:x"]
    failed = cli.invoke(app, args)
    assert failed.exit_code == 3
    hint = " ".join(failed.stderr.split())
    assert "hint: fix the cause, or pass --planning-on-error skip to run unplanned" in hint
    assert "planning_on_error=" not in hint
    skipped = cli.invoke(app, [*args, "--planning-on-error", "skip"])
    assert skipped.exit_code == 0, skipped.output
    assert "⚠ planning skipped:" in skipped.stderr
    assert skipped.stdout.startswith("1. Understand the task: task")
    assert cli.invoke(app, [*args, "--planning-on-error", "never"]).exit_code == 2


def test_the_no_key_hint_names_the_environment_variable(cli: CliRunner) -> None:
    pytest.importorskip("openai")
    result = cli.invoke(app, ["run", "task", "--model", "openai:gpt-4o-mini", "--no-plan"])
    assert result.exit_code == 3, result.output
    message = " ".join(result.stderr.split())
    assert "no API key: set the OPENAI_API_KEY environment variable" in message
    assert "hint: export OPENAI_API_KEY=<your key>" in message
    assert "api_key=" not in message  # a keyword argument means nothing at the terminal


def test_json_usage_has_total_tokens_everywhere(cli: CliRunner, agent_dir: Path) -> None:
    result = cli.invoke(app, ["run", f"{agent_dir}/agent.py", "Do it", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    usages = [data["usage"], data["execute_usage"], data["plan"]["usage"]]
    usages += data["usage_by_phase"].values()
    for usage in usages:
        assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert data["plan"]["usage"]["total_tokens"] > 0
    assert data["usage_by_phase"]["plan"] == data["plan"]["usage"]


def test_an_agent_module_calling_sys_exit_is_named(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "exiting_agents.py").write_text("raise SystemExit(7)\n")
    monkeypatch.chdir(tmp_path)
    result = cli.invoke(app, ["run", "exiting_agents:agent", "task"])
    assert result.exit_code == 2, result.output
    message = " ".join(result.stderr.split())
    assert "error: module 'exiting_agents' raised SystemExit(7) while being loaded" in message
