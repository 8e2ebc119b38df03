"""``exo --help`` (and a bare ``exo``) without importing the commands: the root help from a table.

The full command line (:mod:`exo.cli`) imports the run loop, pydantic, the eval, serve, MCP,
trace, cost and durable registrations: about 0.4 s before the first line of help. The root
help needs none of it, only each command's name and one line, so :mod:`exo._cli_entry`
answers ``exo --help`` with an app built here: the same typer settings, the same root
option, a stand-in per command with the help line the listing shows, rendered by typer as
the full app renders it. ``tests/cli/test_help_fast.py`` checks that both print the same
text, so a command added to :mod:`exo.cli` must be added to :data:`COMMANDS` too.
"""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["COMMANDS", "HELP", "is_root_help", "root_help_app"]

HELP = "Run exo agents from the terminal."
"""The root command's help (``exo.cli.app``)."""

COMMANDS: tuple[tuple[str, str], ...] = (
    ("run", "Run an agent on a task, streaming its plan, tool calls and answer."),
    ("chat", "Chat with an agent: each turn sees the conversation so far."),
    ("models", "List the model backends, what they need, and whether this machine has it."),
    (
        "eval",
        "Run SUITE in each variant, each task --repeats times; print a table with 95% intervals.",
    ),
    ("serve", "Serve agents over HTTP: exo's run API, the run viewer page, and the wire formats."),
    ("worker", "Execute durable runs of AGENT from its queue until stopped (Ctrl-C)."),
    ("mcp", "Serve an agent over the Model Context Protocol."),
    ("runs", "List, show, follow, resume and cancel durable runs."),
)
"""Each root command of ``exo.cli.app`` and the help line its listing shows, in its order."""


def is_root_help(args: list[str]) -> bool:
    """Whether ``args`` ask for the root help only (``exo``, ``exo --help``)."""
    return args in ([], ["--help"])


def _stand_in() -> None:  # pragma: no cover - never called: only --help reaches this app
    raise SystemExit(2)


def root_help_app() -> typer.Typer:
    """An app whose root help is ``exo.cli.app``'s, built without importing it."""
    app = typer.Typer(
        name="exo",
        help=HELP,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )

    @app.callback()
    def _root(
        version: Annotated[
            bool, typer.Option("--version", is_eager=True, help="Show the version.")
        ] = False,
    ) -> None:
        """Run exo agents from the terminal."""

    for name, line in COMMANDS:
        app.command(name, help=line)(_stand_in)
    return app
