"""``max_cost`` and ``max_tokens_total``: one budget for planner, executor and children; the
run stops at the next step boundary with BudgetExceeded carrying the partial result."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from exo import Agent, BudgetExceeded, ConfigError, run
from exo.models.base import ModelResponse
from exo.testing import ScriptedModel, call
from exo.types import AssistantMessage, ErrorEvent, PlanSkippedEvent, Usage

from .support import has_tool_result, last_user_text, openai_at, tool_call

USAGE = {"prompt_tokens": 1_000, "completion_tokens": 100}
# genai-prices, openai "gpt-4o": $2.50 in / $10 out per MTok: 1,000 in + 100 out = $0.0035.
CALL = Decimal("0.0035")


def lookup(query: str) -> str:
    """Look something up.

    Args:
        query: What to look up.
    """
    return f"found {query}"


def forever(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, int]]:
    """A model that never stops calling tools (spawning when it can, else looking up)."""
    names = {t["function"]["name"] for t in body.get("tools", [])}
    if "spawn_self" in names and not has_tool_result(body):
        return tool_call("spawn_self", {"tasks": ["the sub-task"]}), USAGE
    return tool_call("lookup", {"query": last_user_text(body)[:20]}), USAGE


async def test_the_executor_stops_at_the_step_after_crossing_max_cost() -> None:
    provider, boundary = openai_at(forever)
    agent = Agent(name="a", model="openai:gpt-4o", tools=[lookup], max_steps=10, max_cost=0.006)
    with pytest.raises(BudgetExceeded) as caught:
        await run(agent, "task", provider=provider)

    err = caught.value
    assert err.limit == "max_cost"
    assert "max_cost=$0.006 (spent $0.0070)" in str(err)
    # Call 1 ($0.0035) is under the budget; call 2 crosses it; call 3 is never made.
    assert len(boundary.bodies) == 2
    assert err.result.steps == 2
    assert err.result.cost.total == 2 * CALL
    assert [m.role for m in err.result.messages] == ["user", *["assistant", "tool"] * 2]


async def test_a_planner_that_spends_the_budget_stops_the_run_before_the_executor() -> None:
    provider, boundary = openai_at(forever)
    agent = Agent(
        name="a", model="openai:gpt-4o", tools=[lookup], planning_enabled=True, max_cost=0.003
    )
    events = []
    with pytest.raises(BudgetExceeded) as caught:
        async for event in run.stream(agent, "task", provider=provider):
            events.append(event)

    result = caught.value.result
    assert len(boundary.bodies) == 1  # the planner's first call; nothing after it
    assert result.plan is not None
    assert result.plan.steps == 1
    assert result.plan.skipped is not None and "max_cost=$0.003" in result.plan.skipped
    assert result.steps == 0
    assert result.cost.plan == CALL
    assert result.cost.total == CALL
    assert [type(e) for e in events] == [PlanSkippedEvent, ErrorEvent]
    assert events[-1].error_type == "BudgetExceeded"


async def test_a_child_shares_the_budget_and_the_parent_stops_after_it() -> None:
    provider, boundary = openai_at(forever)
    agent = Agent(
        name="a", model="openai:gpt-4o", tools=[lookup], allow_self_spawn=True, max_cost=0.006
    )
    with pytest.raises(BudgetExceeded) as caught:
        await run(agent, "task", provider=provider)

    result = caught.value.result
    # Parent: spawn ($0.0035). Child: one lookup call ($0.0070 in all), then stops; the
    # parent stops before its second call.
    assert len(boundary.bodies) == 2
    assert result.steps == 1
    [child] = result.children
    assert child.steps == 1
    assert child.error is not None and child.error.startswith("BudgetExceeded:")
    assert result.cost.execute == CALL
    assert result.cost.children == CALL
    assert result.cost.total == 2 * CALL


def scripted_tool_turns(n: int) -> ScriptedModel:
    """n tool-calling replies of 100 tokens each (90 in, 10 out)."""
    usage = Usage(requests=1, input_tokens=90, output_tokens=10)
    replies = [
        ModelResponse(
            message=AssistantMessage(tool_calls=[call("lookup", query="x")]),
            usage=usage,
            finish_reason="tool_calls",
        )
        for _ in range(n)
    ]
    return ScriptedModel(replies)


async def test_max_tokens_total_stops_the_run_once_reached() -> None:
    model = scripted_tool_turns(10)
    agent = Agent(name="a", model="test:x", tools=[lookup], max_tokens_total=250)
    with pytest.raises(BudgetExceeded) as caught:
        await run(agent, "task", provider=model)
    err = caught.value
    assert err.limit == "max_tokens_total"
    assert len(model.requests) == 3  # 100, 200, 300 tokens: the 4th call is not made
    assert err.result.usage.total_tokens == 300
    assert err.result.cost.total == 0  # the test backend is free


async def test_run_arguments_override_the_agents_budgets() -> None:
    model = scripted_tool_turns(10)
    agent = Agent(name="a", model="test:x", tools=[lookup], max_tokens_total=10_000)
    with pytest.raises(BudgetExceeded):
        await run(agent, "task", provider=model, max_tokens_total=150)
    assert len(model.requests) == 2


async def test_a_run_within_its_budget_is_untouched() -> None:
    provider, _ = openai_at(lambda body: ({"role": "assistant", "content": "ok"}, USAGE))
    agent = Agent(name="a", model="openai:gpt-4o", max_cost=1, max_tokens_total=5_000)
    result = await run(agent, "task", provider=provider)
    assert result.output == "ok"
    assert result.cost.total == CALL


async def test_max_cost_on_a_model_without_a_price_is_refused_before_any_call() -> None:
    provider, boundary = openai_at(forever, model="my-fine-tune")
    agent = Agent(name="a", model="openai:my-fine-tune", max_cost=1)
    with pytest.raises(ConfigError, match="no price is known for 'openai:my-fine-tune'") as caught:
        await run(agent, "task", provider=provider)
    assert caught.value.parameter == "max_cost"
    assert "max_tokens_total" in str(caught.value.hint)
    assert boundary.bodies == []


async def test_max_cost_checks_the_planning_model_too() -> None:
    provider, boundary = openai_at(forever)
    agent = Agent(
        name="a",
        model="openai:gpt-4o",
        planning_enabled=True,
        planning_model="openai:my-planner-tune",
        max_cost=1,
    )
    with pytest.raises(ConfigError, match="openai:my-planner-tune"):
        await run(agent, "task", provider=provider)
    assert boundary.bodies == []


@pytest.mark.parametrize("value", [0, -1, True, "lots", float("nan"), float("inf"), [1]])
def test_a_bad_max_cost_is_a_config_error(value: object) -> None:
    with pytest.raises(ConfigError, match="max_cost") as caught:
        Agent(name="a", max_cost=value)  # type: ignore[arg-type]
    assert caught.value.parameter == "max_cost"


@pytest.mark.parametrize("value", [0, -5, True, 1.5, "10"])
async def test_a_bad_max_tokens_total_is_a_config_error(value: object) -> None:
    with pytest.raises(ConfigError, match=r"run\(\): max_tokens_total"):
        await run(Agent(name="a", model="test:x"), "hi", max_tokens_total=value)  # type: ignore[arg-type]


def test_max_cost_accepts_decimal_and_keeps_float_amounts_exact() -> None:
    from exo.cost import Budget

    assert Budget(max_cost=0.1).max_cost == Decimal("0.1")
    assert Budget(max_cost=Decimal("0.25")).max_cost == Decimal("0.25")


def other(query: str) -> str:
    """Look elsewhere.

    Args:
        query: What to look up.
    """
    return "found elsewhere"


async def test_a_resumed_run_counts_the_calls_made_before_its_pause() -> None:
    usage = Usage(requests=1, input_tokens=90, output_tokens=10)
    replies = [
        ModelResponse(
            message=AssistantMessage(tool_calls=[call(name, query="x")]),
            usage=usage,
            finish_reason="tool_calls",
        )
        for name in ("lookup", "other", "other", "other")
    ]
    model = ScriptedModel(replies)
    agent = Agent(name="a", model="test:x", tools=[lookup, other], approve_tools=["lookup"])
    paused = await run(agent, "task", provider=model)
    assert paused.status == "paused"
    assert len(paused.calls) == 1

    [request] = paused.pending
    with pytest.raises(BudgetExceeded) as caught:
        await run(
            agent,
            resume=paused.state,
            approvals={request.call_id: True},
            provider=model,
            max_tokens_total=150,
        )
    # 100 tokens before the pause + 100 after it reach 150: the third call is not made.
    assert len(model.requests) == 2
    assert caught.value.result.calls == [("test:scripted", usage)] * 2
