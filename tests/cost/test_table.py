"""exo's own pricing from the table's rates (tiers included) agrees with genai-prices' own
calculation, for every model of the providers exo's backends map to, on any usage; and it
covers all but the audio, image and realtime models."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import genai_prices
import pytest
from genai_prices.data_snapshot import get_snapshot
from hypothesis import given, settings
from hypothesis import strategies as st

from exo.cost import PRICE_PROVIDERS, _rates, call_cost
from exo.types import Usage

PROVIDERS = sorted(set(PRICE_PROVIDERS.values()))
MODELS = [
    (backend, model.id)
    for backend in ("openai", "anthropic", "groq", "together", "deepseek", "openrouter")
    for provider in get_snapshot().providers
    if provider.id == PRICE_PROVIDERS[backend]
    for model in provider.models
]


@st.composite
def usages(draw: st.DrawFn) -> Usage:
    read = draw(st.integers(0, 300_000))
    write = draw(st.integers(0, 300_000))
    uncached = draw(st.integers(0, 300_000))
    output = draw(st.integers(0, 100_000))
    return Usage(
        requests=1,
        input_tokens=uncached + read + write,
        output_tokens=output,
        cache_read_tokens=read,
        cache_write_tokens=write,
        reasoning_tokens=draw(st.integers(0, output)),
    )


def table(backend: str, model: str, usage: Usage) -> Decimal | None:
    counts = {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_read_tokens": usage.cache_read_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
    }
    if usage.reasoning_tokens:
        counts["output_reasoning_tokens"] = usage.reasoning_tokens
    try:
        price = genai_prices.calc_price(
            genai_prices.Usage(**counts),
            model_ref=model,
            provider_id=PRICE_PROVIDERS[backend],
            genai_request_timestamp=datetime.now(UTC),
        )
    except LookupError:  # an id its own match rule does not accept (e.g. "ft:gpt-4o")
        return None
    return price.total_price


def test_there_are_models_to_check_and_most_are_priced_flat() -> None:
    assert len(MODELS) > 200
    now = datetime.now(UTC)
    computed = [m for m in MODELS if isinstance(_rates(*m, now), tuple)]
    assert len(computed) > len(MODELS) * 3 // 4  # all but audio, image and realtime models


@settings(max_examples=20, deadline=None)
@given(usage=usages())
def test_every_model_costs_what_genai_prices_says(usage: Usage) -> None:
    for backend, model in MODELS:
        assert call_cost(f"{backend}:{model}", usage) == table(backend, model, usage), model


@pytest.mark.parametrize("backend", ["openai", "anthropic"])
def test_the_table_ids_of_the_main_backends_resolve(backend: str) -> None:
    assert backend in {b for b, _ in MODELS}


def _time_of_day_models() -> list[tuple[str, str]]:
    from genai_prices.types import TimeOfDateConstraint

    found = []
    for backend, model in MODELS:
        try:
            info = get_snapshot().find_provider_model(model, None, PRICE_PROVIDERS[backend], None)[
                1
            ]
        except LookupError:  # an id its own match rule does not accept (e.g. "ft:gpt-4o")
            continue
        prices = info.prices if isinstance(info.prices, list) else []
        if any(isinstance(p.constraint, TimeOfDateConstraint) for p in prices):
            found.append((backend, model))
    return found


def test_prices_that_change_with_the_time_of_day_are_those_of_the_calls_time() -> None:
    # DeepSeek bills less in its off-peak hours (16:30-00:30 UTC): a call is priced at the
    # rates of the minute it was made, as genai-prices prices it, whatever the hour now
    models = _time_of_day_models()
    assert ("deepseek", "deepseek-chat") in models
    usage = Usage(requests=1, input_tokens=1000, output_tokens=1000)
    day = datetime.now(UTC).date()
    for backend, model in models:
        costs = set()
        for hour, minute in ((12, 0), (16, 29), (16, 30), (20, 0), (0, 29), (0, 30)):
            at = datetime(day.year, day.month, day.day, hour, minute, 10, tzinfo=UTC)
            want = genai_prices.calc_price(
                genai_prices.Usage(input_tokens=1000, output_tokens=1000),
                model_ref=model,
                provider_id=PRICE_PROVIDERS[backend],
                genai_request_timestamp=at,
            ).total_price
            assert call_cost(f"{backend}:{model}", usage, at=at) == want, (model, at)
            costs.add(want)
        if model == "deepseek-chat":
            assert len(costs) == 2, costs  # peak and off-peak both seen
