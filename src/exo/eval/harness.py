"""Run a suite: every task, in every variant, several times, each in a fresh workspace.

A *variant* is a name and a set of Agent-field overrides, e.g. ``{"planning_enabled": True}``.
A variant naming a field the Agent does not have (a feature of another exo version) is
skipped with a note instead of failing the eval, so new variants can be listed before the
fields they need exist.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from exo.agent import Agent
from exo.errors import ConfigError, ExoError
from exo.eval.suite import Suite, Task
from exo.models.base import Provider
from exo.plan_cache import InMemoryPlanCache
from exo.runner import run
from exo.types import RunResult

__all__ = [
    "DEFAULT_VARIANTS",
    "EvalRun",
    "Progress",
    "Trial",
    "default_variants",
    "new_eval",
    "run_eval",
    "run_trials",
]

DEFAULT_VARIANTS = ("off", "planning")
"""The variants ``exo eval`` runs unless told otherwise."""


def default_variants() -> dict[str, dict[str, Any]]:
    """Every known variant (fresh objects each call: one plan cache per eval)."""
    return {
        "off": {"planning_enabled": False},
        "planning": {"planning_enabled": True},
        "plan-cache": {"planning_enabled": True, "plan_cache": InMemoryPlanCache()},
        "steps": {"planning_enabled": True, "planning_format": "steps"},
        "replan": {"planning_enabled": True, "planning_format": "steps", "replan_on": True},
    }


@dataclass(frozen=True, slots=True, kw_only=True)
class Trial:
    """One run of one task in one variant."""

    variant: str
    task: str
    repeat: int
    success: bool
    tokens: int | None
    cost: float | None
    seconds: float
    steps: int | None
    model_calls: int | None
    plan_cached: bool = False
    error: str | None = None


@dataclass(slots=True, kw_only=True)
class EvalRun:
    """Everything an eval measured, and what it skipped."""

    suite: str
    model: str
    planning_model: str | None
    repeats: int
    tasks: int
    variants: dict[str, dict[str, Any]]
    trials: list[Trial] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    interrupted: bool = False
    """The eval was stopped (Ctrl-C) before every trial ran: ``trials`` holds those done."""


Progress = Callable[[int, int, Trial], None]
"""``progress(done, total, trial)``, called after every trial."""


def select_variants(
    names: Sequence[str], known: Mapping[str, Mapping[str, Any]] | None = None
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Split the chosen variants into those this exo can run and those skipped (with why).

    Raises:
        ConfigError: a name is not a known variant.
    """
    known = known if known is not None else default_variants()
    fields = {f.name for f in dataclasses.fields(Agent) if f.init}
    chosen: dict[str, dict[str, Any]] = {}
    skipped: dict[str, str] = {}
    for name in names:
        if name not in known:
            raise ConfigError(
                f"unknown eval variant {name!r}",
                parameter="variants",
                hint=f"choose from {', '.join(known)}",
            )
        missing = sorted(set(known[name]) - fields)
        if missing:
            skipped[name] = f"this exo's Agent has no field {', '.join(missing)}"
        else:
            chosen[name] = dict(known[name])
    return chosen, skipped


async def run_eval(
    suite: Suite,
    agent: Agent[Any],
    *,
    model: str | None = None,
    planning_model: str | None = None,
    variants: Sequence[str] = DEFAULT_VARIANTS,
    known_variants: Mapping[str, Mapping[str, Any]] | None = None,
    repeats: int = 3,
    provider: Provider | None = None,
    progress: Progress | None = None,
) -> EvalRun:
    """Run every task of ``suite`` ``repeats`` times in each variant, one after another.

    Args:
        suite: The tasks.
        agent: The base agent; its tools are replaced by the suite's, and its instructions
            default to the suite's when empty.
        model: Overrides the agent's model.
        planning_model: Overrides the agent's planning model.
        variants: Names of the variants to run (see :func:`default_variants`).
        known_variants: The variants to choose from (default :func:`default_variants`).
        repeats: Runs per task and variant.
        provider: A provider to use for every call (tests pass scripted models).
        progress: Called after each trial.
    """
    result = new_eval(
        suite,
        agent,
        model=model,
        planning_model=planning_model,
        variants=variants,
        known_variants=known_variants,
        repeats=repeats,
    )
    await run_trials(result, suite, agent, provider=provider, progress=progress)
    return result


def new_eval(
    suite: Suite,
    agent: Agent[Any],
    *,
    model: str | None = None,
    planning_model: str | None = None,
    variants: Sequence[str] = DEFAULT_VARIANTS,
    known_variants: Mapping[str, Mapping[str, Any]] | None = None,
    repeats: int = 3,
) -> EvalRun:
    """An eval with no trials yet (arguments as :func:`run_eval`'s); fill it with
    :func:`run_trials`. A caller that holds it keeps the trials done if the eval is stopped.

    Raises:
        ConfigError: ``repeats`` < 1 or an unknown variant.
    """
    if repeats < 1:
        raise ConfigError(f"repeats must be >= 1, got {repeats}", parameter="repeats")
    chosen, skipped = select_variants(variants, known_variants)
    base = _base_agent(suite, agent, model, planning_model)
    return EvalRun(
        suite=suite.name,
        model=base.model,
        planning_model=base.planning_model,
        repeats=repeats,
        tasks=len(suite.tasks),
        variants=chosen,
        skipped=skipped,
    )


async def run_trials(
    result: EvalRun,
    suite: Suite,
    agent: Agent[Any],
    *,
    provider: Provider | None = None,
    progress: Progress | None = None,
) -> None:
    """Run ``result``'s trials, appending each to ``result.trials`` as it ends."""
    base = _base_agent(suite, agent, result.model, result.planning_model)
    total = len(result.variants) * len(suite.tasks) * result.repeats
    for name, overrides in result.variants.items():
        variant = base.replace(**overrides)
        for repeat in range(result.repeats):
            for task in suite.tasks:
                trial = await run_trial(suite, task, variant, name, repeat, provider)
                result.trials.append(trial)
                if progress is not None:
                    progress(len(result.trials), total, trial)


def _base_agent(
    suite: Suite, agent: Agent[Any], model: str | None, planning_model: str | None
) -> Agent[Any]:
    changes: dict[str, Any] = {"tools": ()}
    if model:
        changes["model"] = model
    if planning_model:
        changes["planning_model"] = planning_model
    if not agent.instructions:
        changes["instructions"] = suite.instructions
    return agent.replace(**changes)


async def run_trial(
    suite: Suite,
    task: Task,
    agent: Agent[Any],
    variant: str,
    repeat: int,
    provider: Provider | None = None,
) -> Trial:
    """Run one task once in a fresh workspace and check the outcome."""
    with tempfile.TemporaryDirectory(prefix="exo-eval-") as tmp:
        workdir = Path(tmp)
        result: RunResult[Any] | None = None
        tools, error = _prepare(suite, task, workdir)
        started = time.perf_counter()
        if error is None:
            runner = agent.replace(tools=tools)
            try:
                result = await run(runner, task.prompt, provider=provider)
            except ExoError as exc:
                result = getattr(exc, "result", None)
                error = f"{type(exc).__name__}: {exc.message}"
        seconds = time.perf_counter() - started
        passed = False
        if error is None and result is not None:
            passed, error = _checked(task, result.text, workdir)
    return Trial(
        variant=variant,
        task=task.id,
        repeat=repeat,
        success=passed,
        tokens=result.usage.total_tokens if result is not None else None,
        cost=_cost(result),
        seconds=seconds,
        steps=result.steps if result is not None else None,
        model_calls=result.usage.requests if result is not None else None,
        plan_cached=bool(result is not None and result.plan is not None and result.plan.cached),
        error=error,
    )


def _prepare(suite: Suite, task: Task, workdir: Path) -> tuple[list[Any], str | None]:
    """Write the task's files (folders too) and make its tools: ``(tools, why it failed)``.

    A suite is the user's code: one task it cannot set up fails that trial, not the eval.
    """
    try:
        for name, text in task.files.items():
            path = workdir / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        return list(suite.tools(workdir)), None
    except Exception as exc:
        return [], f"setting the task up failed: {type(exc).__name__}: {exc}"


def _checked(task: Task, output: str, workdir: Path) -> tuple[bool, str | None]:
    """``(passed, error)``: a check that raises fails the trial and says why."""
    try:
        return bool(task.check(output, workdir)), None
    except Exception as exc:
        return False, f"the task's check raised {type(exc).__name__}: {exc}"


def _cost(result: RunResult[Any] | None) -> float | None:
    """The run's cost when this exo reports one (``result.cost``), else ``None``."""
    cost = getattr(result, "cost", None)
    value = getattr(cost, "total", cost)  # a cost object with .total, or a number
    # result.cost.total is a Decimal (exact dollars), which is not an int or a float
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    return float(value)
