"""Summaries of an eval: per variant success rate, tokens, cost, time and steps, with 95%
intervals; as a table (Markdown, readable in a terminal and pasteable into docs) and JSON."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from exo.eval.harness import EvalRun, Trial
from exo.eval.stats import Estimate, mean_interval, wilson

__all__ = ["VariantSummary", "format_table", "from_json", "summarize", "to_json"]


@dataclass(frozen=True, slots=True, kw_only=True)
class VariantSummary:
    """One variant's results (a measure is ``None`` when no trial reported it)."""

    name: str
    trials: int
    successes: int
    success: Estimate
    tokens: Estimate | None
    cost: Estimate | None
    seconds: Estimate
    steps: Estimate | None
    plan_cache_hits: int
    errors: int


def _measure(trials: Sequence[Trial], get: Callable[[Trial], float | None]) -> Estimate | None:
    values = [v for v in (get(t) for t in trials) if v is not None]
    return mean_interval(values) if values else None


def summarize(run: EvalRun) -> list[VariantSummary]:
    """One summary per variant that ran, in the order they ran."""
    out = []
    for name in run.variants:
        trials = [t for t in run.trials if t.variant == name]
        if not trials:
            continue
        wins = sum(t.success for t in trials)
        out.append(
            VariantSummary(
                name=name,
                trials=len(trials),
                successes=wins,
                success=wilson(wins, len(trials)),
                tokens=_measure(trials, lambda t: t.tokens),
                cost=_measure(trials, lambda t: t.cost),
                seconds=mean_interval([t.seconds for t in trials]),
                steps=_measure(trials, lambda t: t.steps),
                plan_cache_hits=sum(t.plan_cached for t in trials),
                errors=sum(t.error is not None for t in trials),
            )
        )
    return out


def _cell(e: Estimate | None, fmt: str) -> str:
    if e is None:
        return "n/a"
    if e.low is None or e.high is None:
        return format(e.value, fmt)
    return f"{e.value:{fmt}} [{e.low:{fmt}}, {e.high:{fmt}}]"


def format_table(summaries: Sequence[VariantSummary]) -> str:
    """A Markdown table: one row per variant, means with their 95% intervals."""
    rows = [
        "| variant | success | tokens / task | cost / task (USD) | seconds / task "
        "| steps / task | errors |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s in summaries:
        rate = f"{s.successes}/{s.trials} = {s.success.value:.0%} "
        rate += f"[{s.success.low or 0:.0%}, {s.success.high or 0:.0%}]"
        name = s.name + (f" ({s.plan_cache_hits} plan hits)" if s.plan_cache_hits else "")
        rows.append(
            f"| {name} | {rate} | {_cell(s.tokens, ',.0f')} | {_cell(s.cost, '.4f')} "
            f"| {_cell(s.seconds, '.2f')} | {_cell(s.steps, '.1f')} | {s.errors} |"
        )
    return "\n".join(rows)


def to_json(run: EvalRun) -> dict[str, Any]:
    """The whole eval as JSON-ready data: settings, per-variant summaries, every trial."""

    def est(e: Estimate | None) -> dict[str, float | None] | None:
        return None if e is None else e.as_dict()

    return {
        "suite": run.suite,
        "model": run.model,
        "planning_model": run.planning_model,
        "repeats": run.repeats,
        "tasks": run.tasks,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "variants": [
            {
                "name": s.name,
                "overrides": {k: _plain(v) for k, v in run.variants[s.name].items()},
                "trials": s.trials,
                "successes": s.successes,
                "success_rate": est(s.success),
                "tokens": est(s.tokens),
                "cost_usd": est(s.cost),
                "seconds": est(s.seconds),
                "steps": est(s.steps),
                "plan_cache_hits": s.plan_cache_hits,
                "errors": s.errors,
            }
            for s in summarize(run)
        ],
        "skipped_variants": [{"name": k, "reason": v} for k, v in run.skipped.items()],
        "interrupted": run.interrupted,
        "trials": [dataclasses.asdict(t) for t in run.trials],
    }


def from_json(data: dict[str, Any]) -> EvalRun:
    """Rebuild an eval from :func:`to_json`'s data (to report or plot it again)."""
    names = [v["name"] for v in data["variants"]]
    return EvalRun(
        suite=data["suite"],
        model=data["model"],
        planning_model=data["planning_model"],
        repeats=data["repeats"],
        tasks=data["tasks"],
        variants={v["name"]: dict(v["overrides"]) for v in data["variants"]},
        trials=[Trial(**t) for t in data["trials"] if t["variant"] in names],
        skipped={v["name"]: v["reason"] for v in data["skipped_variants"]},
        interrupted=bool(data.get("interrupted", False)),
    )


def _plain(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool | None) else repr(value)
