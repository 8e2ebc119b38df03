"""How the ``exo`` command shows a run in the terminal.

The answer text goes to stdout as it streams (so ``exo run "task" > answer.txt`` keeps just the
answer); everything around it (spinner, plan panel, tool lines, warnings, the usage line) goes
to stderr.
"""

from __future__ import annotations

import json
import logging
import re
import time

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.status import Status

from exo._cli_cost import cost_part
from exo.types import (
    PlanCompleteEvent,
    PlanSkippedEvent,
    PlanStartEvent,
    PlanStep,
    PlanStepEvent,
    ReplanEvent,
    RunResult,
    RunStartEvent,
    TextEvent,
    ToolCallEvent,
    ToolResultEvent,
    Usage,
    WarningEvent,
    text_of,
)

__all__ = ["ConsoleLogHandler", "RunView", "say", "usage_line"]

_PREVIEW = 100


def say(console: Console, markup: str) -> None:
    """Print a message line: wrapped at words on a terminal, one unbroken line in a pipe or log."""
    console.print(markup, soft_wrap=not console.is_terminal)


def _preview(text: str, limit: int = _PREVIEW) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _arguments(raw: str, limit: int = _PREVIEW) -> str:
    try:
        data = json.loads(raw or "{}")
    except json.JSONDecodeError:
        return _preview(raw, limit)
    if isinstance(data, dict):
        return _preview(", ".join(f"{k}={v!r}" for k, v in data.items()), limit)
    return _preview(raw, limit)


class _WordWrap:
    """Wraps streamed text at word boundaries for a terminal (holding back at most one word)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.column = 0
        self.word = ""
        self.space = ""

    def feed(self, text: str) -> None:
        for part in re.split(r"(\s+)", text):
            if not part:
                continue
            if not part.isspace():
                self.word += part
                continue
            self._flush_word()
            if "\n" in part:
                self._write(part[: part.rfind("\n") + 1])
                self.column, self.space = 0, part[part.rfind("\n") + 1 :]
            else:
                self.space += part

    def close(self) -> None:
        self._flush_word()
        self.space = ""

    def _flush_word(self) -> None:
        if not self.word:
            return
        if self.column and self.column + len(self.space) + len(self.word) > self.console.width:
            self._write("\n")
            self.column, self.space = 0, ""
        self._write(self.space + self.word)
        self.column += len(self.space) + len(self.word)
        self.word = self.space = ""

    def _write(self, text: str) -> None:
        self.console.print(text, end="", markup=False, highlight=False, soft_wrap=True)


class RunView:
    """Renders one run's events: live text, plan panel, tool lines, a spinner between them.

    Args:
        out: Where the answer text goes (stdout).
        err: Where everything else goes (stderr).
        model: The executor's ``backend:model``, for the spinner.
    """

    def __init__(self, out: Console, err: Console, *, model: str) -> None:
        self.out = out
        self.err = err
        self.model = model
        self.started = time.perf_counter()
        self._status: Status | None = None
        self._line_open = False  # the answer text on stdout has no final newline yet
        self._wrap = _WordWrap(out) if out.is_terminal else None
        self._steps = self._done = 0  # a structured plan's steps, and how many are ticked

    # -- spinner

    def wait(self, message: str) -> None:
        """Show a spinner with ``message`` until the next thing is printed (terminals only)."""
        if not self.err.is_terminal:
            return
        if self._status is None:
            self._status = self.err.status(escape(message), spinner="dots")
            self._status.start()
        else:
            self._status.update(escape(message))

    def _quiet(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def _end_line(self) -> None:
        if self._wrap is not None:
            self._wrap.close()
        if self._line_open:
            self.out.print()
            self._line_open = False

    def close(self) -> None:
        """Stop the spinner and end the answer's line."""
        self._quiet()
        self._end_line()

    # -- events

    def handle(self, event: object) -> None:
        """Render one stream event (events it does not show are ignored)."""
        if getattr(event, "lineage", ()):
            self._child(event)
        elif isinstance(event, PlanStartEvent):
            loading = " (loading the model)" if event.model.startswith("local:") else ""
            self.wait(f"Planning with {event.model}{loading}…")
        elif isinstance(event, PlanCompleteEvent):
            self._plan(event)
        elif isinstance(event, PlanStepEvent):
            self._tick(event)
        elif isinstance(event, ReplanEvent):
            self._replan(event)
        elif isinstance(event, PlanSkippedEvent):
            self._quiet()
            say(self.err, f"[yellow]⚠ planning skipped:[/] {escape(event.reason)}")
            self.wait(f"Working with {self.model}…")
        elif isinstance(event, WarningEvent):
            self._quiet()
            say(self.err, f"[yellow]⚠[/] {escape(event.message)}")
        elif isinstance(event, RunStartEvent):
            self.wait(f"Working with {event.model}…")
        elif isinstance(event, TextEvent):
            self._quiet()
            if self._wrap is not None:
                self._wrap.feed(event.text)
            else:
                self.out.print(event.text, end="", markup=False, highlight=False, soft_wrap=True)
            self._line_open = not event.text.endswith("\n")
        elif isinstance(event, ToolCallEvent):
            self._quiet()
            self._end_line()
            args = escape(_arguments(event.arguments, self._room(event.tool_name, 4)))
            self.err.print(f"[cyan]→[/] [bold]{escape(event.tool_name)}[/]({args})")
            self.wait(f"Running {event.tool_name}…")
        elif isinstance(event, ToolResultEvent):
            self._quiet()
            colour, mark = ("red", "✗") if event.is_error else ("green", "←")
            content = escape(_preview(text_of(event.content), self._room(event.tool_name, 6)))
            self.err.print(f"  [{colour}]{mark}[/] [dim]{escape(event.tool_name)}:[/] {content}")
            self.wait(f"Working with {self.model}…")

    def _room(self, name: str, extra: int) -> int:
        """Characters left on a line after the tool name and decorations (one line per item)."""
        return max(20, self.err.width - len(name) - extra)

    def _plan(self, event: PlanCompleteEvent) -> None:
        self._quiet()
        plan = event.plan
        body = escape(plan.text) if plan.text else "[dim](empty plan: the task goes in as is)[/]"
        if plan.checklist:  # a structured plan: its steps as boxes, ticked as they are done
            self._steps = len(plan.checklist)
            body = _checklist(plan.checklist)
        self.err.print(
            Panel(
                body,
                title=f"[bold]Plan[/] · {escape(plan.model)}",
                title_align="left",
                subtitle="cached" if plan.cached else f"{plan.usage.total_tokens} tokens",
                subtitle_align="right",
                border_style="cyan",
                expand=False,
            )
        )
        self.wait(f"Working with {self.model}…")

    def _tick(self, event: PlanStepEvent) -> None:
        self._quiet()
        self._end_line()
        self._done += 1
        count = f"{self._done}/{self._steps}" if self._steps else str(self._done)
        say(self.err, f"[green]✓[/] [dim]step {count}:[/] {escape(event.step.title)}")
        self.wait(f"Working with {self.model}…")

    def _replan(self, event: ReplanEvent) -> None:
        self._quiet()
        self._end_line()
        body = "[dim](no new steps: the run goes on with its plan)[/]"
        if event.steps:  # the steps still pending were replaced by these
            body = _checklist(event.steps)
            self._steps = self._done + len(event.steps)
        self.err.print(
            Panel(
                f"[yellow]{escape(_preview(event.reason, 200))}[/]\n\n{body}",
                title=f"[bold]Revised plan[/] · {event.trigger.replace('_', ' ')} ({event.number})",
                title_align="left",
                subtitle=f"{event.usage.total_tokens} tokens",
                subtitle_align="right",
                border_style="yellow",
                expand=False,
            )
        )
        self.wait(f"Working with {self.model}…")

    def _child(self, event: object) -> None:
        who = "/".join((*getattr(event, "lineage", ()), getattr(event, "agent_name", "?")))
        if isinstance(event, ToolCallEvent):
            self._quiet()
            self._end_line()
            args = escape(_arguments(event.arguments))
            self.err.print(
                f"[dim]  [{escape(who)}][/] [cyan]→[/] {escape(event.tool_name)}({args})"
            )

    def finish(self, result: RunResult) -> None:
        """Close the live output and print the usage line (after a refusal's reason)."""
        self.close()
        elapsed = time.perf_counter() - self.started
        if result.refusal is not None:
            say(self.err, f"[yellow]refused:[/] {escape(result.refusal)}")
        say(self.err, f"[dim]{escape(usage_line(result, elapsed))}[/]")


def _checklist(steps: tuple[PlanStep, ...]) -> str:
    """The steps as boxes, numbered as the executor sees them (their todo numbers)."""
    lines = []
    for i, step in enumerate(steps, 1):
        box = "[green]☑[/]" if step.status == "done" else "☐"
        lines.append(f"{box} {step.todo or i}. {escape(step.title)}")
        if step.done_when:
            lines.append(f"     [dim]done when: {escape(step.done_when)}[/]")
    return "\n".join(lines)


def usage_line(result: RunResult, elapsed: float | None = None) -> str:
    """One line of token usage per phase, e.g. ``plan 160 · execute 412 · total 572 tokens``,
    then the money it cost (when it cost any: see :func:`exo._cli_cost.cost_part`).

    Usage a server did not report is unknown, not zero: a phase with no reported usage
    reads ``unknown``, and a count missing some requests ends in ``+`` (at least that much).
    """
    phases = result.usage_by_phase
    parts = []
    if result.plan is not None:
        parts.append(f"plan {_tokens(phases['plan'])}")
    parts.append(f"execute {_tokens(phases['execute'])}")
    if phases["children"].requests:
        parts.append(f"children {_tokens(phases['children'])}")
    total = result.usage
    line = f"tokens: {' · '.join(parts)} · total {_tokens(total)}"
    requests = f"{total.requests} request{'' if total.requests == 1 else 's'}"
    if total.unreported:
        requests += f", {total.unreported} without reported usage"
    if total.unreported < total.requests:
        line += f" ({total.input_tokens} in, {total.output_tokens} out; {requests}"
    else:
        line += f" ({requests}"
    line += f", {elapsed:.1f}s)" if elapsed is not None else ")"
    cost = cost_part(result)
    return f"{line} · {cost}" if cost else line


def _tokens(usage: Usage) -> str:
    if usage.requests and usage.unreported >= usage.requests:
        return "unknown"
    return f"{usage.total_tokens}+" if usage.unreported else str(usage.total_tokens)


class ConsoleLogHandler(logging.Handler):
    """Prints exo's log records (e.g. the local model's tool warning) on the stderr console."""

    def __init__(self, err: Console, level: int = logging.WARNING) -> None:
        super().__init__(level)
        self.err = err

    def emit(self, record: logging.LogRecord) -> None:
        colour = "red" if record.levelno >= logging.ERROR else "yellow"
        if record.levelno < logging.WARNING:
            colour = "dim"
        label = record.levelname.lower()
        say(self.err, f"[{colour}]{label}:[/] {escape(record.getMessage())}")
