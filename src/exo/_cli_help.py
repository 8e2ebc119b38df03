"""``exo --help`` (and a bare ``exo``) from a table, printed with rich alone.

The full command line (:mod:`exo.cli`) imports the run loop, pydantic, the eval, serve, MCP,
trace, cost and durable registrations: about 0.4 s before the first line of help. Even an
empty typer app costs about 110 ms to import and render (typer, then ``typer.rich_utils``,
which imports rich's markdown, syntax and traceback modules). The root help needs none of
that: only each command's name and help line, each option's names, type and help line. So
:mod:`exo._cli_entry` answers ``exo --help`` and a bare ``exo`` here, by building the same
rich renderables typer's ``rich_format_help`` builds for ``exo.cli.app`` (a console set up
from the same environment variables, the same highlighters, theme, padding, panels and
tables), from :data:`COMMANDS` and :data:`OPTIONS`; then it ends as typer does (``--help``:
one more newline and exit 0; a bare ``exo``: exit 2, as ``no_args_is_help`` does).

Any other argument list (``exo run --help``, ``exo --version``, ``exo -h``) takes the full
app, and so does the root help when the program name would make click wrap the usage line
or when ``exo`` runs as ``python -m`` (see :func:`usage_line`).

``tests/cli/test_help_fast.py`` runs both paths in new interpreters and compares their bytes
for several widths, colour settings and a real terminal, against typer's own rendering of
``exo.cli.app``: a command added to :mod:`exo.cli` must be added to :data:`COMMANDS` too, and
a typer upgrade that renders differently fails there rather than drifting.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

__all__ = ["COMMANDS", "HELP", "OPTIONS", "is_root_help", "print_root_help", "usage_line"]

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

OPTIONS: tuple[tuple[str, str, str], ...] = (
    ("--version", "<bool>", "Show the version."),
    ("--help", "<bool>", "Show this message and exit."),
)
"""Each root option of ``exo.cli.app``: its name, the type typer shows, its help line."""

USAGE_ARGS = "[OPTIONS] COMMAND [ARGS]..."
"""What click's usage line shows after the program name for a group."""

_USAGE_WIDTH = 50
"""Click wraps the usage line at its formatter width, never less than 50 columns."""


def is_root_help(args: list[str]) -> bool:
    """Whether ``args`` ask for the root help only (``exo``, ``exo --help``)."""
    return args in ([], ["--help"])


def usage_line() -> str | None:
    """The usage line click would print, or None where the fast path does not apply.

    Click names the program after ``sys.argv[0]``'s file name when a script runs (the
    ``exo`` script), and ``python -m ...`` when a module runs; only the first is handled
    here. A program name long enough for click to wrap the line is left to click too.
    """
    if getattr(sys.modules["__main__"], "__package__", None):  # python -m: click's own naming
        return None
    line = f"Usage: {os.path.basename(sys.argv[0])} {USAGE_ARGS}"
    return line if len(line) <= _USAGE_WIDTH else None


def print_root_help(usage: str, *, bare: bool) -> NoReturn:
    """Print the root help as typer prints ``exo.cli.app``'s, then exit as typer does.

    Args:
        usage: The usage line, from :func:`usage_line`.
        bare: True for a bare ``exo`` (exit 2, no trailing newline), False for ``--help``.
    """
    from rich.align import Align
    from rich.console import Group
    from rich.padding import Padding

    console = _console()
    highlight = console.highlighter
    # typer.rich_utils.rich_format_help: the usage, the help text, then the panels
    console.print(Padding(highlight(usage), 1), style="bold")
    help_text = Group(highlight(_markup(HELP)))
    console.print(Padding(Align(help_text, pad=False), (0, 1, 1, 1)))
    _print_options(console)
    _print_commands(console)
    if bare:  # no_args_is_help: click raises a usage error whose message is the help
        raise SystemExit(2)
    # --help: click echoes what its formatter kept after rich printed: an empty line (printed
    # by rich here, whose broken-pipe handling, exit 1, then covers it too)
    console.print()
    raise SystemExit(0)


def _console() -> Console:
    """The console ``typer.rich_utils._get_rich_console`` builds, from the same variables."""
    from rich.console import Console
    from rich.highlighter import RegexHighlighter
    from rich.theme import Theme

    class OptionHighlighter(RegexHighlighter):
        highlights = [  # noqa: RUF012 - rich's own class attribute
            r"(^|\W)(?P<switch>\-\w+)(?![a-zA-Z0-9])",
            r"(^|\W)(?P<option>\-\-[\w\-]+)(?![a-zA-Z0-9])",
            r"(?P<types>\<[^\>]+\>)",
            r"(?P<usage>Usage: )",
        ]

    width = os.getenv("TERMINAL_WIDTH")
    forced = os.getenv("GITHUB_ACTIONS") or os.getenv("FORCE_COLOR") or os.getenv("PY_COLORS")
    force_terminal = True if forced else None
    if os.getenv("_TYPER_FORCE_DISABLE_TERMINAL"):
        force_terminal = False
    theme = {
        "option": "bold cyan",
        "switch": "bold green",
        "negative_option": "bold magenta",
        "negative_switch": "bold red",
        "types": "bold yellow",
        "types_sep": "dim",
        "usage": "yellow",
    }
    return Console(
        theme=Theme(theme),
        highlighter=OptionHighlighter(),
        color_system="auto",
        force_terminal=force_terminal,
        width=int(width) if width else None,
    )


def _markup(text: str) -> Text:
    """A help line as typer reads it: rich markup, no style of its own."""
    from rich.text import Text

    return Text.from_markup(text, style="")


def _print_options(console: Console) -> None:
    """typer's options panel: the names, the type, the help (no short, negative or required)."""
    from rich.columns import Columns
    from rich.highlighter import RegexHighlighter
    from rich.panel import Panel
    from rich.text import Text

    class TypesHighlighter(RegexHighlighter):
        highlights = [  # noqa: RUF012 - rich's own class attribute
            r"^(?P<types_sep>(\[|<))",
            r"(?P<types_sep>\|)",
            r"(?P<types_sep>(\]|>))(\.\.\.)?$",
        ]

    highlight, types = console.highlighter, TypesHighlighter()
    table = _panel_table(highlight=True)
    for name, type_, help_line in OPTIONS:
        type_text = Text(type_, style="bold yellow", overflow="fold")
        cells = (highlight(name), highlight(""), Text(""), Text(""), types(type_text))
        table.add_row(*cells, Columns([highlight(_markup(help_line))]))
    console.print(Panel(table, border_style="dim", title="Options", title_align="left"))


def _panel_table(*, highlight: bool) -> Table:
    """The borderless table typer puts in each of its help panels."""
    from rich.table import Table

    return Table(
        highlight=highlight,
        show_header=False,
        expand=True,
        box=None,
        show_lines=False,
        leading=0,
        border_style=None,
        row_styles=None,
        pad_edge=False,
        padding=(0, 1),
    )


def _print_commands(console: Console) -> None:
    """typer's commands panel: each name, its help line."""
    from rich.panel import Panel
    from rich.text import Text

    table = _panel_table(highlight=False)
    width = max(len(name) for name, _ in COMMANDS)
    table.add_column(style="bold cyan", no_wrap=True, width=width)
    table.add_column("Description", justify="left", no_wrap=False, ratio=10)
    for name, help_line in COMMANDS:
        table.add_row(Text(name), console.highlighter(_markup(help_line)))
    console.print(Panel(table, border_style="dim", title="Commands", title_align="left"))
