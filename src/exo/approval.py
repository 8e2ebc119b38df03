"""Human approval: which tool calls (and plans) wait for a person, pausing and resuming a run.

A tool call needs approval when its tool was made with ``requires_approval=True`` or the
agent's ``approve_tools`` names it (or, as a function, says so for this call). The loop asks
its :class:`Gate` once per turn, before any tool of the turn runs:

* with an ``approval_handler`` on the agent, the handler answers each request in turn and the
  run goes on (approved calls run, denied ones become error results the model reads);
* without one, the run *pauses*: the whole turn is held (no tool of it runs, not even the ones
  that need no approval, so nothing happens that a person has not seen), the stream yields an
  :class:`~exo.types.ApprovalRequiredEvent`, and the run ends with a ``RunResult`` whose
  ``status`` is ``"paused"``, ``pending`` lists the requests and ``state`` holds the whole run
  as JSON-ready data. ``run(agent, resume=state, approvals={call_id: answer})`` continues it.

With ``approve_plan=True`` the same happens once, after the planner, for the plan.

A paused run's state is ``{"format": STATE_FORMAT, "agent_name", "paused": "tools" | "plan",
"pending": [...], "run": <RunState as JSON data>}``; :mod:`exo._resume` checks a resume of it.
A turn held for a *child's* approval keeps what already ran in ``RunState.held``
(:func:`settle_turn`), so nothing runs twice when it resumes.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import TypeAdapter

from exo._state import HeldCall, RunState
from exo.errors import AgentError, ConfigError
from exo.types import (
    ApprovalRequest,
    RunResult,
    ToolCall,
    ToolResult,
    UserMessage,
)

if TYPE_CHECKING:
    from exo.agent import Agent
    from exo.tools import Tool

__all__ = [
    "ANSWERS",
    "STATE_FORMAT",
    "Answer",
    "ApprovalHandler",
    "Gate",
    "PausedKind",
    "ToolApprover",
    "apply_plan_answer",
    "ask",
    "check_agent_settings",
    "denied_text",
    "gate_for",
    "held_requests",
    "merge_denied",
    "pause_plan",
    "paused_result",
    "requests_adapter",
    "review_plan",
    "settle_turn",
]

Answer = bool | str
"""A person's answer. For a tool call: ``True`` runs it, ``False`` or a reason denies it.
For a plan: ``True`` accepts it, ``False`` runs unplanned, a string replaces the plan."""

ApprovalHandler = Callable[[ApprovalRequest], Awaitable[Answer] | Answer]
"""``Agent(approval_handler=...)``: answers requests in process (sync or async)."""

ToolApprover = Callable[[str, dict[str, Any]], Awaitable[bool] | bool]
"""``Agent(approve_tools=fn)``: ``fn(tool_name, arguments)`` says whether a call needs approval."""

STATE_FORMAT = "exo.paused_run/1"
"""The ``format`` tag of a paused run's state (bumped when its shape changes)."""

PausedKind = Literal["tools", "plan"]


class Gate:
    """Which tool calls of a turn need approval, and who answers (a handler, or a pause).

    Built once per Agent (``None`` when nothing of it needs approval, so the loop's check is
    one attribute test).

    Args:
        names: Tools whose every call needs approval.
        decide: ``approve_tools`` as a function, asked for the calls ``names`` leaves out.
        handler: The agent's ``approval_handler``.
        pauses: Pause without a handler (``False`` for the planner, which cannot pause: its
            calls that need approval are denied unless the handler approves them).
    """

    __slots__ = ("decide", "handler", "names", "pauses")

    def __init__(
        self,
        *,
        names: frozenset[str],
        decide: ToolApprover | None,
        handler: ApprovalHandler | None,
        pauses: bool = True,
    ) -> None:
        self.names = names
        self.decide = decide
        self.handler = handler
        self.pauses = pauses

    def for_planner(self) -> Gate:
        """The same gate for the planner, which never pauses."""
        return Gate(names=self.names, decide=self.decide, handler=self.handler, pauses=False)

    async def review(
        self, state: RunState, calls: Sequence[ToolCall], tools: Mapping[str, Tool]
    ) -> tuple[list[ApprovalRequest], dict[str, Answer]]:
        """Return the requests to pause on (empty: go on) and the answers known now."""
        requests = [r for c in calls if (r := await self._request(state, c, tools)) is not None]
        if not requests:
            return [], {}
        if self.handler is not None:
            return [], {r.call_id: await ask(self.handler, r) for r in requests}
        if self.pauses:
            return requests, {}
        return [], {r.call_id: _PLANNER_DENIAL for r in requests}

    async def _request(
        self, state: RunState, call: ToolCall, tools: Mapping[str, Tool]
    ) -> ApprovalRequest | None:
        tool = tools.get(call.name)
        if tool is None:
            return None  # an unknown tool never runs
        try:
            arguments = json.loads(call.arguments or "{}")
        except ValueError:
            return None  # malformed arguments never reach the tool
        if not isinstance(arguments, dict):
            return None
        needed = tool.requires_approval or call.name in self.names
        if not needed and self.decide is not None:
            verdict = self.decide(call.name, dict(arguments))
            if inspect.isawaitable(verdict):
                verdict = await verdict
            needed = bool(verdict)
        if not needed:
            return None
        return ApprovalRequest(
            kind="tool",
            call_id=call.id,
            tool_name=call.name,
            arguments=arguments,
            agent_name=state.agent_name,
            lineage=state.lineage,
        )


_PLANNER_DENIAL = (
    "this tool needs a person's approval, which the planner cannot ask for; plan the call "
    "for the executor instead of making it"
)


def gate_for(agent: Agent[Any]) -> Gate | None:
    """The agent's gate, or ``None`` when none of its tool calls can need approval."""
    names = {n for n, t in agent.tool_map.items() if t.requires_approval}
    decide: ToolApprover | None = None
    if callable(agent.approve_tools):
        decide = agent.approve_tools
    elif agent.approve_tools is not None:
        names.update(agent.approve_tools)
    if not names and decide is None:
        return None
    return Gate(names=frozenset(names), decide=decide, handler=agent.approval_handler)


async def ask(handler: ApprovalHandler, request: ApprovalRequest) -> Answer:
    """Ask the handler; check that it answered ``True``, ``False`` or a string.

    Raises:
        AgentError: the handler raised or answered something else.
    """
    try:
        answer = handler(request)
        if inspect.isawaitable(answer):
            answer = await answer
    except Exception as exc:
        raise AgentError(
            f"the approval_handler raised {type(exc).__name__} on the {request.kind} request "
            f"{request.call_id!r}: {exc}",
            hint="an approval_handler returns True, False or a string; let it not raise",
        ) from exc
    if not isinstance(answer, bool | str):
        raise AgentError(
            f"the approval_handler answered {type(answer).__name__} ({answer!r:.80}) for "
            f"{request.call_id!r}; it must return True, False or a string",
        )
    return answer


def denied_text(tool_name: str, answer: Answer) -> str:
    """What the model reads for a denied call."""
    reason = f": {answer}" if isinstance(answer, str) and answer.strip() else ""
    return (
        f"Error: the call of {tool_name!r} was not approved, so it did not run{reason}. "
        "Do not repeat it; go on without it or ask the user."
    )


def merge_denied(
    calls: Sequence[ToolCall], answers: Mapping[str, Answer]
) -> tuple[list[ToolCall], dict[str, ToolResult]]:
    """Split a turn into the calls to run and the error results of the denied ones."""
    run: list[ToolCall] = []
    denied: dict[str, ToolResult] = {}
    for call in calls:
        answer = answers.get(call.id, True)
        if answer is True:
            run.append(call)
        else:
            denied[call.id] = ToolResult(
                tool_call_id=call.id,
                tool_name=call.name,
                content=denied_text(call.name, answer),
                is_error=True,
            )
    return run, denied


# --------------------------------------------------------------------------- plans


async def review_plan(agent: Agent[Any], state: RunState) -> ApprovalRequest | None:
    """Get the plan approved: by the handler (applied here), else return the request."""
    plan = state.plan
    if not agent.approve_plan or plan is None or plan.skipped is not None or not plan.text:
        return None  # nothing to approve: no plan is injected
    request = ApprovalRequest(
        kind="plan",
        call_id="plan",
        agent_name=state.agent_name,
        lineage=state.lineage,
        plan=plan.text,
    )
    if agent.approval_handler is None:
        return request
    apply_plan_answer(state, await ask(agent.approval_handler, request))
    return None


def apply_plan_answer(state: RunState, answer: Answer) -> None:
    """Record the answer on the plan: kept, replaced, or dropped (the planner's usage stays)."""
    plan = state.plan
    assert plan is not None
    if answer is False:
        state.plan = dataclasses.replace(plan, text="", skipped="the plan was not approved")
    elif isinstance(answer, str):
        state.plan = dataclasses.replace(plan, text=answer)


def pause_plan(state: RunState, task: Any, history: list[Any]) -> None:
    """Keep the executor's input and history on the state while the plan waits."""
    state.messages = list(history)
    state.original_input = UserMessage(content=task)


# --------------------------------------------------------------------------- pause / resume


def paused_result(
    state: RunState, requests: list[ApprovalRequest], base: RunResult | None = None
) -> RunResult:
    """The result of a run that pauses on ``requests`` (its state included)."""
    kind: PausedKind = "plan" if requests[0].kind == "plan" else "tools"
    data = {
        "format": STATE_FORMAT,
        "agent_name": state.agent_name,
        "paused": kind,
        "pending": requests_adapter().dump_python(requests, mode="json"),
        "run": json.loads(state.to_json()),
    }
    if base is None:
        base = RunResult(
            output="",
            messages=[],
            usage=state.total_usage(),
            agent_name=state.agent_name,
            model=state.model,
            plan=state.plan,
            conversation_id=state.conversation_id,
        )
    return dataclasses.replace(base, output="", status="paused", pending=list(requests), state=data)


# --------------------------------------------------------------------------- held turns

ANSWERS = "exo.approvals"
"""Where a resumed run's answers wait in ``LoopDeps.extras`` for its paused children."""


def held_requests(state: RunState) -> list[ApprovalRequest]:
    """What the paused children of the held turn wait for (their descendants' included)."""
    return [r for h in state.held.values() for c in h.children for r in c.pending]


def settle_turn(
    state: RunState,
    calls: list[ToolCall],
    ran: list[ToolCall],
    outcomes: list[tuple[ToolResult, float]],
    denied: dict[str, ToolResult],
) -> list[tuple[ToolResult, float]] | None:
    """Put a turn's results in call order, or hold them while a child waits (``None``).

    Results of calls that ran before the turn was held are taken from ``state.held``.
    """
    by_id = {c.id: o for c, o in zip(ran, outcomes, strict=True)}
    by_id.update((i, (r, 0.0)) for i, r in denied.items())
    by_id.update((i, (h.result, h.duration_ms)) for i, h in state.held.items() if h.result)
    if any(h.children for h in state.held.values()):
        for call in calls:
            entry = state.held.get(call.id)
            if entry is None or not entry.children:
                result, duration_ms = by_id[call.id]
                state.held[call.id] = HeldCall(result=result, duration_ms=duration_ms)
        return None
    state.held.clear()
    return [by_id[c.id] for c in calls]


@functools.cache
def requests_adapter() -> TypeAdapter[list[ApprovalRequest]]:
    return TypeAdapter(list[ApprovalRequest])


def check_agent_settings(agent: Agent[Any]) -> None:
    """Check ``approve_tools``, ``approve_plan`` and ``approval_handler`` at construction.

    Raises:
        ConfigError: a setting has the wrong type, names no tool, or cannot work (a plan
            approval without planning).
    """
    tools = agent.approve_tools
    if tools is not None and not callable(tools):
        if isinstance(tools, str | bytes) or not isinstance(tools, Sequence):
            raise ConfigError(
                "approve_tools must be a list of tool names or a function (name, arguments) "
                "-> bool",
                parameter="approve_tools",
            )
        known = set(agent.tool_map) | {"spawn_self"}
        for name in tools:
            if name not in known and not agent.toolsets:  # a toolset's names come at run time
                raise ConfigError(
                    f"approve_tools: no tool named {name!r}; the agent's tools are "
                    f"{sorted(agent.tool_map)}",
                    parameter="approve_tools",
                )
    if not isinstance(agent.approve_plan, bool):
        raise ConfigError("approve_plan must be True or False", parameter="approve_plan")
    if agent.approve_plan and not agent.planning_enabled:
        raise ConfigError(
            "approve_plan=True needs planning_enabled=True (there is no plan to approve)",
            parameter="approve_plan",
        )
    if agent.approval_handler is not None and not callable(agent.approval_handler):
        raise ConfigError(
            "approval_handler must be a function (request) -> True | False | str",
            parameter="approval_handler",
        )
