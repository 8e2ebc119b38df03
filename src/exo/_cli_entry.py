"""The ``exo`` script's entry point: without the CLI's libraries, say which extra installs them.

``pip install exo-agents`` installs the ``exo`` script but not typer, rich and PyYAML (the
``[cli]`` extra); importing :mod:`exo.cli` would then die with a traceback. This module imports
nothing beyond the standard library until it has checked.
"""

from __future__ import annotations

import sys

__all__ = ["main"]

_CLI_MODULES = ("typer", "rich", "yaml")


def main() -> None:
    """Run the ``exo`` command, or exit 2 with a one-line install hint."""
    try:
        from exo._cli_help import is_root_help, print_root_help, usage_line

        # the root help needs neither the commands' imports nor typer's (exo/_cli_help.py)
        usage = usage_line() if is_root_help(sys.argv[1:]) else None
        if usage is not None:
            print_root_help(usage, bare=not sys.argv[1:])
        from exo.cli import main as cli_main
    except ModuleNotFoundError as exc:
        if exc.name not in _CLI_MODULES:
            raise
        print(
            f"exo: the command line needs the [cli] extra ({exc.name} is not installed): "
            "pip install 'exo-agents[cli]'",
            file=sys.stderr,
        )
        raise SystemExit(2) from None
    cli_main()
