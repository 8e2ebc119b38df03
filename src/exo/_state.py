"""Per-run state: plain, serializable data, never stored on the Agent.

:class:`RunState` is what a durable engine would checkpoint between steps: the transcript,
usage, step count, the plan and child results. Everything that is *not* data (the provider,
the event sink, cancellation) travels separately in the loop's dependencies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from exo._lazy import lazy_adapter
from exo.types import (
    ApprovalRequest,
    ChildResult,
    Message,
    ModelCall,
    PlanResult,
    ToolResult,
    Usage,
)

if TYPE_CHECKING:
    from pydantic import TypeAdapter

__all__ = ["HeldCall", "HeldChild", "RunState"]


@dataclass(slots=True, kw_only=True)
class HeldChild:
    """One child of a ``spawn_self`` call whose turn waits for a child's approval.

    Attributes:
        name: The child's agent name.
        task: Its task.
        max_steps: The model calls it was given.
        result: Its result, when it finished before the pause.
        state: Its paused state (``RunResult.state``), when it waits itself.
        pending: What it waits for (its descendants' requests included).
    """

    name: str
    task: str
    max_steps: int
    result: ChildResult | None = None
    state: dict[str, Any] | None = None
    pending: list[ApprovalRequest] = field(default_factory=list)


@dataclass(slots=True, kw_only=True)
class HeldCall:
    """A call of a turn held because a child paused: its result, or its paused children."""

    result: ToolResult | None = None
    duration_ms: float = 0.0
    children: list[HeldChild] = field(default_factory=list)


@dataclass(slots=True, kw_only=True)
class RunState:
    """The mutable state of one agent run.

    Attributes:
        agent_name: The running agent's name.
        model: The running agent's ``backend:model``.
        messages: The transcript sent to the model (system prompt, history, input, and every
            assistant and tool message so far).
        turn_start: Index in ``messages`` where this turn's own messages start (after the
            system prompt and history).
        original_input: The user's input as given, before any plan was injected (memory
            stores this).
        usage: The executor's own usage so far.
        steps: The executor's model calls so far.
        plan: The planner pre-pass result, if planning ran.
        children: Results of children started with ``spawn_self``.
        depth: 0 for a top-level run, 1 for its children, and so on.
        lineage: Names of the parent agents, outermost first.
        conversation_id: The memory conversation, if any.
        spawned: Children started so far by this run (for the per-run cap).
        held: The calls of the last turn while it waits for a child's approval, by call id.
        calls: The executor's own model calls (model and usage of each, for pricing).
    """

    agent_name: str
    model: str
    messages: list[Message] = field(default_factory=list)
    turn_start: int = 0
    original_input: Message | None = None
    usage: Usage = field(default_factory=Usage)
    steps: int = 0
    plan: PlanResult | None = None
    children: list[ChildResult] = field(default_factory=list)
    depth: int = 0
    lineage: tuple[str, ...] = ()
    conversation_id: str | None = None
    spawned: int = 0
    held: dict[str, HeldCall] = field(default_factory=dict)
    calls: list[ModelCall] = field(default_factory=list)

    def all_calls(self) -> list[ModelCall]:
        """Every model call of this run: the planner's, its own and its children's."""
        calls = list(self.plan.calls) if self.plan is not None else []
        calls.extend(self.calls)
        for child in self.children:
            calls.extend(child.calls)
        return calls

    def total_usage(self) -> Usage:
        """Everything this run cost: its own calls, the planner's and its children's."""
        total = self.usage
        if self.plan is not None:
            total = total + self.plan.usage
        for child in self.children:
            total = total + child.usage
        return total

    def to_json(self) -> bytes:
        """Serialize the state (for checkpoints and debugging)."""
        return _ADAPTER.dump_json(self)

    @classmethod
    def from_json(cls, data: bytes | str) -> RunState:
        """Restore a state serialized with :meth:`to_json`."""
        return _ADAPTER.validate_json(data)

    def __repr__(self) -> str:
        return (
            f"RunState(agent_name={self.agent_name!r}, model={self.model!r}, "
            f"messages={len(self.messages)}, steps={self.steps}, depth={self.depth})"
        )


_ADAPTER: TypeAdapter[RunState] = lazy_adapter(RunState)
