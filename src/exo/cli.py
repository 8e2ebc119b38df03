"""The ``exo`` command: run an agent, chat with it, list the model backends.

    exo run "Compare React vs Svelte for a new project"          # default agent, offline
    exo run examples/researcher.py:agent "task" --model openai:gpt-4o-mini
    exo run agent.yaml "task" --json
    exo chat examples/researcher.py
    exo models

Exit codes: 0 ok, 1 other failure, 2 usage or configuration error (bad option, bad agent
reference, unknown backend), 3 model error, 4 max steps exceeded, 5 budget (--max-cost,
--max-tokens-total) reached, 130 interrupted.

Typer and rich are imported here only (``pip install 'exo-agents[cli]'``), never by
``import exo``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import sys
import uuid
from collections.abc import Iterator
from contextlib import aclosing, contextmanager
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from exo import __version__
from exo._cli_agents import (
    apply_overrides,
    check_backends,
    default_agent,
    is_agent_reference,
    load_agent,
)
from exo._cli_approval import TerminalApproval
from exo._cli_cost import MaxCostOpt, MaxTokensTotalOpt, with_budget
from exo._cli_mcp import mcp_app
from exo._cli_models import show_models
from exo._cli_render import ConsoleLogHandler, RunView, say, usage_line
from exo._cli_toolsets import McpOpt, with_mcp
from exo._cli_trace import TraceOpt, tracing
from exo.agent import Agent
from exo.errors import BudgetExceeded, ConfigError, ExoError, MaxStepsExceeded, ModelError
from exo.runner import run
from exo.types import RunCompleteEvent, RunResult

__all__ = ["app", "exit_code", "for_the_command_line", "main"]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_MODEL, EXIT_MAX_STEPS, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130
EXIT_BUDGET = 5

app = typer.Typer(
    name="exo",
    help="Run exo agents from the terminal.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(mcp_app)  # exo mcp serve (src/exo/_cli_mcp.py)

ModelOpt = Annotated[
    str | None, typer.Option("--model", "-m", help="The executor's model, as backend:model.")
]
PlanningModelOpt = Annotated[
    str | None,
    typer.Option(
        "--planning-model", help="The planner's model (default: --model); turns planning on."
    ),
]
PlanOpt = Annotated[
    bool | None,
    typer.Option("--plan/--no-plan", help="Turn the planner pre-pass on or off."),
]


class PlanningOnError(StrEnum):
    """What ``--planning-on-error`` accepts (``Agent.planning_on_error``)."""

    RAISE = "raise"
    SKIP = "skip"


PlanningOnErrorOpt = Annotated[
    PlanningOnError | None,
    typer.Option(
        "--planning-on-error",
        help="When the planner fails: raise (fail the run) or skip (run unplanned).",
    ),
]
InstructionsOpt = Annotated[
    str | None, typer.Option("--instructions", "-i", help="The agent's instructions.")
]
MaxStepsOpt = Annotated[
    int | None, typer.Option("--max-steps", min=1, help="Model calls allowed per run.")
]
DebugOpt = Annotated[
    bool, typer.Option("--debug", help="Show tracebacks and debug logs on errors.")
]


def main() -> None:
    """Entry point of the ``exo`` script."""
    app()


def exit_code(exc: BaseException) -> int:
    """The exit code for an error: the first known kind along its chain of causes."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, MaxStepsExceeded):
            return EXIT_MAX_STEPS
        if isinstance(seen, BudgetExceeded):
            return EXIT_BUDGET
        if isinstance(seen, ModelError):
            return EXIT_MODEL
        if isinstance(seen, ConfigError):
            return EXIT_USAGE
        seen = seen.__cause__
    return EXIT_FAILURE


def _version(value: bool) -> None:
    if value:
        typer.echo(f"exo {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Run exo agents from the terminal."""


# --------------------------------------------------------------------------- exo run


from exo._cli_durable import DurableOpt, RunIdOpt, run_durable  # noqa: E402


@app.command("run")
def run_command(
    args: Annotated[
        list[str],
        typer.Argument(
            metavar="[AGENT] TASK",
            help="AGENT: file.py[:attr], module[:attr] or an agent .yaml/.toml file "
            "(default: a planning researcher on local:gemma-3-270m). TASK: the task, "
            "or - to read it from stdin.",
            show_default=False,
        ),
    ],
    model: ModelOpt = None,
    planning_model: PlanningModelOpt = None,
    plan: PlanOpt = None,
    planning_on_error: PlanningOnErrorOpt = None,
    instructions: InstructionsOpt = None,
    max_steps: MaxStepsOpt = None,
    max_cost: MaxCostOpt = None,
    max_tokens_total: MaxTokensTotalOpt = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the whole result as JSON, and nothing else.")
    ] = False,
    yes: Annotated[
        bool,
        typer.Option(
            "--yes", "-y", help="Approve every tool call and plan that asks for approval."
        ),
    ] = False,
    debug: DebugOpt = False,
    trace: TraceOpt = None,
    mcp: McpOpt = None,
    durable: DurableOpt = False,
    run_id: RunIdOpt = None,
) -> None:
    """Run an agent on a task, streaming its plan, tool calls and answer.

    Tool calls and plans that need approval are asked about at the terminal (y / n, or
    y / n / edit for a plan) unless --yes approves them all.
    """
    out, err = _console(), _console(stderr=True)
    with _reporting(err, debug):
        if len(args) > 2:
            raise ConfigError(
                f"expected [AGENT] TASK, got {len(args)} arguments",
                hint='quote the task: exo run "Compare React vs Svelte"',
            )
        reference, task = (None, args[0]) if len(args) == 1 else (args[0], args[1])
        if reference is None and is_agent_reference(task):
            raise ConfigError(
                f"the task is missing: {task!r} is an agent file",
                parameter="task",
                hint=f'exo run {task} "your task"',
            )
        if task == "-":
            task = sys.stdin.read()
        if not task.strip():
            raise ConfigError("the task is empty", hint='exo run "your task"')
        agent = _agent(
            reference,
            model=model,
            planning_model=planning_model,
            plan=plan,
            planning_on_error=planning_on_error,
            instructions=instructions,
            max_steps=max_steps,
        )
        agent = with_budget(agent, max_cost, max_tokens_total)
        agent = with_mcp(agent, mcp)
        approval = TerminalApproval(err, yes=yes)
        agent = approval.install(agent)
        if durable or run_id is not None:  # a DBOS workflow, in $EXO_HOME/durable.db
            result = run_durable(agent, task, run_id)
            typer.echo(
                json.dumps(result.to_dict(), indent=2, ensure_ascii=False)
                if json_output
                else str(result.output)
            )
            return
        if json_output:
            with tracing(trace, err):
                try:
                    result = asyncio.run(run(agent, task))
                except BudgetExceeded as exc:  # a script gets the spend too (then exit 5)
                    typer.echo(json.dumps(exc.result.to_dict(), indent=2, ensure_ascii=False))
                    raise
            typer.echo(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
            return
        approval.view = RunView(out, err, model=agent.model)
        with tracing(trace, err):
            asyncio.run(_stream(agent, task, approval.view))


def _console(*, stderr: bool = False) -> Console:
    """A console on the process's stdout or stderr that nothing else can silence.

    llama-cpp-python points file descriptors 1 and 2 at /dev/null while it loads a model
    (``suppress_stdout_stderr``), process-wide, from the local engine's thread: the spinner
    froze, and a Ctrl-C then left it on screen with no "interrupted". Writing to a duplicate of
    the descriptor keeps the terminal. Streams without a descriptor (captured output in tests)
    are used as they are.
    """
    stream = sys.stderr if stderr else sys.stdout
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return Console(stderr=stderr)
    encoding = getattr(stream, "encoding", None) or "utf-8"
    return Console(file=open(os.dup(fd), "w", encoding=encoding, errors="replace"))


def _agent(
    reference: str | None,
    *,
    model: str | None,
    planning_model: str | None,
    plan: bool | None,
    planning_on_error: PlanningOnError | None,
    instructions: str | None,
    max_steps: int | None,
) -> Agent[Any]:
    agent = load_agent(reference) if reference else default_agent()
    if planning_model is not None and plan is None:
        plan = True  # naming a planner model asks for planning
    agent = apply_overrides(
        agent,
        model=model,
        planning_model=planning_model,
        planning_enabled=plan,
        approve_plan=False if plan is False else None,  # --no-plan: no plan to approve
        planning_on_error=planning_on_error.value if planning_on_error else None,
        instructions=instructions,
        max_steps=max_steps,
    )
    check_backends(agent)
    return agent


async def _stream(
    agent: Agent[Any], task: str, view: RunView, *, conversation_id: str | None = None
) -> RunResult:
    """Run ``agent`` with detailed events and render them; return the result."""
    result: RunResult | None = None
    view.wait(f"Starting {agent.model}…")
    try:
        events = run.stream(agent, task, detailed=True, conversation_id=conversation_id)
        async with aclosing(events) as stream:
            async for event in stream:
                if isinstance(event, RunCompleteEvent) and not event.lineage:
                    result = event.result
                else:
                    view.handle(event)
    finally:
        view.close()
    assert result is not None  # the stream ends with RunCompleteEvent or raises
    answer = next((m for m in reversed(result.messages) if m.role == "assistant"), None)
    if not isinstance(result.output, str) and answer is not None and not answer.content:
        # A typed answer given as a final_result call streamed no text: print it as JSON.
        view.out.print(result.text, markup=False, highlight=False, soft_wrap=True)
    view.finish(result)
    return result


@contextmanager
def _reporting(err: Console, debug: bool) -> Iterator[None]:
    """Show exo's warnings while running; turn errors into one message and an exit code."""
    handler = ConsoleLogHandler(err, logging.DEBUG if debug else logging.WARNING)
    logger = logging.getLogger("exo")
    previous_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if debug else logging.WARNING)
    llama_logger = logging.getLogger("exo.models.local.llama_cpp")
    llama_logger.setLevel(logging.INFO)  # llama.cpp's own chatter: too much even for --debug
    try:
        yield
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except Exception as exc:
        _report(err, exc, debug)
        raise typer.Exit(exit_code(exc)) from None
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous_level)
        llama_logger.setLevel(logging.NOTSET)


# Library advice that a person at the terminal cannot follow, and what they can do instead.
_FOR_THE_COMMAND_LINE = (
    (re.compile(r",? \(?or pass api_key= to [\w ]+\)?"), ""),
    (re.compile(r"set planning_on_error='skip'"), "pass --planning-on-error skip"),
)


def for_the_command_line(text: str) -> str:
    """Reword an error message or hint written for Python callers for a command-line user.

    The library's hints name keyword arguments (``api_key=``, ``planning_on_error='skip'``);
    at the terminal the key comes from the environment and the setting is an option.
    """
    for pattern, replacement in _FOR_THE_COMMAND_LINE:
        text = pattern.sub(replacement, text)
    return text


def _report(err: Console, exc: Exception, debug: bool) -> None:
    if debug:
        err.print_exception()
    if isinstance(exc, ExoError):
        say(err, f"[bold red]error:[/] {escape(for_the_command_line(exc.message))}")
        if exc.hint:
            say(err, f"  [dim]hint:[/] {escape(for_the_command_line(exc.hint))}")
        if isinstance(exc, BudgetExceeded):  # what the run spent before it stopped
            say(err, f"  [dim]{escape(usage_line(exc.result))}[/]")
    else:
        say(err, f"[bold red]error:[/] {escape(type(exc).__name__)}: {escape(str(exc))}")
        if not debug:
            err.print("  [dim]run again with --debug for the traceback[/]")


# --------------------------------------------------------------------------- exo chat


@app.command("chat")
def chat_command(
    reference: Annotated[
        str | None,
        typer.Argument(
            metavar="[AGENT]", help="As for `exo run` (default: the planning researcher)."
        ),
    ] = None,
    model: ModelOpt = None,
    planning_model: PlanningModelOpt = None,
    plan: PlanOpt = None,
    planning_on_error: PlanningOnErrorOpt = None,
    instructions: InstructionsOpt = None,
    max_steps: MaxStepsOpt = None,
    memory: Annotated[
        str | None,
        typer.Option(
            "--memory",
            help="Where the conversation is kept: memory (this session only; the default "
            "unless the agent sets one), sqlite, a .db path, or a postgresql:// URL.",
        ),
    ] = None,
    conversation: Annotated[
        str | None,
        typer.Option("--conversation", "-c", help="Continue this conversation id."),
    ] = None,
    debug: DebugOpt = False,
    mcp: McpOpt = None,
) -> None:
    """Chat with an agent: each turn sees the conversation so far."""
    out, err = _console(), _console(stderr=True)
    with _reporting(err, debug):
        agent = _agent(
            reference,
            model=model,
            planning_model=planning_model,
            plan=plan,
            planning_on_error=planning_on_error,
            instructions=instructions,
            max_steps=max_steps,
        )
        agent = with_mcp(agent, mcp)
        approval = TerminalApproval(err, yes=False)
        agent = approval.install(agent)
        if memory is not None:
            agent = agent.replace(memory=memory)
        elif agent.memory is None:
            agent = agent.replace(memory="memory")
        if agent.memory == "memory":  # one object for the session: the runner resolves per run
            from exo.memory import InMemoryMemory

            agent = agent.replace(memory=InMemoryMemory())
        # One event loop for the whole session (providers and memory pools live on it); each
        # turn is one Runner.run, so Ctrl-C cancels that turn's task only, not the session.
        with asyncio.Runner() as runner:
            conversation_id = conversation or f"chat-{uuid.uuid4().hex[:8]}"
            _chat(runner, agent, out, err, conversation_id, approval)


def _chat(
    runner: asyncio.Runner,
    agent: Agent[Any],
    out: Console,
    err: Console,
    conversation_id: str,
    approval: TerminalApproval,
) -> None:
    """Read a line, run it as a turn, repeat.

    Ctrl-C stops the turn in progress; Ctrl-C or Ctrl-D at the prompt, or /exit, leaves.
    """
    err.print(
        f"[bold]{escape(agent.name)}[/] on {escape(agent.model)} · conversation "
        f"[cyan]{escape(conversation_id)}[/] · [dim]/new starts over, Ctrl-C stops a turn, "
        "Ctrl-D or /exit leaves[/]"
    )
    while True:
        text = _prompt(err)
        if text is None or text in ("/exit", "/quit"):
            return
        if not text:
            continue
        if text == "/new":
            conversation_id = f"chat-{uuid.uuid4().hex[:8]}"
            err.print(f"[dim]new conversation[/] [cyan]{conversation_id}[/]")
            continue
        view = approval.view = RunView(out, err, model=agent.model)
        try:
            runner.run(_stream(agent, text, view, conversation_id=conversation_id))
        except KeyboardInterrupt:  # Runner.run cancelled the turn's task: nothing was kept
            view.close()
            err.print("[yellow]interrupted[/] [dim](this turn is not kept)[/]")
        except ConfigError:
            raise
        except ExoError as exc:  # a failed turn: say so, keep chatting
            _report(err, exc, debug=False)


def _prompt(err: Console) -> str | None:
    """The next line typed, stripped; ``None`` when the user leaves (Ctrl-D or Ctrl-C)."""
    try:
        return err.input("[bold green]you ›[/] ").strip()
    except (EOFError, KeyboardInterrupt):
        err.print()  # end the prompt's line before the shell's prompt comes back
        return None


# --------------------------------------------------------------------------- exo models


@app.command("models")
def models_command() -> None:
    """List the model backends, what they need, and whether this machine has it."""
    show_models(Console())


# --------------------------------------------------------------------------- exo eval

from exo._cli_eval import eval_command  # noqa: E402  (its own module; registered here)

app.command("eval")(eval_command)


# --------------------------------------------------------------------------- exo serve

from exo._cli_serve import register as _register_serve  # noqa: E402

_register_serve(app)


# --------------------------------------------------------------------------- exo worker, runs

from exo._cli_durable import register as _register_durable  # noqa: E402

_register_durable(app)
