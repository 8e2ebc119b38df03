"""``exo eval``: run a task suite with planning off and on, and report what planning bought.

exo eval basic --model openai:gpt-4o-mini --repeats 3 --json eval.json --plot eval.png
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from exo._cli_agents import DEFAULT_MODEL, check_backends, load_agent
from exo.agent import Agent
from exo.errors import ConfigError
from exo.eval.harness import DEFAULT_VARIANTS, EvalRun, Trial, new_eval, run_trials
from exo.eval.report import format_table, from_json, summarize, to_json
from exo.eval.suite import Suite, load_suite

__all__ = ["eval_command"]


def eval_command(
    suite: Annotated[
        str, typer.Argument(help="A shipped suite ('basic'), module[:attr] or file.py[:attr].")
    ],
    agent: Annotated[
        str | None,
        typer.Option(
            help="The agent (file.py[:attr], module[:attr], .yaml/.toml); its tools "
            "are replaced by the suite's. Default: a plain agent with the suite's "
            "instructions."
        ),
    ] = None,
    model: Annotated[
        str | None, typer.Option(help=f"The executor's model (default {DEFAULT_MODEL}).")
    ] = None,
    planning_model: Annotated[
        str | None, typer.Option(help="The planner's model (default: the executor's).")
    ] = None,
    repeats: Annotated[int, typer.Option(min=1, help="Runs per task and variant.")] = 3,
    variants: Annotated[
        str,
        typer.Option(
            help="Comma-separated variants: off, planning, plan-cache, and any "
            "the installed exo adds."
        ),
    ] = ",".join(DEFAULT_VARIANTS),
    max_steps: Annotated[int, typer.Option(min=1, help="Model calls per run.")] = 12,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the results (and every trial) here.")
    ] = None,
    plot_out: Annotated[
        Path | None, typer.Option("--plot", help="Write a PNG of success against cost here.")
    ] = None,
    load: Annotated[
        Path | None,
        typer.Option(help="Report (and --plot) an earlier --json file instead of running."),
    ] = None,
) -> None:
    """Run SUITE in each variant, each task --repeats times; print a table with 95% intervals."""
    from exo.cli import _console, _reporting  # the shared CLI's error reporting

    out, err = _console(), _console(stderr=True)
    with _reporting(err, False):
        loaded = load_suite(suite)
        if load is not None:
            measured = from_json(json.loads(load.read_text()))
        else:
            base = _eval_agent(agent, model, loaded, max_steps)
            names = [v.strip() for v in variants.split(",") if v.strip()]
            if not names:
                raise ConfigError("--variants names no variant", parameter="variants")
            measured = _run_with_progress(err, loaded, base, planning_model, names, repeats)
        for name, reason in measured.skipped.items():
            err.print(f"[yellow]skipped variant {name}:[/] {reason}")
        title = f"exo eval {loaded.name}: {measured.model}, {measured.repeats} runs per task"
        if measured.interrupted:
            title += f" (interrupted after {len(measured.trials)} trials)"
        out.print(f"\n{title}\n", markup=False, highlight=False, soft_wrap=True)
        out.print(format_table(summarize(measured)), markup=False, highlight=False, soft_wrap=True)
        if json_out is not None:
            json_out.parent.mkdir(parents=True, exist_ok=True)
            json_out.write_text(json.dumps(to_json(measured), indent=2) + "\n")
            err.print(f"wrote {json_out}")
        if plot_out is not None:
            from exo.eval.plot import plot

            plot(summarize(measured), plot_out, title=title)
            err.print(f"wrote {plot_out}")
    if measured.interrupted:
        raise typer.Exit(130)  # the shell's code for a run stopped by Ctrl-C


def _eval_agent(reference: str | None, model: str | None, suite: Suite, steps: int) -> Agent[Any]:
    if reference is not None:
        agent = load_agent(reference)
    else:
        agent = Agent(name="evaluator", model=DEFAULT_MODEL, instructions=suite.instructions)
    agent = agent.replace(max_steps=steps, **({"model": model} if model else {}))
    check_backends(agent)
    return agent


def _run_with_progress(
    err: Console,
    suite: Suite,
    agent: Agent[Any],
    planning_model: str | None,
    variants: list[str],
    repeats: int,
) -> EvalRun:
    wins: dict[str, int] = {}
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[status]}"),
    )
    with Progress(*columns, console=err, transient=False) as bar:
        job = bar.add_task(f"eval {suite.name}", total=None, status="")

        def progress(done: int, total: int, trial: Trial) -> None:
            wins[trial.variant] = wins.get(trial.variant, 0) + trial.success
            status = "  ".join(f"{k}: {v} passed" for k, v in wins.items())
            mark = "ok" if trial.success else "fail"
            bar.update(job, completed=done, total=total, status=f"{trial.task} {mark} | {status}")
            if not err.is_terminal:  # a log, not a live bar: one line per trial
                err.print(f"[{done}/{total}] {trial.variant} {trial.task} {mark}", markup=False)

        measured = new_eval(
            suite, agent, planning_model=planning_model, variants=variants, repeats=repeats
        )
        try:
            asyncio.run(run_trials(measured, suite, agent, progress=progress))
        except KeyboardInterrupt:  # report (and write) the trials done: they cost money
            measured.interrupted = True
            err.print(
                f"[yellow]interrupted:[/] reporting the {len(measured.trials)} trials done",
                highlight=False,
            )
        return measured
