"""exo's own data types: stream events (and, re-exported from :mod:`exo.results` and
:mod:`exo.messages`, results, usage, messages and content blocks).

All of them are frozen, keyword-only dataclasses with a literal tag (``role`` for messages,
``type`` for blocks and events), so unions discriminate on it and pydantic can validate and
serialize them (see :data:`MESSAGES_ADAPTER`). They are vendor-neutral: the adapters under
``exo.models`` translate them to and from each provider's wire format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import Field

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
from exo.results import (
    ApprovalRequest,
    ChildResult,
    Cost,
    FinishReason,
    ModelCall,
    OutputT,
    PlanResult,
    PlanStep,
    PlanStepStatus,
    RunResult,
    RunStatus,
    Usage,
)

__all__ = [
    "MESSAGES_ADAPTER",
    "ApprovalRequest",
    "ApprovalRequiredEvent",
    "AssistantMessage",
    "ChildResult",
    "ContentBlock",
    "Cost",
    "DocumentBlock",
    "ErrorEvent",
    "FinishReason",
    "ImageBlock",
    "Message",
    "MessageContent",
    "ModelCall",
    "OutputEvent",
    "OutputT",
    "PlanCompleteEvent",
    "PlanResult",
    "PlanSkippedEvent",
    "PlanStartEvent",
    "PlanStep",
    "PlanStepEvent",
    "PlanStepStatus",
    "ReasoningBlock",
    "ReasoningEvent",
    "ReplanEvent",
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


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanStepEvent:
    """A step of a structured plan was ticked off (``run.stream(..., detailed=True)``).

    Attributes:
        index: The step's position in ``RunResult.plan.checklist`` (1-based).
        step: The step, with its new status.
    """

    agent_name: str
    index: int
    step: PlanStep
    lineage: tuple[str, ...] = ()
    type: Literal["plan_step"] = "plan_step"


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplanEvent:
    """The planner revised the plan mid-run (``replan_on``); always in the stream.

    Attributes:
        number: Which replan this is (1 for the first).
        trigger: What set it off: ``"tool_failures"``, ``"step_budget"`` or ``"request"``
            (the model called ``request_replan``).
        reason: Why, in words (the model's reason for ``"request"``).
        plan: The revised plan's text as injected (empty: the planner gave no steps).
        usage: What this planner run cost (also added to ``RunResult.plan.usage``).
        steps: The revised steps (appended to ``RunResult.plan.checklist``).
    """

    agent_name: str
    number: int
    trigger: Literal["tool_failures", "step_budget", "request"]
    reason: str
    plan: str
    usage: Usage = field(default_factory=Usage)
    steps: tuple[PlanStep, ...] = ()
    lineage: tuple[str, ...] = ()
    type: Literal["replan"] = "replan"


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
    | RunCompleteEvent
    | PlanStepEvent
    | ReplanEvent,
    Field(discriminator="type"),
]
"""Any event ``run.stream`` yields."""

DETAILED_ONLY: frozenset[str] = frozenset(
    {"reasoning", "step", "usage", "run_start", "plan_start", "plan_complete", "plan_step"}
)
"""Event types that ``run.stream`` yields only with ``detailed=True``."""
