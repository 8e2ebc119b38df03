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
    "run_eval",
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
    if repeats < 1:
        raise ConfigError(f"repeats must be >= 1, got {repeats}", parameter="repeats")
    chosen, skipped = select_variants(variants, known_variants)
    base = _base_agent(suite, agent, model, planning_model)
    result = EvalRun(
        suite=suite.name,
        model=base.model,
        planning_model=base.planning_model,
        repeats=repeats,
        tasks=len(suite.tasks),
        variants=chosen,
        skipped=skipped,
    )
    total = len(chosen) * len(suite.tasks) * repeats
    for name, overrides in chosen.items():
        variant = base.replace(**overrides)
        for repeat in range(repeats):
            for task in suite.tasks:
                trial = await run_trial(suite, task, variant, name, repeat, provider)
                result.trials.append(trial)
                if progress is not None:
                    progress(len(result.trials), total, trial)
    return result


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
        for name, text in task.files.items():
            (workdir / name).write_text(text)
        runner = agent.replace(tools=list(suite.tools(workdir)))
        started = time.perf_counter()
        error: str | None = None
        try:
            result: RunResult[Any] | None = await run(runner, task.prompt, provider=provider)
        except ExoError as exc:
            result = getattr(exc, "result", None)
            error = f"{type(exc).__name__}: {exc.message}"
        seconds = time.perf_counter() - started
        passed = error is None and result is not None and task.check(result.text, workdir)
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


def _cost(result: RunResult[Any] | None) -> float | None:
    """The run's cost when this exo reports one (``result.cost``), else ``None``."""
    cost = getattr(result, "cost", None)
    value = getattr(cost, "total", cost)  # a cost object with .total, or a number
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
