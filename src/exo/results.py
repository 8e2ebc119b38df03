"""exo's run results: usage, cost, the plan, children, approval requests and ``RunResult``.

Frozen, keyword-only dataclasses that pydantic can validate and serialize; re-exported by
:mod:`exo.types` (import them from there, or from ``exo``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Generic, Literal

import pydantic_core
from typing_extensions import TypeVar

from exo._lazy import lazy_adapter
from exo.messages import Message

if TYPE_CHECKING:
    from pydantic import TypeAdapter

__all__ = [
    "ApprovalRequest",
    "ChildResult",
    "Cost",
    "FinishReason",
    "ModelCall",
    "OutputT",
    "PlanResult",
    "PlanStep",
    "PlanStepStatus",
    "RunResult",
    "RunStatus",
    "Usage",
]


# --------------------------------------------------------------------------- usage and results

FinishReason = Literal["stop", "tool_calls", "length", "content_filter", "refusal", "other"]
"""Why a model turn ended: ``refusal`` means the model declined (see ``RunResult.refusal``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Usage:
    """Token usage; adds up with ``+``.

    Attributes:
        requests: Number of model calls this usage covers.
        input_tokens: Prompt tokens, including cached ones.
        output_tokens: Completion tokens, including reasoning tokens.
        cache_read_tokens: Prompt tokens served from the provider's cache.
        cache_write_tokens: Prompt tokens written to the provider's cache.
        reasoning_tokens: Output tokens spent on reasoning.
        unreported: How many of the ``requests`` the server reported no usage for: their
            tokens are unknown, not zero (the counts above leave them out).
    """

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    unreported: int = 0

    @property
    def known(self) -> bool:
        """Whether every request's usage was reported (the counts are the whole cost)."""
        return self.unreported == 0

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            requests=self.requests + other.requests,
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_read_tokens=self.cache_read_tokens + other.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
            reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens,
            unreported=self.unreported + other.unreported,
        )


ModelCall = tuple[str, Usage]
"""One model call as its price is computed: ``(model, usage)``.

``model`` is the ``"backend:model"`` of the provider that made the call, as configured (the
model you chose; the dated name a server may answer with, e.g. ``gpt-4o-2024-08-06``, is in
the UsageEvent). A plain pair, not a dataclass: one is recorded per model call of every run,
and a frozen dataclass costs ~5k CPU instructions to build (2 % of exo's work per call).
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class Cost:
    """What a run cost in US dollars, by phase (see :mod:`exo.cost`).

    ``None`` means unknown, never free: a phase is ``None`` when one of its calls has no known
    price (or no reported usage), and ``total`` is ``None`` when any phase is. A phase without
    calls, and any call on a self-hosted or test backend, costs exactly ``Decimal(0)``.

    Attributes:
        total: Planner, executor and children together.
        plan: The planner's calls.
        execute: The executor's own calls.
        children: Every call of the children started with ``spawn_self`` (theirs included).
        known: What the calls with a known price cost (equals ``total`` when that is known;
            otherwise a lower bound).
        unpriced: The ``backend:model`` of every call that could not be priced.
    """

    total: Decimal | None
    plan: Decimal | None = Decimal(0)
    execute: Decimal | None = Decimal(0)
    children: Decimal | None = Decimal(0)
    known: Decimal = Decimal(0)
    unpriced: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanResult:
    """What the planner pre-pass produced and what it cost.

    Attributes:
        text: The plan (the planner's final text, stripped). Empty means no injection.
        model: The planner's ``backend:model`` string.
        usage: The planner's own usage (also included in ``RunResult.usage``).
        steps: The planner's model calls.
        skipped: Why the plan was not used (``planning_on_error="skip"``), else ``None``.
        calls: The planner's model calls (what its cost is computed from).
        checklist: With ``planning_format="steps"``: the plan's steps and their status (the
            run's todo list); after a replan, the revised steps follow the ones they replaced.
        replans: How many times the planner revised the plan during the run (``replan_on``).
        cached: The plan came from the plan cache (no model call; usage and steps are 0).
    """

    text: str
    model: str
    usage: Usage = field(default_factory=Usage)
    steps: int = 0
    skipped: str | None = None
    calls: list[ModelCall] = field(default_factory=list)
    checklist: tuple[PlanStep, ...] = ()
    replans: int = 0
    cached: bool = False


PlanStepStatus = Literal["pending", "done", "replaced"]
"""A plan step's status: to do, ticked off by the executor, or superseded by a revised plan."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanStep:
    """One step of a structured plan (``planning_format="steps"``).

    Attributes:
        title: What to do, in a sentence.
        done_when: What shows the step is done (may be empty).
        tools: Tools the planner suggests for it (hints, not a restriction).
        status: ``"pending"``, ``"done"`` (the executor ticked its todo) or ``"replaced"``.
        todo: Its number in the run's todo list (``Context.todos``, 1-based; 0: not yet
            on the list).
    """

    title: str
    done_when: str = ""
    tools: tuple[str, ...] = ()
    status: PlanStepStatus = "pending"
    todo: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ChildResult:
    """One child run started by ``spawn_self``.

    Attributes:
        name: The child agent's name.
        task: The task the child was given.
        output: The child's answer ("" if it failed).
        usage: Everything the child cost, its own children included.
        steps: The child's model calls.
        error: Why the child failed, else ``None``.
        calls: Every model call of the child, its own children's included.
    """

    name: str
    task: str
    output: str = ""
    usage: Usage = field(default_factory=Usage)
    steps: int = 0
    error: str | None = None
    calls: list[ModelCall] = field(default_factory=list)


OutputT = TypeVar("OutputT", default=str)
"""The type of an agent's answer (``str`` unless its ``output_type`` says otherwise)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalRequest:
    """A call (or a plan) that waits for a person's answer (see ``exo.approval``).

    Attributes:
        kind: ``"tool"`` for a tool call, ``"plan"`` for the planner's plan.
        call_id: The tool call's id (the key of ``run(..., approvals={call_id: ...})``);
            ``"plan"`` for a plan.
        tool_name: The tool the model called ("" for a plan).
        arguments: The call's arguments as the model sent them, parsed from JSON.
        agent_name: The agent whose model made the call.
        lineage: Names of the agent's parents, outermost first (empty at the top level).
        plan: The plan text, for ``kind="plan"``.
    """

    kind: Literal["tool", "plan"]
    call_id: str
    agent_name: str
    tool_name: str = ""
    arguments: dict[str, Any] = field(default_factory=dict)
    lineage: tuple[str, ...] = ()
    plan: str = ""


RunStatus = Literal["completed", "paused"]
"""``"paused"``: the run waits for approvals (``RunResult.pending``); else ``"completed"``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult(Generic[OutputT]):
    """The honest outcome of a run.

    Attributes:
        output: The final answer: its text, or with an ``output_type`` the validated value
            (the JSON the model sent is the last assistant message, or its ``final_result``
            tool call).
        messages: The whole transcript the executor worked with: system prompt, history, the
            (plan-augmented) input, and every assistant and tool message of the run.
        new_messages: The messages this turn added, starting with the user's *original* input
            (what memory stores).
        usage: Every model call's usage: executor, planner and children.
        steps: The executor's model calls.
        agent_name: The agent that ran.
        model: The executor's ``backend:model``.
        plan: The planner pre-pass, when planning was enabled.
        children: Child runs started with ``spawn_self``.
        execute_usage: The executor's own usage (without planner and children).
        conversation_id: The memory conversation this turn belongs to, if any.
        finish_reason: How the executor's last model response ended: ``"stop"`` for an
            ordinary answer, ``"refusal"`` when the model declined (see :attr:`refusal`),
            ``"content_filter"`` when the provider's filter cut it, ``"other"`` when the
            server gave a reason exo does not know (or none).
        refusal: When ``finish_reason == "refusal"``: the model's refusal text, or an
            explanation when the provider sent none; else ``None``.
        status: ``"completed"``, or ``"paused"`` when the run waits for a person's approval.
        pending: What a paused run waits for (tool calls, or the plan).
        state: A paused run's whole state as JSON-ready data: pass it back as
            ``run(agent, resume=result.state, approvals={...})``, in this process or another.
        calls: The executor's own model calls, in order: the model that answered and the
            usage of each (the planner's are in ``plan.calls``, the children's in
            ``children[i].calls``). :attr:`cost` is computed from them.
    """

    output: OutputT
    messages: list[Message]
    new_messages: list[Message] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    steps: int = 0
    agent_name: str = ""
    model: str = ""
    plan: PlanResult | None = None
    children: list[ChildResult] = field(default_factory=list)
    execute_usage: Usage = field(default_factory=Usage)
    conversation_id: str | None = None
    finish_reason: FinishReason = "stop"
    refusal: str | None = None
    status: RunStatus = "completed"
    pending: list[ApprovalRequest] = field(default_factory=list)
    state: dict[str, Any] | None = None
    calls: list[ModelCall] = field(default_factory=list)

    @property
    def cost(self) -> Cost:
        """What the run cost in US dollars, by phase; computed when read (see ``exo.cost``)."""
        from exo.cost import run_cost  # the price table loads on first use, not with exo

        return run_cost(self)

    @property
    def text(self) -> str:
        """The answer as text: :attr:`output` itself, or a typed output as JSON."""
        if isinstance(self.output, str):
            return self.output
        return pydantic_core.to_json(self.output).decode()

    @property
    def usage_by_phase(self) -> dict[str, Usage]:
        """Usage split by phase: ``plan``, ``execute`` (executor's own calls), ``children``."""
        children = Usage()
        for child in self.children:
            children = children + child.usage
        return {
            "plan": self.plan.usage if self.plan else Usage(),
            "execute": self.execute_usage,
            "children": children,
        }

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict of the whole result."""
        typed = not isinstance(self.output, str)
        this: RunResult[Any] = self
        plain = dataclasses.replace(this, output="") if typed else this
        data: dict[str, Any] = _RESULT_ADAPTER.dump_python(plain, mode="json")
        if typed:  # a pydantic model, dataclass, TypedDict, list...: dumped as JSON data
            data["output"] = pydantic_core.to_jsonable_python(self.output)
        # Every usage carries its total (a property, so the adapter leaves it out).
        data["usage"]["total_tokens"] = self.usage.total_tokens
        data["execute_usage"]["total_tokens"] = self.execute_usage.total_tokens
        if self.plan is not None:
            data["plan"]["usage"]["total_tokens"] = self.plan.usage.total_tokens
        for child, child_data in zip(self.children, data["children"], strict=True):
            child_data["usage"]["total_tokens"] = child.usage.total_tokens
        data["usage_by_phase"] = {
            k: {**_USAGE_ADAPTER.dump_python(v, mode="json"), "total_tokens": v.total_tokens}
            for k, v in self.usage_by_phase.items()
        }
        # Amounts as strings: exact decimals (a float would print 0.0032500000000000003).
        data["cost"] = _COST_ADAPTER.dump_python(self.cost, mode="json")
        return data


# built on first use (exo._lazy): not on every import of exo
_RESULT_ADAPTER: TypeAdapter[RunResult[Any]] = lazy_adapter(RunResult[str])
_USAGE_ADAPTER: TypeAdapter[Usage] = lazy_adapter(Usage)
_COST_ADAPTER: TypeAdapter[Cost] = lazy_adapter(Cost)
