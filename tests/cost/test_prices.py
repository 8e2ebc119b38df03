"""Cost checked by hand against the price table, through the real adapters' usage parsing.

The prices below are genai-prices' (the version pinned by ``exo-agents[cost]``), written out
here so the arithmetic can be read and checked; they are also the providers' list prices.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from exo import Agent, run
from exo.cost import call_cost, price_known, total_cost
from exo.types import Cost, Usage

from .support import anthropic_at, openai_at

M = Decimal(1_000_000)


async def test_gpt_4o_with_cached_input_tokens() -> None:
    # genai-prices, provider "openai", model "gpt-4o": input $2.50 / MTok, cached input
    # (cache read) $1.25 / MTok, output $10.00 / MTok.
    input_, cached, output = Decimal("2.50"), Decimal("1.25"), Decimal("10.00")

    def server(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        # OpenAI counts cached tokens inside prompt_tokens (prompt_tokens_details).
        usage = {
            "prompt_tokens": 12_000,
            "completion_tokens": 500,
            "prompt_tokens_details": {"cached_tokens": 8_000},
        }
        return {"role": "assistant", "content": "hello"}, usage

    provider, _ = openai_at(server)
    result = await run(Agent(name="a", model="openai:gpt-4o"), "hi", provider=provider)

    assert result.usage.input_tokens == 12_000  # cached ones included, as exo counts
    assert result.usage.cache_read_tokens == 8_000
    by_hand = (12_000 - 8_000) * input_ / M + 8_000 * cached / M + 500 * output / M
    assert by_hand == Decimal("0.025")  # 0.01 uncached + 0.01 cached + 0.005 output
    assert result.calls == [("openai:gpt-4o", result.usage)]
    assert result.cost == Cost(
        total=by_hand, plan=Decimal(0), execute=by_hand, children=Decimal(0), known=by_hand
    )


async def test_claude_sonnet_4_with_cache_read_and_creation() -> None:
    # genai-prices, provider "anthropic", model "claude-sonnet-4-0" (claude-sonnet-4-20250514):
    # input $3 / MTok, cache read $0.30 / MTok, cache write (5 minutes) $3.75 / MTok,
    # output $15 / MTok.
    input_, read, write, output = Decimal(3), Decimal("0.30"), Decimal("3.75"), Decimal(15)

    def server(body: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, int]]:
        # Anthropic's input_tokens counts only the uncached tokens; exo adds the cached ones.
        usage = {
            "input_tokens": 2_000,
            "cache_read_input_tokens": 10_000,
            "cache_creation_input_tokens": 4_000,
            "output_tokens": 1_000,
        }
        return [{"type": "text", "text": "hello"}], usage

    provider, _ = anthropic_at(server, model="claude-sonnet-4-20250514")
    agent = Agent(name="a", model="anthropic:claude-sonnet-4-20250514")
    result = await run(agent, "hi", provider=provider)

    assert result.usage.input_tokens == 16_000
    by_hand = 2_000 * input_ / M + 10_000 * read / M + 4_000 * write / M + 1_000 * output / M
    assert by_hand == Decimal("0.039")  # 0.006 + 0.003 + 0.015 + 0.015
    assert result.cost.total == by_hand
    assert result.cost.execute == by_hand
    assert call_cost("anthropic:claude-sonnet-4-20250514", result.usage) == by_hand


def test_each_call_is_priced_on_its_own_so_a_tier_applies_only_where_a_request_crossed_it() -> None:
    # genai-prices, "claude-sonnet-4-5": input $3 / MTok and output $15 / MTok up to 200k
    # prompt tokens per request; a request above that pays $6 and $22.50 for all its tokens.
    call = Usage(requests=1, input_tokens=150_000, output_tokens=1_000)
    one = call_cost("anthropic:claude-sonnet-4-5", call)
    assert one == 150_000 * Decimal(3) / M + 1_000 * Decimal(15) / M  # 0.465
    calls = [("anthropic:claude-sonnet-4-5", call)] * 2
    assert total_cost(calls) == Decimal("0.930")
    # Priced as one lump, the same tokens would cross the tier: what exo must not do.
    lump = call_cost("anthropic:claude-sonnet-4-5", call + call)
    assert lump == 300_000 * Decimal(6) / M + 2_000 * Decimal("22.5") / M  # 1.845


def test_a_model_without_a_price_is_unknown_not_free() -> None:
    usage = Usage(requests=1, input_tokens=100, output_tokens=10)
    assert call_cost("openai:my-fine-tune-xyz", usage) is None
    assert call_cost("nosuchbackend:gpt-4o", usage) is None
    assert not price_known("openai:my-fine-tune-xyz")
    assert total_cost([("openai:my-fine-tune-xyz", usage)]) is None


def test_self_hosted_and_test_backends_cost_zero() -> None:
    usage = Usage(requests=1, input_tokens=100_000, output_tokens=10_000)
    for model in ("local:gemma-3-270m", "ollama:llama3", "vllm:x", "lmstudio:y", "test:z"):
        assert call_cost(model, usage) == Decimal(0)
        assert price_known(model)


def test_a_call_without_reported_usage_cannot_be_priced() -> None:
    assert call_cost("openai:gpt-4o", Usage(requests=1, unreported=1)) is None


def test_compatible_presets_are_looked_up_under_their_provider() -> None:
    usage = Usage(requests=1, input_tokens=1_000_000, output_tokens=1_000_000)
    # genai-prices, provider "groq", "llama-3.3-70b-versatile": $0.59 in, $0.79 out / MTok.
    assert call_cost("groq:llama-3.3-70b-versatile", usage) == Decimal("1.38")
    # genai-prices, provider "deepseek", "deepseek-chat": $0.27 in, $1.10 out / MTok, and
    # half that in its off-peak hours (16:30-00:30 UTC)
    noon, evening = (datetime(2026, 11, 29, hour, tzinfo=UTC) for hour in (12, 20))
    assert call_cost("deepseek:deepseek-chat", usage, at=noon) == Decimal("1.37")
    assert call_cost("deepseek:deepseek-chat", usage, at=evening) == Decimal("0.685")
    # The Responses API is priced like Chat Completions: gpt-4o-mini $0.15 in, $0.60 out.
    assert call_cost("openai-responses:gpt-4o-mini", usage) == Decimal("0.75")


async def test_a_server_reporting_more_cached_tokens_than_prompt_tokens_costs_no_less_than_0() -> (
    None
):
    # A compat server that counts cached tokens apart from prompt_tokens (or lies): the
    # price must not go negative, or a budget would count the call as money given back.
    def server(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        usage = {
            "prompt_tokens": 100,
            "completion_tokens": 10,
            "prompt_tokens_details": {"cached_tokens": 1_000_000},
        }
        return {"role": "assistant", "content": "hello"}, usage

    provider, _ = openai_at(server)
    result = await run(Agent(name="a", model="openai:gpt-4o"), "hi", provider=provider)
    # all 100 prompt tokens at the cached rate ($1.25 / MTok), 10 output at $10.00 / MTok
    by_hand = 100 * Decimal("1.25") / M + 10 * Decimal("10.00") / M
    assert result.cost.total == by_hand


def test_inconsistent_usage_is_clamped_and_never_priced_below_0() -> None:
    odd = [
        Usage(requests=1, input_tokens=0, cache_read_tokens=10**6),
        Usage(requests=1, input_tokens=10, cache_read_tokens=10**6, cache_write_tokens=10**6),
        Usage(requests=1, output_tokens=5, reasoning_tokens=10**9),
    ]
    for model in ("openai:gpt-4o", "anthropic:claude-sonnet-4-5", "openai:o3-mini"):
        for usage in odd:
            cost = call_cost(model, usage)
            assert cost is not None and cost >= 0, (model, usage, cost)
