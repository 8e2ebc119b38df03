"""Money on the command line: the ``--max-cost`` / ``--max-tokens-total`` options and the cost
part of the usage line."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

import typer

from exo.agent import Agent
from exo.types import RunResult

__all__ = ["MaxCostOpt", "MaxTokensTotalOpt", "cost_part", "money", "with_budget"]

MaxCostOpt = Annotated[
    float | None,
    typer.Option(
        "--max-cost",
        min=0.0,
        help="Stop the run (planner and children included) once it has spent this many US "
        "dollars (exit code 5).",
    ),
]
MaxTokensTotalOpt = Annotated[
    int | None,
    typer.Option(
        "--max-tokens-total",
        min=1,
        help="Stop the run once it has used this many tokens in all (exit code 5).",
    ),
]


def with_budget(
    agent: Agent[Any], max_cost: float | None, max_tokens_total: int | None
) -> Agent[Any]:
    """The agent with the command line's budgets (each one given replaces the agent's)."""
    changes: dict[str, Any] = {}
    if max_cost is not None:
        changes["max_cost"] = Decimal(str(max_cost))
    if max_tokens_total is not None:
        changes["max_tokens_total"] = max_tokens_total
    return agent.replace(**changes) if changes else agent


def money(amount: Decimal) -> str:
    """US dollars for a person: cents from $1 up, else four significant digits."""
    if amount == 0:
        return "$0"
    if amount >= 1:
        return f"${amount:.2f}"
    digits = f"{amount.normalize():.{3 - amount.adjusted()}f}"
    return "$" + (digits.rstrip("0").rstrip(".") if "." in digits else digits)


def cost_part(result: RunResult[Any]) -> str:
    """The usage line's cost, e.g. ``cost $0.0123 (plan $0.0004, execute $0.0119)``.

    Empty when the run cost nothing (self-hosted or test models). An unknown price reads
    ``unknown``, or ``≥ $x`` when some calls could be priced, naming the unpriced models.
    """
    cost = result.cost
    if cost.total == 0:
        return ""
    phases = [("plan", cost.plan, result.plan is not None), ("execute", cost.execute, True)]
    phases.append(("children", cost.children, bool(result.children)))
    shown = [(name, value) for name, value, ran in phases if ran]
    if cost.total is not None:
        text = f"cost {money(cost.total)}"
    else:
        text = f"cost ≥ {money(cost.known)}" if cost.known else "cost unknown"
    if len(shown) > 1:
        text += " (" + ", ".join(f"{n} {_or_unknown(v)}" for n, v in shown) + ")"
    if cost.unpriced:
        text += f"; no price for {', '.join(cost.unpriced)}"
    return text


def _or_unknown(value: Decimal | None) -> str:
    return "unknown" if value is None else money(value)
