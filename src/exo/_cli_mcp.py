"""``exo mcp``: serve an agent as an MCP server (over stdio, or streamable HTTP).

    exo mcp serve examples/researcher.py                 # stdio: for a client that spawns it
    exo mcp serve agents/helper.yaml --http 8000         # http://127.0.0.1:8000/mcp

The serving itself lives in :mod:`exo.mcp.serve`; this module only turns options into an
agent and picks the transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from typing import Annotated

import typer

from exo.types import ApprovalRequest

__all__ = ["mcp_app"]

mcp_app = typer.Typer(
    name="mcp",
    help="Serve an agent over the Model Context Protocol.",
    no_args_is_help=True,
)


@mcp_app.command("serve")
def serve_command(
    reference: Annotated[
        str,
        typer.Argument(
            metavar="AGENT",
            help="As for `exo run`: file.py[:attr], module[:attr] or an agent .yaml/.toml file.",
            show_default=False,
        ),
    ],
    http: Annotated[
        int | None,
        typer.Option(
            "--http",
            min=0,
            max=65535,
            help="Serve streamable HTTP on this port (0: any free port) instead of stdio.",
        ),
    ] = None,
    host: Annotated[
        str, typer.Option("--host", help="The address --http listens on.")
    ] = "127.0.0.1",
    name: Annotated[
        str | None, typer.Option("--name", help="The tool's name (default: the agent's name).")
    ] = None,
    description: Annotated[
        str | None, typer.Option("--description", help="The tool's description.")
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="The executor's model, as backend:model.")
    ] = None,
    planning_model: Annotated[
        str | None,
        typer.Option("--planning-model", help="The planner's model; turns planning on."),
    ] = None,
    plan: Annotated[
        bool | None, typer.Option("--plan/--no-plan", help="Turn the planner pre-pass on or off.")
    ] = None,
    max_steps: Annotated[
        int | None, typer.Option("--max-steps", min=1, help="Model calls allowed per run.")
    ] = None,
    yes: Annotated[
        bool,
        typer.Option(
            "--yes", "-y", help="Approve every tool call and plan that asks for approval."
        ),
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks and debug logs on errors.")
    ] = False,
) -> None:
    """Serve AGENT as one MCP tool taking a task; stdio unless --http is given.

    Progress notifications carry the plan and each tool step; a client's cancellation
    cancels the run. Nothing but the protocol is written to stdout.
    """
    from exo.cli import _agent, _console, _reporting
    from exo.mcp.serve import serve_http, serve_stdio

    err = _console(stderr=True)
    with _reporting(err, debug):
        # A stray print while the agent's module loads would corrupt the stdio protocol.
        with contextlib.redirect_stdout(sys.stderr):
            agent = _agent(
                reference,
                model=model,
                planning_model=planning_model,
                plan=plan,
                planning_on_error=None,
                instructions=None,
                max_steps=max_steps,
            )
        if yes and agent.approval_handler is None:
            agent = agent.replace(approval_handler=_approve)
        if http is None:
            asyncio.run(serve_stdio(agent, name=name, description=description))
            return

        def ready(url: str) -> None:
            err.print(f"serving agent [bold]{agent.name}[/] over MCP at {url}")

        asyncio.run(
            serve_http(
                agent,
                host=host,
                port=http,
                name=name,
                description=description,
                on_ready=ready,
            )
        )


def _approve(request: ApprovalRequest) -> bool:
    """``--yes``: every approval request is granted."""
    return True
