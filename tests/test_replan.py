"""Replanning (``replan_on``): each trigger, ``max_replans``, what the planner and the
executor see, and what it costs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from exo import Agent, PlanningError, ToolError, run
from exo.errors import ModelError
from exo.planning import SYSTEM_TEMPLATE
from exo.plans import TICK_LINE, ReplanPolicy
from exo.testing import ScriptedModel, call
from exo.types import (
    ReplanEvent,
    RunResult,
    StreamEvent,
    SystemMessage,
    ToolResult,
    UserMessage,
    WarningEvent,
)

PLAN = json.dumps({"steps": [{"title": "Fetch the rate"}, {"title": "Convert the amount"}]})
REVISED = json.dumps({"steps": [{"title": "Use the cached rate", "tools": ["cached_rate"]}]})


def fetch_rate(currency: str) -> str:
    """Fetch an exchange rate."""
    if currency == "JPY":
        return "161.2"
    raise ToolError("the rate service is down")


def cached_rate(currency: str) -> str:
    """Read yesterday's exchange rate."""
    return "1.08"


def agent(**kw: Any) -> Agent:
    base: dict[str, Any] = dict(
        name="fx",
        model="test:x",
        tools=[fetch_rate, cached_rate],
        planning_enabled=True,
        planning_format="steps",
        replan_on=ReplanPolicy(),
    )
    base.update(kw)
    return Agent(**base)


async def events_of(a: Agent, model: ScriptedModel, **kw: Any) -> list[StreamEvent]:
    return [e async for e in run.stream(a, "Convert 10 EUR to USD", provider=model, **kw)]


def result_of(events: list[StreamEvent]) -> RunResult[Any]:
    last = events[-1]
    assert last.type == "run_complete"
    return last.result


async def test_request_replan_runs_the_planner_on_the_task_plan_progress_and_reason() -> None:
    model = ScriptedModel(
        {
            "fx_planner": [PLAN, REVISED],
            "fx": [
                call("fetch_rate", currency="USD"),
                call("request_replan", reason="the rate service is down"),
                "10 EUR is 10.80 USD.",
            ],
        }
    )
    events = await events_of(agent(), model)
    assert model.agents == ["fx_planner", "fx", "fx", "fx_planner", "fx"]
    replanner = model.requests[3]
    assert replanner.messages[-1] == UserMessage(
        content="Original task:\nConvert 10 EUR to USD\n\n"
        "Plan so far:\n1. [ ] Fetch the rate\n2. [ ] Convert the amount\n\n"
        "What was done:\n"
        '- fetch_rate({"currency": "USD"}) -> Error: the rate service is down\n\n'
        "Why a new plan is needed:\nthe rate service is down\n\n"
        "Write a revised plan: the steps that remain to complete the original task."
    )
    assert "request_replan" not in [t.name for t in replanner.tools]  # the planner never has it
    revised_text = "3. Use the cached rate\n   Tools: cached_rate\n\n" + TICK_LINE
    executor = model.requests[4].messages
    assert executor[-1] == SystemMessage(content=SYSTEM_TEMPLATE.format(plan=revised_text))
    assert isinstance(executor[-2], ToolResult) and executor[-2].tool_name == "request_replan"
    replans = [e for e in events if isinstance(e, ReplanEvent)]  # in the plain stream
    assert [(e.number, e.trigger, e.reason, e.plan) for e in replans] == [
        (1, "request", "the rate service is down", revised_text)
    ]
    plan = result_of(events).plan
    assert plan is not None and plan.replans == 1
    assert [(s.title, s.status, s.todo) for s in plan.checklist] == [
        ("Fetch the rate", "replaced", 1),
        ("Convert the amount", "replaced", 2),
        ("Use the cached rate", "pending", 3),
    ]


async def test_every_planner_run_counts_in_the_plan_phase() -> None:
    model = ScriptedModel(
        {
            "fx_planner": [PLAN, REVISED],
            "fx": [call("request_replan", reason="stuck"), "Done."],
        }
    )
    events = await events_of(agent(), model)
    result = result_of(events)
    assert result.plan is not None
    assert result.plan.usage.requests == model.agents.count("fx_planner") == 2
    assert result.plan.steps == 2
    assert result.usage_by_phase["plan"] == result.plan.usage
    assert result.usage == result.plan.usage + result.execute_usage
    replan = next(e for e in events if isinstance(e, ReplanEvent))
    assert replan.usage.requests == 1
    assert result.plan.usage.input_tokens > replan.usage.input_tokens > 0


async def test_a_tool_failing_n_times_in_a_row_triggers_a_replan() -> None:
    fails = [call("fetch_rate", currency="USD") for _ in range(3)]
    model = ScriptedModel({"fx_planner": [PLAN, REVISED], "fx": [*fails, "Done."]})
    events = await events_of(agent(replan_on=ReplanPolicy(tool_failures=3)), model)
    replan = next(e for e in events if isinstance(e, ReplanEvent))
    assert replan.trigger == "tool_failures"
    assert (
        replan.reason
        == "tool 'fetch_rate' failed 3 times in a row: Error: the rate service is down"
    )
    assert model.agents == ["fx_planner", "fx", "fx", "fx", "fx_planner", "fx"]


async def test_a_success_in_between_resets_the_failure_count() -> None:
    model = ScriptedModel(
        {
            "fx_planner": [PLAN],
            "fx": [
                call("fetch_rate", currency="USD"),
                call("fetch_rate", currency="USD"),
                call("fetch_rate", currency="JPY"),  # the same tool works: the row is broken
                call("fetch_rate", currency="USD"),
                call("fetch_rate", currency="USD"),
                "Done.",
            ],
        }
    )
    events = await events_of(
        agent(replan_on=ReplanPolicy(tool_failures=3, step_budget=None)), model
    )
    assert not [e for e in events if isinstance(e, ReplanEvent)]
    assert model.agents.count("fx_planner") == 1


async def test_a_step_budget_spent_without_a_tick_triggers_a_replan() -> None:
    policy = ReplanPolicy(tool_failures=None, step_budget=2)
    model = ScriptedModel(
        {
            "fx_planner": [PLAN, REVISED],
            "fx": [
                call("cached_rate", currency="USD"),
                call("complete_todo", number=1),  # a tick: the budget starts again
                call("cached_rate", currency="USD"),
                call("cached_rate", currency="USD"),
                "Done.",
            ],
        }
    )
    events = await events_of(agent(replan_on=policy), model, detailed=True)
    replan = next(e for e in events if isinstance(e, ReplanEvent))
    assert (replan.trigger, replan.reason) == (
        "step_budget",
        "2 model calls passed without finishing a plan step",
    )
    # the replan comes after the 4th model call: calls 3 and 4 passed without a tick
    steps = [e.step for e in events if e.type == "step" and e.status == "completed"]
    before = events[: events.index(replan)]
    assert [e.step for e in before if e.type == "step" and e.status == "completed"][-1] == 4
    assert steps[-1] == 5
    plan = result_of(events).plan
    assert plan is not None
    assert [s.status for s in plan.checklist] == ["done", "replaced", "pending"]


async def test_max_replans_caps_the_replans_and_the_tool_says_so() -> None:
    model = ScriptedModel(
        {
            "fx_planner": [PLAN, REVISED],
            "fx": [
                call("request_replan", reason="first"),
                call("request_replan", reason="second"),
                "Done.",
            ],
        }
    )
    events = await events_of(agent(max_replans=1), model)
    assert model.agents.count("fx_planner") == 2
    assert len([e for e in events if isinstance(e, ReplanEvent)]) == 1
    refused = [e for e in events if e.type == "tool_result" and e.is_error]
    assert len(refused) == 1
    assert "revised 1 times already (max_replans)" in str(refused[0].content)
    plan = result_of(events).plan
    assert plan is not None and plan.replans == 1


async def test_max_replans_also_stops_the_automatic_triggers() -> None:
    fails = [call("fetch_rate", currency="USD") for _ in range(4)]
    model = ScriptedModel({"fx_planner": [PLAN], "fx": [*fails, "Done."]})
    events = await events_of(agent(max_replans=0, replan_on=ReplanPolicy(tool_failures=1)), model)
    assert not [e for e in events if isinstance(e, ReplanEvent)]
    assert model.agents.count("fx_planner") == 1


async def test_request_replan_exists_only_when_replanning_is_on() -> None:
    for a, offered in (
        (agent(), True),
        (agent(replan_on=ReplanPolicy(tool=False)), False),
        (agent(replan_on=None), False),
    ):
        model = ScriptedModel({"fx_planner": [PLAN], "fx": ["Done."]})
        await run(a, "x", provider=model)
        assert ("request_replan" in [t.name for t in model.requests[1].tools]) is offered
        assert "request_replan" not in [t.name for t in model.requests[0].tools]


async def test_a_failed_replan_is_skipped_or_raised_as_planning_on_error_says() -> None:
    down = ModelError("planner down", backend="test", model="x", status=400)
    model = ScriptedModel(
        {"fx_planner": [PLAN, down], "fx": [call("request_replan", reason="stuck"), "Done."]}
    )
    events = await events_of(agent(planning_on_error="skip"), model)
    warning = next(e for e in events if isinstance(e, WarningEvent))
    assert warning.code == "replan_failed" and "planner down" in warning.message
    replan = next(e for e in events if isinstance(e, ReplanEvent))
    assert replan.plan == ""  # nothing injected: the executor goes on with its plan
    assert result_of(events).output == "Done."
    model = ScriptedModel(
        {"fx_planner": [PLAN, down], "fx": [call("request_replan", reason="stuck"), "Done."]}
    )
    with pytest.raises(PlanningError, match="planning phase of agent 'fx' failed"):
        await events_of(agent(), model)


async def test_no_replan_without_pending_steps_on_the_budget_trigger() -> None:
    policy = ReplanPolicy(tool_failures=None, step_budget=1)
    model = ScriptedModel(
        {
            "fx_planner": [PLAN],
            "fx": [
                call("complete_todo", number=1),
                call("complete_todo", number=2),
                call("cached_rate", currency="USD"),
                "Done.",
            ],
        }
    )
    events = await events_of(agent(replan_on=policy), model)
    assert not [e for e in events if isinstance(e, ReplanEvent)]
