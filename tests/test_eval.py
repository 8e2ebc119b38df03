"""``exo eval`` (docs/planning.md, "Does planning pay?"): suite, harness, statistics, output."""

from __future__ import annotations

import json
import math
import signal
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from exo import Agent, ConfigError
from exo.cli import app
from exo.eval import (
    Suite,
    Task,
    default_variants,
    format_table,
    load_suite,
    reference_model,
    run_eval,
    summarize,
    to_json,
)
from exo.eval.plot import plot
from exo.eval.stats import mean_interval, wilson
from exo.eval.suite import answer_of, file_lines, says
from exo.eval.suites.basic import SUITE

AGENT = Agent(name="evaluator", model="test:m", max_steps=20)


def test_the_basic_suite_has_30_or_more_distinct_tasks() -> None:
    assert load_suite("basic") is SUITE
    assert load_suite("exo.eval.suites.basic:SUITE") is SUITE
    assert len(SUITE.tasks) >= 30
    assert len({t.prompt for t in SUITE.tasks}) == len(SUITE.tasks)
    assert all(t.reference for t in SUITE.tasks)  # every task needs tools


def test_loading_errors_are_config_errors(tmp_path: Path) -> None:
    for ref in ("no_such_suite", str(tmp_path / "missing.py"), "exo.eval.suite:SUITE"):
        with pytest.raises(ConfigError):
            load_suite(ref)
    own = tmp_path / "mine.py"
    own.write_text("from exo.eval.suites.basic import SUITE as MINE\n")
    assert load_suite(f"{own}:MINE") is SUITE


async def test_the_reference_solves_everything_and_a_clueless_model_nothing() -> None:
    names = ["off", "planning", "plan-cache", "steps", "replan"]
    good = await run_eval(SUITE, AGENT, variants=names, repeats=2, provider=reference_model(SUITE))
    failed = [t.task for t in good.trials if not t.success]
    assert failed == []
    bad = await run_eval(
        SUITE, AGENT, variants=names, repeats=1, provider=reference_model(SUITE, solve=False)
    )
    assert [s.successes for s in summarize(bad)] == [0, 0, 0, 0, 0]
    rates = {v["name"]: v["success_rate"]["value"] for v in to_json(good)["variants"]}
    assert rates == {"off": 1.0, "planning": 1.0, "plan-cache": 1.0, "steps": 1.0, "replan": 1.0}
    by_name = {s.name: s for s in summarize(good)}
    # The second repeat of each task reuses the first one's plan, with one model call less.
    assert by_name["plan-cache"].plan_cache_hits == len(SUITE.tasks)
    assert by_name["planning"].plan_cache_hits == 0
    calls = {v: sum(t.model_calls or 0 for t in good.trials if t.variant == v) for v in names}
    assert calls["planning"] - calls["off"] == 2 * len(SUITE.tasks)
    assert calls["planning"] - calls["plan-cache"] == len(SUITE.tasks)


async def test_checks_fail_wrong_or_partial_work(tmp_path: Path) -> None:
    assert says("182000")("The population is 182,000.", tmp_path)
    assert not says("182000")("About 1820001 people.", tmp_path)
    assert says("Avalon", wrong=["Dunmere"])("thinking Dunmere... ANSWER: Avalon", tmp_path)
    assert not says("Avalon", wrong=["Dunmere"])("ANSWER: Avalon or Dunmere", tmp_path)
    assert answer_of("x\nANSWER: 7") == " 7"
    check = file_lines("out.txt", ["a", "b"])
    assert not check("", tmp_path)
    (tmp_path / "out.txt").write_text("b\na\n")
    assert not check("", tmp_path)
    (tmp_path / "out.txt").write_text("a\nb\n\n")
    assert check("", tmp_path)


async def test_a_variant_of_a_missing_agent_field_is_skipped_with_a_note() -> None:
    known: dict[str, dict[str, Any]] = {
        **default_variants(),
        "steps": {"planning_enabled": True, "no_such_field": "steps"},
    }
    measured = await run_eval(
        SUITE,
        AGENT,
        variants=["off", "steps"],
        known_variants=known,
        repeats=1,
        provider=reference_model(SUITE),
    )
    assert list(measured.variants) == ["off"]
    assert "no_such_field" in measured.skipped["steps"]
    assert to_json(measured)["skipped_variants"][0]["name"] == "steps"
    with pytest.raises(ConfigError):
        await run_eval(SUITE, AGENT, variants=["nope"], repeats=1)


def test_wilson_matches_known_intervals() -> None:
    for (k, n), (low, high) in {
        (0, 10): (0.0, 0.2775),
        (5, 10): (0.2366, 0.7634),
        (10, 10): (0.7225, 1.0),
        (81, 263): (0.2553, 0.3662),
    }.items():
        e = wilson(k, n)
        assert e.value == k / n
        assert (round(e.low or 0, 4), round(e.high or 0, 4)) == (low, high)
    with pytest.raises(ValueError):
        wilson(3, 2)


def test_mean_interval_is_a_t_interval() -> None:
    e = mean_interval([1.0, 2.0, 3.0])
    assert e.value == 2.0
    assert e.low is not None and e.high is not None
    assert math.isclose(e.high - 2.0, 4.303 / math.sqrt(3), rel_tol=1e-9)
    assert mean_interval([5.0]).low is None
    with pytest.raises(ValueError):
        mean_interval([])


async def _measured() -> Any:
    return await run_eval(
        SUITE, AGENT, variants=["off", "planning"], repeats=1, provider=reference_model(SUITE)
    )


async def test_json_shape_and_table() -> None:
    measured = await _measured()
    data = json.loads(json.dumps(to_json(measured)))
    assert set(data) == {
        "suite", "model", "planning_model", "repeats", "tasks", "created_at", "variants",
        "skipped_variants", "interrupted", "trials",
    }  # fmt: skip
    assert data["tasks"] == len(SUITE.tasks) and data["repeats"] == 1
    off = data["variants"][0]
    assert off["name"] == "off" and off["overrides"] == {"planning_enabled": False}
    assert off["successes"] == off["trials"] == len(SUITE.tasks)
    assert set(off["tokens"]) == {"value", "low", "high"} and off["cost_usd"]["value"] == 0.0
    assert len(data["trials"]) == 2 * len(SUITE.tasks)
    assert set(data["trials"][0]) >= {"variant", "task", "success", "tokens", "seconds", "steps"}
    table = format_table(summarize(measured)).splitlines()
    assert table[0].startswith("| variant | success |")
    n = len(SUITE.tasks)
    assert table[2].startswith(f"| off | {n}/{n} = 100% [")
    assert table[3].startswith(f"| planning | {n}/{n} = 100% [")


async def test_the_plot_is_a_png_of_sensible_size(tmp_path: Path) -> None:
    out = plot(summarize(await _measured()), tmp_path / "deep" / "eval.png", title="t")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (770, 495)  # 7 x 4.5 inches at 110 dpi
    assert 10_000 < len(data) < 500_000


def test_the_command_runs_a_suite_and_writes_json_and_png(tmp_path: Path) -> None:
    # The test model calls every tool once with sample arguments: it runs, and fails.
    result = CliRunner().invoke(
        app,
        [
            "eval", "basic", "--model", "test:m", "--repeats", "1", "--variants", "off,planning",
            "--json", str(tmp_path / "r.json"), "--plot", str(tmp_path / "r.png"),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "| off | 0/" in result.output and "| planning | 0/" in result.output
    data = json.loads((tmp_path / "r.json").read_text())
    assert [v["name"] for v in data["variants"]] == ["off", "planning"]
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"
    table = [line for line in result.stdout.splitlines() if line.startswith("|")]
    again = CliRunner().invoke(
        app,
        ["eval", "basic", "--load", str(tmp_path / "r.json"), "--plot", str(tmp_path / "b.png")],
    )
    assert again.exit_code == 0, again.output
    assert [line for line in again.stdout.splitlines() if line.startswith("|")] == table
    assert (tmp_path / "b.png").read_bytes()[:4] == b"\x89PNG"
    bad = CliRunner().invoke(app, ["eval", "basic", "--variants", "nope", "--model", "test:m"])
    assert bad.exit_code == 2


def test_the_file_tools_stay_inside_the_workspace(tmp_path: Path) -> None:
    tools = {t.__name__: t for t in SUITE.tools(tmp_path)}  # type: ignore[union-attr]
    assert tools["write_file"]("a.txt", "x") == "wrote 1 characters to a.txt"
    assert tools["list_files"]() == "a.txt"
    with pytest.raises(ValueError, match="outside the workspace"):
        tools["read_file"]("../escape.txt")
    assert tools["divide"](1, 0) == "cannot divide by zero"
    assert tools["multiply"](52, 4.0) == 208 and tools["divide"](1, 8) == 0.125


def _odd_check(output: str, workdir: Path) -> bool:
    raise FileNotFoundError(workdir / "answer.txt")


def _tools(workdir: Path) -> list[Any]:
    if (workdir / "poison").exists():
        raise RuntimeError("this workspace cannot be set up")
    return []


ODD = Suite(
    name="odd",
    description="tasks whose own code fails",
    instructions="Answer.",
    tasks=(
        Task(id="raising-check", prompt="Say hi.", check=_odd_check),
        Task(id="nested-file", prompt="Say hi.", check=says("hi"), files={"a/b/c.txt": "x"}),
        Task(id="bad-setup", prompt="Say hi.", check=says("hi"), files={"poison": ""}),
    ),
    tools=_tools,
)


async def test_a_suites_own_failures_fail_their_trials_not_the_eval() -> None:
    measured = await run_eval(ODD, AGENT, variants=["off"], repeats=1, provider=_says_hi())
    by_task = {t.task: t for t in measured.trials}
    assert not by_task["raising-check"].success
    assert str(by_task["raising-check"].error).startswith(
        "the task's check raised FileNotFoundError: "
    )
    assert by_task["nested-file"].success and by_task["nested-file"].error is None
    assert not by_task["bad-setup"].success
    assert by_task["bad-setup"].error == (
        "setting the task up failed: RuntimeError: this workspace cannot be set up"
    )
    assert by_task["bad-setup"].tokens is None  # no run was made


async def test_cost_is_reported_for_priced_runs_and_0_on_test_models() -> None:
    measured = await run_eval(ODD, AGENT, variants=["off"], repeats=1, provider=_says_hi())
    ran = [t for t in measured.trials if t.tokens is not None]
    assert ran and all(t.cost == 0.0 for t in ran)  # result.cost.total is Decimal("0")
    assert to_json(measured)["variants"][0]["cost_usd"]["value"] == 0.0


def _says_hi() -> Any:
    from exo.testing import FunctionModel

    return FunctionModel(lambda messages, info: "hi")


def test_ctrl_c_reports_and_writes_the_trials_done(tmp_path: Path) -> None:
    # A real SIGINT to a real `exo eval`: the third trial's tool waits to be interrupted.
    marker = tmp_path / "third-started"
    (tmp_path / "slow_suite.py").write_text(
        textwrap.dedent(f"""
        import asyncio
        from pathlib import Path
        from exo.eval import Suite, Task
        from exo.eval.suite import says

        async def wait() -> str:
            "Wait."
            Path({str(marker)!r}).write_text("started")
            await asyncio.sleep(600)
            return "late"

        def tools(workdir):
            return [wait] if (workdir / "slow").exists() else []

        SUITE = Suite(
            name="slow", description="", instructions="Answer.",
            tasks=tuple(
                Task(id=f"t{{i}}", prompt="Say hi.", check=says("hi"),
                     files={{"slow": ""}} if i == 2 else {{}})
                for i in range(4)
            ),
            tools=tools,
        )
        """)
    )
    out = tmp_path / "r.json"
    entry = "from exo._cli_entry import main; main()"
    command = [sys.executable, "-c", entry, "eval", str(tmp_path / "slow_suite.py")]
    command += ["--model", "test:m", "--repeats", "1", "--variants", "off", "--json", str(out)]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(1200):  # up to a minute on a busy machine
            if marker.exists() or child.poll() is not None:
                break
            time.sleep(0.05)
        assert marker.exists(), child.communicate()[1]
        child.send_signal(signal.SIGINT)
        stdout, stderr = child.communicate(timeout=60)
    finally:
        child.kill()
    assert child.returncode == 130, stderr
    assert "interrupted: reporting the 2 trials done" in stderr
    assert "(interrupted after 2 trials)" in stdout
    data = json.loads(out.read_text())
    assert data["interrupted"] is True and [t["task"] for t in data["trials"]] == ["t0", "t1"]
