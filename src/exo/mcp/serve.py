"""Serve an exo agent as an MCP server: the agent becomes one tool other clients can call.

The tool takes a ``task`` (and an optional ``conversation_id``) and runs the agent on it,
planner, tools and memory included. While it runs, a client that sent a progress token gets
``notifications/progress`` messages for the plan and each tool step; a client's
``notifications/cancelled`` cancels the run. An agent with an ``output_type`` declares its
JSON schema as the tool's ``outputSchema`` and answers with ``structuredContent`` too.

    from exo.mcp.serve import serve_stdio
    asyncio.run(serve_stdio(agent))

Built on the official ``mcp`` SDK (``pip install 'exo-agents[mcp]'``), imported lazily:
``import exo`` never loads it. ``exo mcp serve AGENT`` is the command-line front end.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from exo.agent import Agent
from exo.errors import ConfigError
from exo.mcp._serve_ask import (
    asking_agent,
    can_ask,
    current_call,
    input_required,
    is_modern,
    needs_approval,
    resumed_events,
    sealing_request_state,
    takes_elicitation,
)
from exo.mcp._serve_call import answer, drive, error, parse_arguments, paused_message
from exo.runner import Runner, run
from exo.types import RunResult

if TYPE_CHECKING:
    from mcp.server import Server
    from mcp.server.context import ServerRequestContext
    from mcp_types import (
        CallToolRequestParams,
        CallToolResult,
        InputRequiredResult,
        ListToolsResult,
    )
    from starlette.applications import Starlette

__all__ = ["http_app", "serve_http", "serve_stdio", "server_for", "tool_name"]

_INSTALL_HINT = "pip install 'exo-agents[mcp]'"
_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]+")
_MAX_NAME = 64  # the strictest model API's tool-name limit: the client forwards the name


def _import_mcp() -> None:
    """Import the SDK, or fail with the extra that installs it."""
    try:
        import mcp.server  # noqa: F401
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"serving an agent over MCP needs the official MCP SDK ({exc.name} is not installed)",
            hint=_INSTALL_HINT,
        ) from None


def tool_name(agent_name: str) -> str:
    """The MCP tool name for an agent: its name with anything but ``A-Za-z0-9_-`` as ``_``.

    MCP clients hand the name to their model, and model APIs accept only these characters,
    at most 64 of them.
    """
    name = _NAME_CHARS.sub("_", agent_name.strip()).strip("_")[:_MAX_NAME]
    return name or "agent"


def _input_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "task": {"type": "string", "description": "What the agent should do."},
            "conversation_id": {
                "type": "string",
                "description": "Continue this conversation in the agent's memory (and save "
                "this turn to it); leave it out for a one-off task.",
            },
        },
        "required": ["task"],
        "additionalProperties": False,
    }


def _description(agent: Agent[Any]) -> str:
    plans = " It makes a plan first, then carries it out." if agent.planning_enabled else ""
    tools = ", ".join(agent.tool_map) or "none"
    return (
        f"Ask the agent {agent.name!r} to carry out a task and return its answer.{plans} "
        f"Its tools: {tools}."
    )


def server_for(
    agent: Agent[Any],
    *,
    runner: Runner = run,
    name: str | None = None,
    description: str | None = None,
) -> Server[Any]:
    """Build an MCP server (the SDK's low-level ``Server``) with ``agent`` as its one tool.

    Serve it with :func:`serve_stdio` or :func:`serve_http`, or connect to it in-process
    with ``mcp.Client(server)``.

    Args:
        agent: The agent to serve.
        runner: The runner its runs use (its default memory and tool threads).
        name: The tool's name (default: the agent's name, sanitized by :func:`tool_name`).
        description: The tool's description (default: names the agent, its tools, and
            whether it plans; never its instructions, which may be private).

    Raises:
        ConfigError: the ``mcp`` SDK is not installed, or ``agent`` is not an Agent.
    """
    if not isinstance(agent, Agent):
        raise ConfigError(
            f"server_for() takes an exo.Agent, got {type(agent).__name__}", parameter="agent"
        )
    _import_mcp()
    from mcp.server import Server
    from mcp_types import ListToolsResult, Tool

    from exo import __version__

    tool = Tool(
        name=tool_name(name or agent.name),
        description=description or _description(agent),
        input_schema=_input_schema(),
        output_schema=agent.output.spec.schema if agent.output is not None else None,
    )
    # Built once: the copy that asks the client's user for approvals (see exo.mcp._serve_ask).
    asking = asking_agent(agent) if needs_approval(agent) else None

    async def list_tools(ctx: ServerRequestContext[Any], params: object) -> ListToolsResult:
        return ListToolsResult(tools=[tool])

    async def call_tool(
        ctx: ServerRequestContext[Any], params: CallToolRequestParams
    ) -> CallToolResult | InputRequiredResult:
        if params.name != tool.name:
            from mcp.shared.exceptions import MCPError
            from mcp_types import INVALID_PARAMS

            raise MCPError(
                INVALID_PARAMS, f"unknown tool {params.name!r}; this server has {tool.name!r}"
            )
        token = current_call.set(ctx)
        try:
            return await _handle_call(ctx, params, agent, asking, runner)
        finally:
            current_call.reset(token)

    server: Server[Any] = Server(
        f"exo-{tool.name}",
        version=__version__,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )
    # A paused run travels as requestState (2026-07-28): sealed on the way out, and any
    # requestState coming in is verified, so a client can never hand a run state of its own.
    server.middleware.append(sealing_request_state(server.name))
    return server


async def _handle_call(
    ctx: ServerRequestContext[Any],
    params: CallToolRequestParams,
    agent: Agent[Any],
    asking: Agent[Any] | None,
    runner: Runner,
) -> CallToolResult | InputRequiredResult:
    """One ``tools/call``: a new run, or (2026-07-28) a paused one resumed with the answers.

    A run that pauses for approval asks the client's user: during the call by elicitation
    (handshake protocol versions), or by returning the questions as an ``InputRequiredResult``
    whose sealed ``requestState`` holds the paused run (2026-07-28). A client that can do
    neither gets an error result.
    """

    async def progress(value: float, message: str) -> None:
        await ctx.session.report_progress(value, None, message)

    modern = is_modern(ctx)
    if params.request_state is not None:
        if asking is None:  # nothing of this agent's ever waits for an answer
            return error("This agent never asks for input: call it without requestState.")
        events = resumed_events(agent, params, runner)
        if isinstance(events, str):
            return error(events)
        outcome = await drive(agent, events, progress)
    else:
        task, conversation_id, problem = parse_arguments(params.arguments or {})
        if problem is not None:
            return error(problem)
        # A handshake-era client taking elicitations is asked while the run waits.
        served = asking if asking is not None and not modern and can_ask(ctx) else agent
        events = runner.stream(served, task, detailed=True, conversation_id=conversation_id)
        outcome = await drive(agent, events, progress)
    if not isinstance(outcome, RunResult):
        return outcome
    if outcome.status == "paused":
        if modern and takes_elicitation(ctx):
            return input_required(outcome)
        return error(paused_message(agent, outcome))
    return answer(agent, outcome)


async def serve_stdio(
    agent: Agent[Any],
    *,
    runner: Runner = run,
    name: str | None = None,
    description: str | None = None,
) -> None:
    """Serve ``agent`` over this process's stdin and stdout until the client disconnects.

    While it serves, anything the agent's code prints goes to stderr, not into the protocol.
    The keyword arguments are :func:`server_for`'s.
    """
    server = server_for(agent, runner=runner, name=name, description=description)
    from mcp.server.stdio import stdio_server

    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


def http_app(
    agent: Agent[Any],
    *,
    host: str = "127.0.0.1",
    path: str = "/mcp",
    runner: Runner = run,
    name: str | None = None,
    description: str | None = None,
) -> Starlette:
    """An ASGI app serving ``agent`` over MCP's streamable HTTP at ``path``.

    ``host`` is the address it will be served on: for loopback addresses the SDK turns on
    its DNS-rebinding protection (requests must name a loopback host). The other keyword
    arguments are :func:`server_for`'s.
    """
    server = server_for(agent, runner=runner, name=name, description=description)
    return server.streamable_http_app(streamable_http_path=path, host=host)


async def serve_http(
    agent: Agent[Any],
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    path: str = "/mcp",
    runner: Runner = run,
    name: str | None = None,
    description: str | None = None,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve ``agent`` over streamable HTTP (with uvicorn) until cancelled.

    Args:
        agent: The agent to serve.
        host: The address to listen on (default: loopback only).
        port: The port; 0 picks a free one (``on_ready`` gets the URL).
        path: The endpoint's path.
        runner: The runner its runs use.
        name: The tool's name (see :func:`server_for`).
        description: The tool's description (see :func:`server_for`).
        on_ready: Called with the endpoint's URL once the socket listens.
    """
    app = http_app(agent, host=host, path=path, runner=runner, name=name, description=description)
    import uvicorn

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror}", parameter="port"
        ) from None
    sock.listen(128)  # listening before on_ready: a client told the URL can connect at once
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    if on_ready is not None:
        on_ready(f"http://{shown}:{bound}{path}")
    try:
        await server.serve(sockets=[sock])
    finally:
        sock.close()
