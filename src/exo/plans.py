"""Structured plans and replanning: the settings, the planner's typed output, and the text
a plan becomes.

With ``Agent(planning_format="steps")`` the planner answers with :class:`PlannedSteps`
(through the ``output_type`` machinery); a model that writes a numbered list instead is read
by :func:`parse_steps`. :func:`render_steps` turns the steps into the numbered text that goes
into the spec's templates in place of free text. :class:`ReplanPolicy` says when a stuck
executor gets a revised plan (``Agent(replan_on=...)``). This module is plain data and pure
functions; the run-time part lives in :mod:`exo._replan`.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field
from typing_extensions import TypedDict

from exo.errors import ConfigError
from exo.types import PlanStep

__all__ = [
    "REPLAN_TOOL",
    "TICK_LINE",
    "PlannedStep",
    "PlannedSteps",
    "ReplanPolicy",
    "check_plan_settings",
    "from_planned",
    "parse_steps",
    "render_steps",
]

REPLAN_TOOL = "request_replan"
"""The built-in tool an executor calls to ask for a revised plan (only with ``replan_on``)."""

TICK_LINE = "Mark each step done with complete_todo(<number>) as soon as it is done."
"""The last line of a rendered plan: how the executor ticks its steps off."""


# TypedDicts, not pydantic models or dataclasses: defining them costs ``import exo`` next to
# nothing, and pydantic builds their validator only when a steps planner first runs.
class PlannedStep(TypedDict):
    """One step as the planner writes it."""

    title: Annotated[str, Field(description="What to do, in one sentence.")]
    # Every key required: OpenAI can then enforce the schema strictly. Leniency lives in
    # the fallback (parse_steps), which takes a step with only a title.
    done_when: Annotated[str, Field(description="What shows that it is done ('' if obvious).")]
    tools: Annotated[list[str], Field(description="Names of tools that may help (may be []).")]


class PlannedSteps(TypedDict):
    """The planner's typed answer in ``planning_format="steps"``: the steps, in order."""

    steps: Annotated[
        list[PlannedStep], Field(description="The plan's steps, in the order to do them.")
    ]


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplanPolicy:
    """When a run asks its planner for a revised plan (``Agent(replan_on=ReplanPolicy())``).

    Each trigger can be switched off on its own; at most ``Agent.max_replans`` replans run.

    Attributes:
        tool_failures: Replan when one tool fails this many times in a row (``None``: never).
        step_budget: Replan when this many model calls pass without a plan step being
            ticked off (``None``: never).
        tool: Offer the executor a ``request_replan(reason)`` tool.
    """

    tool_failures: int | None = 3
    step_budget: int | None = 8
    tool: bool = True

    def __post_init__(self) -> None:
        for name in ("tool_failures", "step_budget"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1000
            ):
                raise ConfigError(
                    f"ReplanPolicy: {name} must be an integer from 1 to 1000 or None, "
                    f"got {value!r}",
                    parameter=name,
                )
        if not isinstance(self.tool, bool):
            raise ConfigError(
                f"ReplanPolicy: tool must be True or False, got {self.tool!r}", parameter="tool"
            )


def check_plan_settings(
    planning_format: object, replan_on: object, max_replans: object
) -> ReplanPolicy | None:
    """Check the structured-plan settings of an Agent; return ``replan_on`` as a policy.

    Raises:
        ConfigError: a setting has the wrong type or value, or ``replan_on`` is set without
            ``planning_format="steps"`` (a revised plan needs steps to track).
    """
    if planning_format not in ("text", "steps"):
        raise ConfigError(
            f"planning_format must be 'text' or 'steps', got {planning_format!r}",
            parameter="planning_format",
        )
    if isinstance(max_replans, bool) or not isinstance(max_replans, int):
        raise ConfigError(
            f"max_replans must be an integer from 0 to 20, got {max_replans!r}",
            parameter="max_replans",
        )
    if not 0 <= max_replans <= 20:
        raise ConfigError(
            f"max_replans must be from 0 to 20, got {max_replans}", parameter="max_replans"
        )
    if replan_on is None or replan_on is False:
        return None
    policy = ReplanPolicy() if replan_on is True else replan_on
    if not isinstance(policy, ReplanPolicy):
        raise ConfigError(
            f"replan_on must be a ReplanPolicy, True or None, got {type(replan_on).__name__}",
            parameter="replan_on",
            hint="write replan_on=ReplanPolicy(tool_failures=3, step_budget=8)",
        )
    if planning_format != "steps":
        raise ConfigError(
            "replan_on needs planning_format='steps' (a revised plan replaces tracked steps)",
            parameter="replan_on",
            hint="add planning_format='steps' (and planning_enabled=True)",
        )
    return policy


# --------------------------------------------------------------------------- reading a plan


@functools.cache
def _patterns() -> dict[str, re.Pattern[str]]:
    """The parser's patterns, compiled on first use (``import exo`` pays nothing for them)."""
    raw = {
        "item": r"^\s*(?:#{1,6}\s*)?(?:step\s*)?(\d{1,3})\s*[.):\]-]\s*(.+?)\s*$",
        "bullet": r"^\s*(?:[-*+•]|\[[ xX]?\])\s+(.+?)\s*$",
        "done": r"^\s*(?:[-*+]\s*)?(?:\*\*)?done[ _-]?when(?:\*\*)?\s*[:\-]\s*(.+)$",
        "tools": r"^\s*(?:[-*+]\s*)?(?:\*\*)?tools?(?:\*\*)?\s*[:\-]\s*(.+)$",
        "inline_done": r"\s+[—–-]+\s*done when:?\s*(.+)$",
    }
    compiled = {k: re.compile(v, re.I) for k, v in raw.items()}
    compiled["fence"] = re.compile(r"```(?:json)?\s*(.*?)```", re.S)
    return compiled


def parse_steps(text: str) -> list[PlanStep]:
    """Read steps from a plan a model wrote as text: JSON, or a numbered or bulleted list.

    Numbered items (``1.``, ``2)``, ``Step 3:``, ``### 4.``) start steps; lines under an item
    that say ``Done when: ...`` or ``Tools: ...`` fill in that step; other lines under an
    item are ignored. Without numbered items, bullets are steps; without either, every
    non-empty line is one. Markdown emphasis around titles is dropped. Never raises.
    """
    data = _json_steps(text)
    if data is not None:
        return data
    rx = _patterns()
    lines = text.splitlines()
    item = rx["item"]
    pattern = item if any(item.match(ln) for ln in lines) else rx["bullet"]
    if not any(pattern.match(ln) for ln in lines):
        return [PlanStep(title=t) for ln in lines if (t := _clean(ln))]
    steps: list[PlanStep] = []
    for line in lines:
        found = pattern.match(line)
        if found is not None:
            title = _clean(found.group(found.lastindex or 1))
            done = rx["inline_done"].search(title)
            if done is not None:
                title = _clean(title[: done.start()])
            if title:
                steps.append(PlanStep(title=title, done_when=_clean(done.group(1)) if done else ""))
            continue
        if not steps:
            continue
        if (when := rx["done"].match(line)) is not None:
            steps[-1] = _with(steps[-1], done_when=_clean(when.group(1)))
        elif (tools := rx["tools"].match(line)) is not None:
            names = tuple(n for p in re.split(r"[,;]", tools.group(1)) if (n := p.strip(" `*")))
            steps[-1] = _with(steps[-1], tools=names)
    return steps


def _with(step: PlanStep, **changes: Any) -> PlanStep:
    values = {"title": step.title, "done_when": step.done_when, "tools": step.tools, **changes}
    return PlanStep(**values)


def _clean(text: str) -> str:
    return text.strip().strip("*_`").strip()


def _json_steps(text: str) -> list[PlanStep] | None:
    """Steps from JSON text (fenced or bare, an object with ``steps`` or a list), else None."""
    fenced = _patterns()["fence"].search(text)
    raw = fenced.group(1) if fenced else text.strip()
    if not raw.startswith(("{", "[")):
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    items = data.get("steps") if isinstance(data, dict) else data
    if not isinstance(items, list):
        return None
    steps: list[PlanStep] = []
    for item in items:  # leniently: a string, or an object with at least a title
        if isinstance(item, str):
            item = {"title": item}
        if not isinstance(item, dict) or not isinstance(item.get("title"), str):
            continue
        done_when, tools = item.get("done_when"), item.get("tools")
        step = from_planned(
            {
                "title": item["title"],
                "done_when": done_when if isinstance(done_when, str) else "",
                "tools": [t for t in tools if isinstance(t, str)]
                if isinstance(tools, list)
                else [],
            }
        )
        if step.title:
            steps.append(step)
    return steps


def from_planned(planned: PlannedStep) -> PlanStep:
    """A :class:`PlannedStep` (the planner's typed answer) as a pending :class:`PlanStep`."""
    return PlanStep(
        title=" ".join(planned["title"].split()),
        done_when=" ".join(planned["done_when"].split()),
        tools=tuple(t.strip() for t in planned["tools"] if t.strip()),
    )


def render_steps(steps: list[PlanStep] | tuple[PlanStep, ...]) -> str:
    """The numbered text a plan is injected as (numbers are the steps' todo numbers).

    Example::

        1. Look up the order
           Done when: the order's status is known
           Tools: get_order
        2. Answer the customer

        Mark each step done with complete_todo(<number>) as soon as it is done.
    """
    if not steps:
        return ""
    lines: list[str] = []
    for position, step in enumerate(steps, 1):
        lines.append(f"{step.todo or position}. {step.title}")
        if step.done_when:
            lines.append(f"   Done when: {step.done_when}")
        if step.tools:
            lines.append(f"   Tools: {', '.join(step.tools)}")
    return "\n".join(lines) + "\n\n" + TICK_LINE
