"""Approvals of a served agent, asked of the MCP client's user through elicitation.

A served run cannot pause and wait for ``run(resume=...)``: nobody on the other side of MCP
would resume it. When the client can show its user a form (it declared the ``elicitation``
capability and the connection can carry a server-to-client request), each approval request
becomes an ``elicitation/create`` with one yes/no field, answered while the run waits.
Otherwise the run pauses as usual and the served tool returns an error result.

The approval handler is installed once, on a copy of the agent; it finds the call it serves
in a context variable, which each ``tools/call`` sets (the run, its tools and its planner run
in that call's task, so they see it).
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from exo.agent import Agent
from exo.types import ApprovalRequest

if TYPE_CHECKING:
    from mcp.server.context import ServerRequestContext

__all__ = ["asking_agent", "can_ask", "current_call", "needs_approval"]

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


def can_ask(ctx: ServerRequestContext[Any]) -> bool:
    """Whether this call's client can be asked: it takes form elicitations, and the
    connection can carry a request from the server."""
    capabilities = ctx.session.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    if elicitation is None or (elicitation.form is None and elicitation.url is not None):
        return False
    return ctx.session.can_send_request


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
    approved = answer.action == "accept" and (answer.content or {}).get("approve") is True
    if approved:
        return True
    # A declined plan runs the task unplanned; a declined call is an error the model reads.
    return False if plan else "the user of the MCP client did not approve this call"


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
