"""``exo models``: the model backends, what each needs, and whether this machine has it.

A table on a wide terminal; on a narrow one (or a pipe narrower than the table) one short block
per backend, so nothing is cut off with an ellipsis at any width.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from exo.models import BUILTIN_BACKENDS, known_backends

__all__ = ["TABLE_MIN_WIDTH", "show_models"]

TABLE_MIN_WIDTH = 110
"""Below this many columns the table would cut the descriptions: blocks are printed instead."""

_EXTRA_MODULES = {"openai": "openai", "anthropic": "anthropic", "local": "llama_cpp"}


@dataclass(frozen=True, slots=True)
class _Row:
    name: str
    ready: str  # rich markup
    extra: str
    about: str
    env: str


def _rows() -> list[_Row]:
    rows = []
    for info in BUILTIN_BACKENDS.values():
        module = _EXTRA_MODULES.get(info.extra or "")
        installed = module is None or importlib.util.find_spec(module) is not None
        if not installed:
            ready = "[red]not installed[/]"
        elif info.configured():
            ready = "[green]yes[/]"
        else:
            ready = f"[yellow]set {escape(info.env_vars[0])}[/]"
        extra = f"[{info.extra}]" if info.extra else "built in"
        rows.append(_Row(info.name, ready, extra, info.description, " ".join(info.env_vars)))
    for name in known_backends():
        if name not in BUILTIN_BACKENDS:
            rows.append(_Row(name, "[green]yes[/]", "", "registered in this process", ""))
    return rows


def show_models(console: Console) -> None:
    """Print the backends to fit ``console.width``."""
    rows = _rows()
    title = "Model backends (use as backend:model)"
    if console.width >= TABLE_MIN_WIDTH:
        table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
        table.add_column("backend", style="bold", no_wrap=True)
        table.add_column("ready", no_wrap=True)
        table.add_column("extra", no_wrap=True)
        table.add_column("about", ratio=1, overflow="fold")
        for row in rows:
            about = escape(row.about) + (f"\n[dim]{escape(row.env)}[/]" if row.env else "")
            table.add_row(row.name, row.ready, escape(row.extra), about)
        console.print(table)
    else:
        console.print(title, overflow="fold")
        for row in rows:
            console.print()
            extra = f" · {escape(row.extra)}" if row.extra else ""
            console.print(f"[bold]{escape(row.name)}[/] · {row.ready}{extra}", overflow="fold")
            details = escape(row.about) + (f"\n[dim]env: {escape(row.env)}[/]" if row.env else "")
            console.print(Padding(Text.from_markup(details, overflow="fold"), (0, 0, 0, 2)))
    console.print()
    console.print(
        "[dim]Install an extra with pip install 'exo-agents\\[extra]'; "
        'e.g. exo run --model openai:gpt-4o-mini "task"[/]'
    )
