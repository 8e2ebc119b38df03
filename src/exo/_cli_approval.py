"""The terminal's approval handler: ``exo run`` asks y / n for a tool call, y / n / edit for a plan.

The CLI answers in process (``Agent(approval_handler=...)``), so a run never pauses there.
``--yes`` approves everything and says so. The question is read on the event loop's thread:
while a person decides nothing else of the run can go on (the turn's tools are held anyway),
and Ctrl-C interrupts it like any other wait.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from exo._cli_render import RunView
from exo.agent import Agent
from exo.approval import Answer
from exo.types import ApprovalRequest

__all__ = ["TerminalApproval"]


class TerminalApproval:
    """Answers a run's approval requests at the terminal (or approves them all with ``--yes``).

    Args:
        err: Where the questions go (stderr), and whose input is read.
        yes: Approve everything without asking.

    Attributes:
        view: The run's view, quieted (spinner stopped, answer line ended) before a question.
    """

    def __init__(self, err: Console, *, yes: bool) -> None:
        self.err = err
        self.yes = yes
        self.view: RunView | None = None

    def install(self, agent: Agent[Any]) -> Agent[Any]:
        """Return ``agent`` asking here; one that needs no approval or has its own handler is
        returned as it is."""
        if agent.approval_handler is not None or (agent.gate is None and not agent.approve_plan):
            return agent
        return agent.replace(approval_handler=self.answer)

    def answer(self, request: ApprovalRequest) -> Answer:
        """Ask about one request (the agent's ``approval_handler``)."""
        if self.view is not None:
            self.view.close()
        err = self.err
        if self.yes:
            err.print(f"[dim]✓ approved (--yes): {escape(_what(request))}[/]")
            return True
        if request.kind == "plan":
            return _ask_plan(err, request)
        return _ask_tool(err, request)


def _who(request: ApprovalRequest) -> str:
    return " › ".join((*request.lineage, request.agent_name)) if request.lineage else ""


def _what(request: ApprovalRequest) -> str:
    if request.kind == "plan":
        return "the plan"
    return f"{request.tool_name}({json.dumps(request.arguments, ensure_ascii=False)})"


def _ask_tool(err: Console, request: ApprovalRequest) -> Answer:
    who = _who(request)
    err.print(f"[bold yellow]? approve this call[/]{f' by {escape(who)}' if who else ''}:")
    err.print(f"  [bold]{escape(request.tool_name)}[/]")
    for name, value in request.arguments.items():
        shown = json.dumps(value, ensure_ascii=False)
        err.print(f"    {escape(name)} = {escape(shown)}")
    while True:
        reply = _read(err, "[bold yellow]run it? \\[y/n][/] ")
        if reply in ("y", "yes"):
            return True
        if reply in ("n", "no", None):
            return "the user said no at the terminal"
        err.print("[dim]answer y or n[/]")


def _ask_plan(err: Console, request: ApprovalRequest) -> Answer:
    while True:
        reply = _read(
            err, "[bold yellow]use this plan? \\[y]es / \\[n]o (run without it) / \\[e]dit[/] "
        )
        if reply in ("y", "yes"):
            return True
        if reply in ("n", "no", None):
            return False
        if reply in ("e", "edit"):
            edited = _edit(err, request.plan)
            err.print("[dim]using the edited plan[/]")
            return edited
        err.print("[dim]answer y, n or e[/]")


def _read(err: Console, prompt: str) -> str | None:
    """One answer, lower-cased; ``None`` when input ends (Ctrl-D, or no terminal)."""
    try:
        return err.input(prompt).strip().lower()
    except EOFError:
        err.print()
        return None


def _edit(err: Console, plan: str) -> str:
    """The plan as edited in ``$EDITOR``, or typed inline (ended by a line with a lone ``.``)."""
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
    if editor:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "plan.md"
            path.write_text(plan, encoding="utf-8")
            subprocess.run([*shlex.split(editor), str(path)], check=False)
            return path.read_text(encoding="utf-8").strip()
    err.print("[dim]type the new plan; end it with a line holding only a dot (.)[/]")
    lines: list[str] = []
    while True:
        try:
            line = err.input("")
        except EOFError:
            break
        if line.strip() == ".":
            break
        lines.append(line)
    return "\n".join(lines).strip()
