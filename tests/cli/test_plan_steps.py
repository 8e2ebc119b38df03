"""``exo run`` with a structured plan: the panel lists the steps, ticks arrive live, and a
revised plan gets a panel of its own."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

from rich.console import Console
from typer.testing import CliRunner

from exo._cli_render import RunView
from exo.cli import app
from exo.types import PlanCompleteEvent, PlanResult, PlanStep, PlanStepEvent, ReplanEvent, Usage

STEPS_AGENT = """
from exo import Agent
from agent_tools import search

agent = Agent(
    name="tester",
    model="test:exec",
    tools=[search],
    planning_enabled=True,
    planning_format="steps",
    replan_on=True,
)
"""


def test_run_shows_the_steps_and_ticks_them(cli: CliRunner, agent_dir: Path) -> None:
    (agent_dir / "steps.py").write_text(textwrap.dedent(STEPS_AGENT))
    result = cli.invoke(app, ["run", f"{agent_dir}/steps.py", "Compare React vs Svelte"])
    assert result.exit_code == 0, result.output
    err = result.stderr
    # The test model plans one step, then (as it calls every tool once) ticks todo 1 and
    # asks for a revised plan.
    assert "│ ☐ 1. example" in err
    assert "✓ step 1/1: example" in err
    assert "Revised plan · request (1)" in err
    assert "│ ☐ 3. example" in err  # todo 2 is the one the model added itself
    order = [err.index(s) for s in ("☐ 1. example", "→ complete_todo", "✓ step 1/1", "Revised")]
    assert order == sorted(order)


def _view() -> tuple[RunView, io.StringIO]:
    buffer = io.StringIO()
    err = Console(file=buffer, width=60, force_terminal=False, color_system=None)
    out = Console(file=io.StringIO(), width=60, force_terminal=False)
    return RunView(out, err, model="test:x"), buffer


def test_the_panel_counts_ticks_across_a_replan() -> None:
    view, buffer = _view()
    steps = (
        PlanStep(title="Fetch the rate", done_when="the rate is known", todo=1),
        PlanStep(title="Convert", todo=2),
    )
    plan = PlanResult(text="...", model="test:p", usage=Usage(), checklist=steps)
    view.handle(PlanCompleteEvent(agent_name="a", plan=plan))
    done = PlanStep(title="Fetch the rate", status="done", todo=1)
    view.handle(PlanStepEvent(agent_name="a", index=1, step=done))
    fresh = (PlanStep(title="Use the cached rate", todo=3), PlanStep(title="Convert", todo=4))
    view.handle(
        ReplanEvent(
            agent_name="a", number=1, trigger="step_budget", reason="stuck", plan="...", steps=fresh
        )
    )
    view.handle(PlanStepEvent(agent_name="a", index=3, step=fresh[0]))
    view.close()
    lines = [ln.rstrip() for ln in buffer.getvalue().splitlines()]
    assert lines[:5] == [
        "╭─ Plan · test:p ───────────────────╮",
        "│ ☐ 1. Fetch the rate               │",
        "│      done when: the rate is known │",
        "│ ☐ 2. Convert                      │",
        "╰──────────────────────── 0 tokens ─╯",
    ]
    assert lines[5] == "✓ step 1/2: Fetch the rate"
    assert lines[6].startswith("╭─ Revised plan · step budget (1)")
    assert "│ ☐ 3. Use the cached rate" in "\n".join(lines[7:])
    assert lines[-1] == "✓ step 2/3: Use the cached rate"  # 1 done + 2 revised steps
