"""exo's own data types: usage, results and stream events (and, re-exported from
:mod:`exo.messages`, messages and content blocks).

All of them are frozen, keyword-only dataclasses with a literal tag (``role`` for messages,
``type`` for blocks and events), so unions discriminate on it and pydantic can validate and
serialize them (see :data:`MESSAGES_ADAPTER`). They are vendor-neutral: the adapters under
``exo.models`` translate them to and from each provider's wire format.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, Literal

import pydantic_core
from pydantic import Field, TypeAdapter
from typing_extensions import TypeVar

from exo.messages import (
    MESSAGES_ADAPTER,
    AssistantMessage,
    ContentBlock,
    DocumentBlock,
    ImageBlock,
    Message,
    MessageContent,
    ReasoningBlock,
    SystemMessage,
    TextBlock,
    ToolCall,
    ToolResult,
    UserMessage,
    text_of,
)

__all__ = [
    "MESSAGES_ADAPTER",
    "ApprovalRequest",
    "ApprovalRequiredEvent",
    "AssistantMessage",
    "ChildResult",
    "ContentBlock",
    "DocumentBlock",
    "ErrorEvent",
    "FinishReason",
    "ImageBlock",
    "Message",
    "MessageContent",
    "OutputEvent",
    "OutputT",
    "PlanCompleteEvent",
    "PlanResult",
    "PlanSkippedEvent",
    "PlanStartEvent",
    "ReasoningBlock",
    "ReasoningEvent",
    "RunCompleteEvent",
    "RunResult",
    "RunStartEvent",
    "RunStatus",
    "StepEvent",
    "StreamEvent",
    "SystemMessage",
    "TextBlock",
    "TextEvent",
    "ToolCall",
    "ToolCallEvent",
    "ToolResult",
    "ToolResultEvent",
    "Usage",
    "UsageEvent",
    "UserMessage",
    "WarningEvent",
    "text_of",
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


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanResult:
    """What the planner pre-pass produced and what it cost.

    Attributes:
        text: The plan (the planner's final text, stripped). Empty means no injection.
        model: The planner's ``backend:model`` string.
        usage: The planner's own usage (also included in ``RunResult.usage``).
        steps: The planner's model calls.
        skipped: Why the plan was not used (``planning_on_error="skip"``), else ``None``.
        cached: The plan came from the plan cache (no model call; usage and steps are 0).
    """

    text: str
    model: str
    usage: Usage = field(default_factory=Usage)
    steps: int = 0
    skipped: str | None = None
    cached: bool = False


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
    """

    name: str
    task: str
    output: str = ""
    usage: Usage = field(default_factory=Usage)
    steps: int = 0
    error: str | None = None


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
        return data


_RESULT_ADAPTER: TypeAdapter[RunResult[Any]] = TypeAdapter(RunResult[str])
_USAGE_ADAPTER: TypeAdapter[Usage] = TypeAdapter(Usage)

# --------------------------------------------------------------------------- stream events
# Every event names the agent it comes from; ``lineage`` is the chain of parent agent names
# for events forwarded from spawned children (empty for the top-level run).


@dataclass(frozen=True, slots=True, kw_only=True)
class TextEvent:
    """A piece of the model's answer text (always streamed)."""

    agent_name: str
    text: str
    lineage: tuple[str, ...] = ()
    type: Literal["text"] = "text"


@dataclass(frozen=True, slots=True, kw_only=True)
class ReasoningEvent:
    """A piece of model reasoning text (``detailed=True`` only)."""

    agent_name: str
    text: str
    lineage: tuple[str, ...] = ()
    type: Literal["reasoning"] = "reasoning"


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCallEvent:
    """The model called a tool (always streamed, before the tool runs)."""

    agent_name: str
    tool_call_id: str
    tool_name: str
    arguments: str
    lineage: tuple[str, ...] = ()
    type: Literal["tool_call"] = "tool_call"


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolResultEvent:
    """A tool finished (always streamed)."""

    agent_name: str
    tool_call_id: str
    tool_name: str
    content: MessageContent
    is_error: bool = False
    duration_ms: float = 0.0
    lineage: tuple[str, ...] = ()
    type: Literal["tool_result"] = "tool_result"


@dataclass(frozen=True, slots=True, kw_only=True)
class StepEvent:
    """A model step started or completed (``detailed=True`` only)."""

    agent_name: str
    step: int
    status: Literal["started", "completed"]
    lineage: tuple[str, ...] = ()
    type: Literal["step"] = "step"


@dataclass(frozen=True, slots=True, kw_only=True)
class UsageEvent:
    """Usage of one model call (``detailed=True`` only)."""

    agent_name: str
    usage: Usage
    step: int
    model: str
    lineage: tuple[str, ...] = ()
    type: Literal["usage"] = "usage"


@dataclass(frozen=True, slots=True, kw_only=True)
class RunStartEvent:
    """The executor's loop starts (``detailed=True`` only)."""

    agent_name: str
    model: str
    lineage: tuple[str, ...] = ()
    type: Literal["run_start"] = "run_start"


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanStartEvent:
    """The planner pre-pass starts (``detailed=True`` only)."""

    agent_name: str
    model: str
    lineage: tuple[str, ...] = ()
    type: Literal["plan_start"] = "plan_start"


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanCompleteEvent:
    """The planner pre-pass finished (``detailed=True`` only)."""

    agent_name: str
    plan: PlanResult
    lineage: tuple[str, ...] = ()
    type: Literal["plan_complete"] = "plan_complete"


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanSkippedEvent:
    """The planner failed and ``planning_on_error="skip"`` runs the executor unplanned.

    Always streamed: it is a warning the user should see.
    """

    agent_name: str
    reason: str
    lineage: tuple[str, ...] = ()
    type: Literal["plan_skipped"] = "plan_skipped"


@dataclass(frozen=True, slots=True, kw_only=True)
class WarningEvent:
    """Something the user should know that does not stop the run (always streamed).

    Attributes:
        agent_name: The agent the warning concerns.
        code: A stable name for the kind of warning (``"plan_cut"``).
        message: What happened, for a person.
    """

    agent_name: str
    code: str
    message: str
    lineage: tuple[str, ...] = ()
    type: Literal["warning"] = "warning"


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorEvent:
    """The run failed; the exception is raised right after this event (always streamed)."""

    agent_name: str
    error: str
    error_type: str
    lineage: tuple[str, ...] = ()
    type: Literal["error"] = "error"


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputEvent:
    """The typed answer as it grows (agents with an ``output_type``; always streamed).

    Attributes:
        partial: The answer parsed so far: a (partial) instance of the output type when
            what arrived validates, else the plain JSON data. The validated answer is
            ``result.output`` of the RunCompleteEvent.
    """

    agent_name: str
    partial: Any
    lineage: tuple[str, ...] = ()
    type: Literal["output"] = "output"


@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalRequiredEvent:
    """The run pauses for a person's answer to ``requests`` (always streamed).

    The RunCompleteEvent right after it carries the paused result (``status="paused"``).
    """

    agent_name: str
    requests: list[ApprovalRequest]
    lineage: tuple[str, ...] = ()
    type: Literal["approval_required"] = "approval_required"


@dataclass(frozen=True, slots=True, kw_only=True)
class RunCompleteEvent:
    """The run finished; carries the :class:`RunResult` (always the last event)."""

    agent_name: str
    result: RunResult[Any]
    lineage: tuple[str, ...] = ()
    type: Literal["run_complete"] = "run_complete"


StreamEvent = Annotated[
    TextEvent
    | ReasoningEvent
    | ToolCallEvent
    | ToolResultEvent
    | StepEvent
    | UsageEvent
    | RunStartEvent
    | PlanStartEvent
    | PlanCompleteEvent
    | PlanSkippedEvent
    | WarningEvent
    | ErrorEvent
    | OutputEvent
    | ApprovalRequiredEvent
    | RunCompleteEvent,
    Field(discriminator="type"),
]
"""Any event ``run.stream`` yields."""

DETAILED_ONLY: frozenset[str] = frozenset(
    {"reasoning", "step", "usage", "run_start", "plan_start", "plan_complete"}
)
"""Event types that ``run.stream`` yields only with ``detailed=True``."""
