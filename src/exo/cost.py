"""Money: what a model call, a run and its phases cost, and budgets that stop a run.

Prices come from ``genai-prices`` (the table the pydantic team maintains, bundled with the
package: nothing is fetched at run time; install it with ``pip install 'exo-agents[cost]'``).
A call is priced from its real usage: prompt tokens (exo's ``input_tokens`` counts cached ones
too, as the table expects), cache reads and writes at their own rates, and output tokens, per
call, so per-request price tiers (e.g. above 200k prompt tokens) apply only where a request
crossed them.

Amounts are :class:`~decimal.Decimal` US dollars (exact: the table's prices are decimal).
``None`` means *unknown* (no price for the model, or the server reported no usage), never
zero; self-hosted backends (``local``, ``ollama``, ``vllm``, ``lmstudio``) and the offline
``test`` backend cost exactly 0.

Pricing is not free (the table takes 0.3 s to import; a call then costs a few µs to price:
exo computes it from the table's rates, and leaves only unusual units, audio or images, to
genai-prices' own calculation, ~0.1 ms), so nothing is priced during a run unless it has a
``max_cost`` budget: ``result.cost`` prices the run's recorded calls when it is read.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from exo.errors import BudgetExceeded, ConfigError
from exo.types import Cost, ModelCall, Usage

if TYPE_CHECKING:
    from exo._options import RunOptions
    from exo._state import RunState
    from exo.agent import Agent
    from exo.models.base import Provider
    from exo.types import RunResult

__all__ = [
    "FREE_BACKENDS",
    "PRICE_PROVIDERS",
    "Budget",
    "call_cost",
    "price_known",
    "run_budget",
    "run_cost",
    "total_cost",
]

FREE_BACKENDS: frozenset[str] = frozenset({"local", "ollama", "vllm", "lmstudio", "test"})
"""Backends that run on hardware you already pay for (or nowhere): every call costs 0."""

PRICE_PROVIDERS: dict[str, str] = {
    "openai": "openai",
    "openai-responses": "openai",
    "anthropic": "anthropic",
    "groq": "groq",
    "together": "together",
    "deepseek": "deepseek",
    "openrouter": "openrouter",
}
"""exo backend → provider id in the price table. Other backends (your own, registered with
``register_provider``) are looked up under their own name (``mistral``, ``x-ai``…)."""

_INSTALL_HINT = "pip install 'exo-agents[cost]'"


def _prices() -> Any:
    """The genai-prices module, imported on first use (its table takes ~0.3 s to load)."""
    try:
        import genai_prices
    except ImportError:
        return None
    return genai_prices


@functools.lru_cache(maxsize=512)
def _lookup(backend: str, model: str) -> tuple[Any, Any] | None:
    """The table's (provider, model) for ``backend:model``, or ``None`` when it has none."""
    prices = _prices()
    if prices is None:
        return None
    from genai_prices.data_snapshot import get_snapshot

    try:
        found: tuple[Any, Any] = get_snapshot().find_provider_model(
            model, None, PRICE_PROVIDERS.get(backend, backend), None
        )
    except LookupError:
        return None
    return found


def price_known(model: str) -> bool:
    """Whether a ``backend:model`` has a known price (free backends always do)."""
    backend, _, name = model.partition(":")
    return backend in FREE_BACKENDS or _lookup(backend, name) is not None


def call_cost(model: str, usage: Usage, *, at: datetime | None = None) -> Decimal | None:
    """Return what one model call cost in US dollars, or ``None`` if that is unknown.

    This is the function to put a call's cost on a tracing span: a few µs (the first call
    imports the price table, ~0.3 s), ~0.1 ms for the audio and image models that
    genai-prices prices itself.

    Args:
        model: ``"backend:model"``, the backend as in exo's model strings
            (``"openai:gpt-4o"``, ``"anthropic:claude-sonnet-4-6"``).
        usage: The call's usage (``input_tokens`` including cached ones, as exo counts).
        at: When the call was made (an aware datetime; default: now). Prices change on
            dates, and some by the time of day (DeepSeek's off-peak hours).

    Returns:
        The cost (``Decimal(0)`` on self-hosted and test backends), or ``None`` when the price
        table has no price for the model, genai-prices is not installed, or the server did
        not report the call's usage.
    """
    backend, _, name = model.partition(":")
    if backend in FREE_BACKENDS:
        return Decimal(0)
    if usage.unreported:
        return None
    usage = _consistent(usage)
    # prices change on dates and, for some models, by the time of day (DeepSeek's off-peak
    # hours): the rates of this minute (boundaries fall on whole minutes)
    when = datetime.now(UTC) if at is None else at.astimezone(UTC)
    rates = _rates(backend, name, when.replace(second=0, microsecond=0))
    if rates is None:
        return None
    if rates == "table":
        return _table_cost(backend, name, usage, when)
    # A tier (e.g. above 200k prompt tokens) is chosen by the request's prompt size and then
    # applies to all its tokens, as genai-prices and the providers do.
    input_, output, read, write = (_at(rate, usage.input_tokens) for rate in rates)
    assert input_ is not None and output is not None  # else _rates says "table"
    uncached = usage.input_tokens
    total = usage.output_tokens * output
    # Cached tokens are part of input_tokens; where the model has no cache rate, they are
    # billed as ordinary input (genai-prices does the same).
    if read is not None:
        total += usage.cache_read_tokens * read
        uncached -= usage.cache_read_tokens
    if write is not None:
        total += usage.cache_write_tokens * write
        uncached -= usage.cache_write_tokens
    return (total + uncached * input_) / _PER_MILLION


def _consistent(usage: Usage) -> Usage:
    """``usage`` with cached tokens no more than the prompt's, reasoning no more than the
    output's: a server that reports more (a buggy compat server, a hostile one) would
    otherwise get a negative price, which a budget would count as money given back."""
    read = min(usage.cache_read_tokens, usage.input_tokens)
    write = min(usage.cache_write_tokens, usage.input_tokens - read)
    reasoning = min(usage.reasoning_tokens, usage.output_tokens)
    if (read, write, reasoning) == (
        usage.cache_read_tokens,
        usage.cache_write_tokens,
        usage.reasoning_tokens,
    ):
        return usage
    return dataclasses.replace(
        usage, cache_read_tokens=read, cache_write_tokens=write, reasoning_tokens=reasoning
    )


def _at(rate: Any, input_tokens: int) -> Decimal | None:
    """A rate for a request of ``input_tokens`` prompt tokens: itself, or its tier's price."""
    if rate is None or isinstance(rate, Decimal):
        return rate
    price: Decimal = rate.base
    for tier in reversed(rate.tiers):  # sorted by start, ascending
        if input_tokens > tier.start:
            return Decimal(tier.price)
    return price


_PER_MILLION = Decimal(1_000_000)
# Price keys exo computes itself: token rates, and counts exo never reports (so 0).
_FLAT_KEYS = frozenset(
    {
        "input_mtok",
        "output_mtok",
        "cache_read_mtok",
        "cache_write_mtok",
        "cache_write_1h_mtok",  # exo's usage has no one-hour writes: none are billed at it
        "web_searches_kcount",
        "storage_searches_kcount",
    }
)
Rates = tuple[Any, Any, Any, Any]
"""Input, output, cache read, cache write: each a Decimal $/MTok, genai-prices'
``TieredPrices``, or ``None`` (the model has no such rate)."""


@functools.lru_cache(maxsize=512)
def _rates(backend: str, model: str, at: datetime) -> Rates | Literal["table"] | None:
    """The model's :data:`Rates` at ``at`` (a UTC time: prices change on dates, some by the
    time of day), ``"table"`` for prices only genai-prices can compute (other units),
    ``None`` if unknown."""
    found = _lookup(backend, model)
    if found is None:
        return None
    prices = found[1].get_prices(at).__dict__
    keys = {k for k, v in prices.items() if v is not None and not k.startswith("_")}
    rates = [prices.get(k) for k in ("input_mtok", "output_mtok")]
    rates += [prices.get(k) for k in ("cache_read_mtok", "cache_write_mtok")]
    plain = all(isinstance(prices[k], Decimal) or hasattr(prices[k], "tiers") for k in keys)
    if not keys <= _FLAT_KEYS or not plain or rates[0] is None or rates[1] is None:
        return "table"  # price it with genai-prices' own calculation
    return rates[0], rates[1], rates[2], rates[3]


def _table_cost(backend: str, model: str, usage: Usage, at: datetime) -> Decimal:
    """Price a call with genai-prices' own calculation (prices in units exo does not
    compute: audio, images, characters...)."""
    found = _lookup(backend, model)
    assert found is not None  # _rates found it
    provider, info = found
    counts = {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_read_tokens": usage.cache_read_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
    }
    if usage.reasoning_tokens:  # part of output_tokens; a few models price them apart
        counts["output_reasoning_tokens"] = usage.reasoning_tokens
    usage_ = _prices().Usage(**counts)
    total: Decimal = info.calc_price(usage_, provider, genai_request_timestamp=at).total_price
    return total


def total_cost(calls: Iterable[ModelCall]) -> Decimal | None:
    """The sum of the calls' costs; ``None`` if any of them is unknown (0 for no calls)."""
    total = Decimal(0)
    for model, usage in calls:
        cost = call_cost(model, usage)
        if cost is None:
            return None
        total += cost
    return total


def _phase(calls: Sequence[ModelCall], unpriced: set[str]) -> tuple[Decimal | None, Decimal]:
    """(cost or ``None`` if any call is unknown, cost of the known calls)."""
    known, whole = Decimal(0), True
    for model, usage in calls:
        cost = call_cost(model, usage)
        if cost is None:
            whole = False
            unpriced.add(model if usage.known else f"{model} (usage not reported)")
        else:
            known += cost
    return (known if whole else None), known


def run_cost(result: RunResult[Any]) -> Cost:
    """Price every model call of a run, by phase (what ``result.cost`` returns)."""
    unpriced: set[str] = set()
    plan, plan_known = _phase(result.plan.calls if result.plan else [], unpriced)
    execute, execute_known = _phase(result.calls, unpriced)
    children_calls = [c for child in result.children for c in child.calls]
    children, children_known = _phase(children_calls, unpriced)
    parts = (plan, execute, children)
    total = None if any(p is None for p in parts) else plan_known + execute_known + children_known
    return Cost(
        total=total,
        plan=plan,
        execute=execute,
        children=children,
        known=plan_known + execute_known + children_known,
        unpriced=tuple(sorted(unpriced)),
    )


# --------------------------------------------------------------------------- budgets


def _as_money(value: object, parameter: str, where: str) -> Decimal | None:
    """Check a ``max_cost`` (dollars > 0, or ``None``) and return it as a Decimal."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise ConfigError(
            f"{where}{parameter} must be an amount in US dollars (a number > 0) or None, "
            f"got {type(value).__name__} ({value!r:.80})",
            parameter=parameter,
        )
    try:
        # str() first, so 0.1 is 0.1 and not the binary float's long tail.
        money = Decimal(str(value)) if not isinstance(value, Decimal) else value
    except ArithmeticError:
        money = Decimal("NaN")
    if not money.is_finite() or money <= 0:
        raise ConfigError(
            f"{where}{parameter} must be a finite amount in US dollars > 0, got {value!r:.80}",
            parameter=parameter,
            hint="e.g. max_cost=0.50 stops the run once it has spent 50 cents",
        )
    return money


def _as_tokens(value: object, parameter: str, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(
            f"{where}{parameter} must be an integer >= 1 or None, got {value!r:.80}",
            parameter=parameter,
        )
    return value


def check_limits(max_cost: object, max_tokens_total: object, *, where: str = "") -> None:
    """Validate ``max_cost`` and ``max_tokens_total`` (``where``: ``"run(): "`` or "")."""
    _as_money(max_cost, "max_cost", where)
    _as_tokens(max_tokens_total, "max_tokens_total", where)


class Budget:
    """What a run tree may still spend: shared by a run, its planner and all its children.

    Each model call is charged right after it returns (its tokens, and with ``max_cost`` its
    price); before each model call the loop asks :meth:`check`, which raises once a limit is
    reached. So a run stops at the next step boundary after crossing its budget, and the
    call that crossed it is the last one paid for (one per agent running at that moment).

    Args:
        max_cost: Most US dollars for the whole tree, or ``None``.
        max_tokens_total: Most tokens (input + output) for the whole tree, or ``None``.
    """

    __slots__ = ("cost", "max_cost", "max_tokens_total", "tokens")

    def __init__(self, *, max_cost: object = None, max_tokens_total: object = None) -> None:
        self.max_cost = _as_money(max_cost, "max_cost", "")
        self.max_tokens_total = _as_tokens(max_tokens_total, "max_tokens_total", "")
        self.cost = Decimal(0)
        self.tokens = 0

    def __repr__(self) -> str:
        return (
            f"Budget(cost={self.cost}/{self.max_cost}, "
            f"tokens={self.tokens}/{self.max_tokens_total})"
        )

    def require_prices(self, models: Iterable[str]) -> None:
        """Refuse a cost budget over models whose price is unknown (before any call).

        Raises:
            ConfigError: genai-prices is not installed, or a model has no known price.
        """
        if self.max_cost is None:
            return
        unknown = sorted({m for m in models if not price_known(m)})
        if not unknown:
            return
        if _prices() is None and any(m.partition(":")[0] not in FREE_BACKENDS for m in unknown):
            raise ConfigError(
                f"max_cost needs the price table, and genai-prices is not installed "
                f"(models: {', '.join(unknown)})",
                parameter="max_cost",
                hint=_INSTALL_HINT,
            )
        raise ConfigError(
            f"max_cost cannot be kept: no price is known for {', '.join(map(repr, unknown))} "
            "(genai-prices has none), so the run's spending could not be counted",
            parameter="max_cost",
            hint="limit tokens instead with max_tokens_total=, or use a model the price table "
            "knows",
        )

    def charge(self, model: str, usage: Usage) -> None:
        """Count one call's tokens (and, with ``max_cost``, its price)."""
        self.tokens += usage.total_tokens
        if self.max_cost is not None:
            cost = call_cost(model, usage)
            # A call whose usage the server did not report cannot be priced: it is counted
            # as nothing, and the report of the result (cost.unpriced) says so.
            if cost is not None:
                self.cost += cost

    def charge_all(self, calls: Iterable[ModelCall]) -> None:
        """Count calls made before this budget existed (a resumed run's)."""
        for model, usage in calls:
            self.charge(model, usage)

    def spent(self) -> Literal["max_cost", "max_tokens_total"] | None:
        """Which limit is reached, if any."""
        if self.max_cost is not None and self.cost >= self.max_cost:
            return "max_cost"
        if self.max_tokens_total is not None and self.tokens >= self.max_tokens_total:
            return "max_tokens_total"
        return None

    def check(self, agent_name: str, result: Any) -> None:
        """Raise :class:`BudgetExceeded` (with ``result()``, the partial result) if spent.

        Args:
            agent_name: The agent about to make a model call.
            result: A function returning the partial RunResult, built only when raising.
        """
        limit = self.spent()
        if limit is None:
            return
        if limit == "max_cost":
            what = f"max_cost=${self.max_cost} (spent ${self.cost})"
        else:
            what = f"max_tokens_total={self.max_tokens_total:,} (used {self.tokens:,} tokens)"
        raise BudgetExceeded(
            f"agent {agent_name!r} stopped before its next model call: the run has reached "
            f"{what}; the work done so far is in this error's .result",
            result=result(),
            limit=limit,
            hint=f"raise {limit}, or give the agent a smaller task",
        )


def start_budget(
    max_cost: object,
    max_tokens_total: int | None,
    *,
    models: Iterable[str],
    spent: Iterable[ModelCall] = (),
) -> Budget | None:
    """The budget of a top-level run (``None`` without limits: nothing is counted).

    Args:
        max_cost: The run's (or else the agent's) ``max_cost``.
        max_tokens_total: The run's (or else the agent's) ``max_tokens_total``.
        models: Every ``backend:model`` the run will call (executor, planner).
        spent: Calls already made (a resumed run's), counted against the budget.

    Raises:
        ConfigError: ``max_cost`` is set and a model has no known price.
    """
    if max_cost is None and max_tokens_total is None:
        return None
    budget = Budget(max_cost=max_cost, max_tokens_total=max_tokens_total)
    budget.require_prices(models)
    budget.charge_all(spent)
    return budget


def run_budget(
    agent: Agent[Any], provider: Provider, state: RunState, options: RunOptions
) -> Budget | None:
    """A top-level run's budget (the run's limits, else the agent's), or ``None``.

    Raises:
        ConfigError: ``max_cost`` is set and the executor's or planner's model has no price.
    """
    max_cost = agent.max_cost if options.max_cost is None else options.max_cost
    max_tokens = options.max_tokens_total or agent.max_tokens_total
    if max_cost is None and max_tokens is None:
        return None  # the common case: nothing to count
    models = [f"{provider.backend}:{provider.model}"]
    if agent.planning_enabled and agent.planning_model not in (None, agent.model):
        models.append(str(agent.planning_model))
    return start_budget(max_cost, max_tokens, models=models, spent=state.all_calls())
