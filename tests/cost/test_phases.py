"""``result.cost`` by phase: the planner on its own model, the executor, and the children."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from decimal import Decimal
from typing import Any

from exo import Agent, run
from exo.types import Usage

from .support import has_tool_result, last_user_text, openai_at, tool_call

M = Decimal(1_000_000)
USAGE = {"prompt_tokens": 1_000, "completion_tokens": 100}
# genai-prices, provider "openai": gpt-4o $2.50 in / $10 out per MTok; gpt-4o-mini $0.15 in /
# $0.60 out per MTok.
GPT_4O_CALL = 1_000 * Decimal("2.50") / M + 100 * Decimal(10) / M  # 0.0035
GPT_4O_MINI_CALL = 1_000 * Decimal("0.15") / M + 100 * Decimal("0.60") / M  # 0.00021


def server(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, int]]:
    """Planner (gpt-4o-mini): a plan. Child: its answer. Executor: spawn, then answer."""
    if body["model"] == "gpt-4o-mini":
        return {"role": "assistant", "content": "1. Split the work."}, USAGE
    if last_user_text(body) == "the sub-task":
        return {"role": "assistant", "content": "child answer"}, USAGE
    if not has_tool_result(body):
        return tool_call("spawn_self", {"tasks": ["the sub-task"]}), USAGE
    return {"role": "assistant", "content": "done"}, USAGE


async def test_cost_splits_into_plan_execute_and_children_each_at_its_own_price() -> None:
    provider, boundary = openai_at(server)
    agent = Agent(
        name="boss",
        model="openai:gpt-4o",
        planning_enabled=True,
        planning_model="openai:gpt-4o-mini",
        allow_self_spawn=True,
    )
    result = await run(agent, "the task", provider=provider)

    assert result.output == "done"
    assert [b["model"] for b in boundary.bodies] == ["gpt-4o-mini", "gpt-4o", "gpt-4o", "gpt-4o"]
    one = Usage(requests=1, input_tokens=1_000, output_tokens=100)
    assert result.plan is not None
    assert result.plan.calls == [("openai:gpt-4o-mini", one)]
    assert result.children[0].calls == [("openai:gpt-4o", one)]
    assert len(result.calls) == 2
    cost = result.cost
    assert Decimal("0.0035") == GPT_4O_CALL
    assert Decimal("0.00021") == GPT_4O_MINI_CALL
    assert cost.plan == GPT_4O_MINI_CALL
    assert cost.execute == 2 * GPT_4O_CALL
    assert cost.children == GPT_4O_CALL
    assert cost.total == Decimal("0.01071") == cost.known
    assert cost.unpriced == ()


async def test_an_unpriced_phase_makes_the_total_unknown_and_is_named() -> None:
    def plain(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, int]]:
        if body["model"] == "gpt-4o-mini":
            return {"role": "assistant", "content": "1. Answer."}, USAGE
        return {"role": "assistant", "content": "done"}, USAGE

    provider, _ = openai_at(plain, model="my-fine-tune")
    agent = Agent(
        name="a",
        model="openai:my-fine-tune",
        planning_enabled=True,
        planning_model="openai:gpt-4o-mini",
    )
    cost = (await run(agent, "task", provider=provider)).cost
    assert cost.plan == GPT_4O_MINI_CALL
    assert cost.execute is None
    assert cost.total is None
    assert cost.known == GPT_4O_MINI_CALL  # a lower bound
    assert cost.unpriced == ("openai:my-fine-tune",)


async def test_to_dict_carries_the_cost_as_exact_decimal_strings() -> None:
    provider, _ = openai_at(server)
    agent = Agent(name="boss", model="openai:gpt-4o", allow_self_spawn=True)
    data = (await run(agent, "the task", provider=provider)).to_dict()
    assert data["cost"] == {
        "total": "0.0105",
        "plan": "0",
        "execute": "0.0070",
        "children": "0.0035",
        "known": "0.0105",
        "unpriced": [],
    }
    assert data["calls"][0] == [
        "openai:gpt-4o",
        {
            "requests": 1,
            "input_tokens": 1_000,
            "output_tokens": 100,
            "cache_read_tokens": 0,
            "cache_write_tokens": 0,
            "reasoning_tokens": 0,
            "unreported": 0,
        },
    ]


def test_a_run_without_a_budget_prices_nothing_until_its_cost_is_read() -> None:
    """The price table is not even imported by a run; reading ``result.cost`` loads it."""
    code = textwrap.dedent(
        """
        import dataclasses, sys
        from exo import Agent, run
        result = run.sync(Agent(name="a", model="test:x"), "hi")
        print("genai_prices" in sys.modules)
        calls = [("openai:gpt-4o", result.usage)]
        print(dataclasses.replace(result, calls=calls).cost.total > 0)
        print("genai_prices" in sys.modules)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["False", "True", "True"]
