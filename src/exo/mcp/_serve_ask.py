"""Approvals of a served agent, asked of the MCP client's user through elicitation.

A served run cannot simply pause and wait for ``run(resume=...)``: nobody on the other side
of MCP would resume it. When the client can show its user a form (it declared the
``elicitation`` capability), each approval request becomes a form with one yes/no field:

* on the handshake protocol versions (up to 2025-11-25), an ``elicitation/create`` request
  sent during the call, answered while the run waits. The approval handler doing it is
  installed once, on a copy of the agent; it finds the call it serves in a context variable
  each ``tools/call`` sets (the run, its tools and its planner run in that call's task);
* on 2026-07-28, where a call has no channel back to the client, the run pauses and the call
  returns an ``InputRequiredResult`` with the forms; its ``requestState`` is the paused run,
  sealed by the SDK's ``RequestStateBoundary`` (AES-GCM under a key of this process, with
  expiry), so the client can neither read nor forge it. The client retries the call with
  the answers, and the run resumes where it stopped.

Otherwise the run pauses as usual and the served tool returns an error result.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from exo.agent import Agent
from exo.runner import Runner
from exo.types import ApprovalRequest, RunResult, StreamEvent

if TYPE_CHECKING:
    from mcp.server.context import ServerMiddleware, ServerRequestContext
    from mcp_types import CallToolRequestParams, InputRequiredResult, InputResponse

__all__ = [
    "asking_agent",
    "can_ask",
    "current_call",
    "input_required",
    "is_modern",
    "needs_approval",
    "resumed_events",
    "sealing_request_state",
    "takes_elicitation",
]

log = logging.getLogger("exo.mcp.serve")

current_call: ContextVar[ServerRequestContext[Any] | None] = ContextVar(
    "exo_mcp_current_call", default=None
)
"""The ``tools/call`` being served in this task (``None`` outside one)."""

_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "approve": {
            "type": "boolean",
            "title": "Approve",
            "description": "Yes: go ahead. No: do not.",
        }
    },
    "required": ["approve"],
}


def needs_approval(agent: Agent[Any]) -> bool:
    """Whether runs of ``agent`` can pause for approval (no handler answers in process)."""
    return agent.approval_handler is None and (agent.gate is not None or agent.approve_plan)


def asking_agent(agent: Agent[Any]) -> Agent[Any]:
    """A copy of ``agent`` whose approvals are asked of the current call's client.

    It shares the agent's memory backend, so conversations go on whichever copy serves a call.
    """
    return agent.replace(approval_handler=_ask, memory=agent.memory_backend)


def is_modern(ctx: ServerRequestContext[Any]) -> bool:
    """Whether the call speaks 2026-07-28 or later (input arrives by ``InputRequiredResult``)."""
    from mcp_types.version import MODERN_PROTOCOL_VERSIONS

    return ctx.protocol_version in MODERN_PROTOCOL_VERSIONS


def takes_elicitation(ctx: ServerRequestContext[Any]) -> bool:
    """Whether the client declared it can show its user a form (form elicitation)."""
    capabilities = ctx.session.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    # Before 2025-11-25 the capability had no modes: an empty one means forms.
    return elicitation is not None and (elicitation.form is not None or elicitation.url is None)


def can_ask(ctx: ServerRequestContext[Any]) -> bool:
    """Whether this call's client can be asked during the call: it takes form
    elicitations, and the connection can carry a request from the server."""
    return takes_elicitation(ctx) and ctx.session.can_send_request


def sealing_request_state(audience: str) -> ServerMiddleware[Any]:
    """The SDK's middleware sealing ``requestState`` (a paused run) under a key of this
    process: a client can neither read nor forge it, and it expires after 10 minutes."""
    from mcp.server.request_state import RequestStateBoundary, RequestStateSecurity

    return RequestStateBoundary(RequestStateSecurity.ephemeral(), default_audience=audience)


def input_required(result: RunResult[Any]) -> InputRequiredResult:
    """The questions a paused run waits on, as forms, with the run as ``requestState``."""
    from mcp_types import ElicitRequest, ElicitRequestFormParams, InputRequest, InputRequiredResult

    requests: dict[str, InputRequest] = {
        r.call_id: ElicitRequest(
            params=ElicitRequestFormParams(message=_question(r), requested_schema=_SCHEMA)
        )
        for r in result.pending
    }
    kinds = {r.call_id: r.kind for r in result.pending}
    state = json.dumps({"state": result.state, "kinds": kinds}, separators=(",", ":"))
    return InputRequiredResult(input_requests=requests, request_state=state)


def resumed_events(
    agent: Agent[Any], params: CallToolRequestParams, runner: Runner
) -> AsyncGenerator[StreamEvent, None] | str:
    """The events of the paused run in ``params.request_state``, resumed with the client's
    answers; or what is wrong with the retry.

    The state is the plaintext this server sealed (the SDK's boundary verified it), so only
    its shape is checked here.
    """
    try:
        data = json.loads(params.request_state or "")
        state, kinds = data["state"], data["kinds"]
    except (ValueError, KeyError, TypeError):
        return "The requestState of this call is not one this server made: call again."
    responses = params.input_responses or {}
    answers = {key: _answer(responses.get(key), kind == "plan") for key, kind in kinds.items()}
    if "plan" in kinds:  # a run waits on its plan alone
        return runner.stream(agent, detailed=True, resume=state, plan=answers["plan"] is True)
    return runner.stream(agent, detailed=True, resume=state, approvals=answers)


def _answer(response: InputResponse | None, plan: bool) -> bool | str:
    from mcp_types import ElicitResult

    if (
        isinstance(response, ElicitResult)
        and response.action == "accept"
        and (response.content or {}).get("approve") is True
    ):
        return True
    return False if plan else "the user of the MCP client did not approve this call"


async def _ask(request: ApprovalRequest) -> bool | str:
    """The approval handler: ask the client's user, and take only an explicit yes."""
    ctx = current_call.get()
    plan = request.kind == "plan"
    if ctx is None:  # not inside a served call: nobody to ask
        return False if plan else "nobody could be asked to approve this call"
    try:
        answer = await ctx.session.elicit_form(
            _question(request), _SCHEMA, related_request_id=ctx.request_id
        )
    except Exception as exc:  # the client failed or went away: the call does not run
        log.warning("asking the MCP client to approve %s failed: %s", _what(request), exc)
        return False if plan else f"the MCP client could not ask its user ({exc})"
    # A declined plan runs the task unplanned; a declined call is an error the model reads.
    return _answer(answer, plan)


def _question(request: ApprovalRequest) -> str:
    who = " › ".join((*request.lineage, request.agent_name))
    if request.kind == "plan":
        return (
            f"The agent {who!r} made this plan:\n\n{request.plan}\n\n"
            "Approve it? (No: the agent works without a plan.)"
        )
    return f"The agent {who!r} wants to call {_what(request)}. Approve it?"


def _what(request: ApprovalRequest) -> str:
    if request.kind == "plan":
        return "its plan"
    arguments = json.dumps(request.arguments, ensure_ascii=False)
    return f"{request.tool_name}({arguments[:500]})"
