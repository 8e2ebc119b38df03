"""Durable runs on the command line: ``exo worker``, ``exo runs list / show / follow / resume /
cancel``.

DBOS is imported only when one of these commands runs (``exo-agents[dbos]``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from exo.errors import AgentError, ConfigError, ExoError

if TYPE_CHECKING:
    from exo.agent import Agent
    from exo.durable import DurableEvent
    from exo.types import RunResult

__all__ = ["DurableOpt", "RunIdOpt", "register", "run_durable"]

DurableOpt = Annotated[
    bool,
    typer.Option(
        "--durable",
        help="Run as a durable DBOS workflow recorded in $EXO_HOME/durable.db: a run killed "
        "midway is finished by `exo runs resume` or the same command with --run-id.",
    ),
]
RunIdOpt = Annotated[
    str | None,
    typer.Option(
        "--run-id",
        help="The durable run's id (implies --durable); reuse it to finish a killed run.",
    ),
]

DatabaseOpt = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="DBOS's system database: sqlite:///file or postgresql://... "
        "(default: $EXO_HOME/durable.db).",
    ),
]


def _client(database_url: str | None) -> Any:
    import os

    from exo.durable import INSTALL_HINT, SCHEMA_ENV, default_database_url

    try:
        from dbos import DBOSClient
    except ImportError as exc:
        raise ConfigError(
            "durable runs need DBOS, which is not installed", hint=INSTALL_HINT
        ) from exc
    return DBOSClient(
        system_database_url=database_url or default_database_url(),
        dbos_system_schema=os.environ.get(SCHEMA_ENV) or "dbos",
    )


def run_durable(agent: Agent[Any], task: str, run_id: str | None) -> RunResult[Any]:
    """Run ``agent`` on ``task`` as a durable run on SQLite under EXO_HOME (``exo run
    --durable``); a ``run_id`` that exists is finished (recovered), not started again."""
    from exo.durable import DBOSAgent, launch, shutdown

    durable = DBOSAgent(agent)
    launch()
    try:
        with _cancelled_says_so(run_id):
            return asyncio.run(durable.run(task, run_id=run_id))
    finally:
        shutdown()


@contextmanager
def _cancelled_says_so(run_id: str | None) -> Iterator[None]:
    """Turn DBOS's error for a run cancelled while this process waited into an exo error."""
    from dbos._error import DBOSAwaitedWorkflowCancelledError

    try:
        yield
    except DBOSAwaitedWorkflowCancelledError:
        raise AgentError(
            f"durable run {run_id!r} was cancelled" if run_id else "the run was cancelled",
            hint="exo runs resume RUN_ID --agent AGENT continues it",
        ) from None


@contextmanager
def _reported() -> Iterator[None]:
    """An exo error as one line (and its hint) on stderr and the CLI's exit code."""
    from exo.cli import exit_code
    from exo.durable._events import no_runs_yet

    try:
        try:
            yield
        except Exception as exc:
            if not no_runs_yet(exc):
                raise
            raise ConfigError("no durable run has been started on this database") from None
    except ExoError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        if exc.hint:
            typer.echo(f"hint: {exc.hint}", err=True)
        raise typer.Exit(exit_code(exc)) from None


def worker_command(
    agent_ref: Annotated[
        str, typer.Argument(metavar="AGENT", help="file.py[:attr] or module[:attr].")
    ],
    database_url: DatabaseOpt = None,
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", min=1, help="Runs executed at once here.")
    ] = None,
    runs_per_minute: Annotated[
        int | None,
        typer.Option("--runs-per-minute", min=1, help="Runs started per minute, all workers."),
    ] = None,
    requests_per_minute: Annotated[
        int | None,
        typer.Option(
            "--requests-per-minute",
            min=1,
            help="Model requests per provider per minute, all workers (a sliding window).",
        ),
    ] = None,
    rate_window: Annotated[
        float,
        typer.Option(
            "--rate-window",
            min=0.001,
            help="Seconds the --requests-per-minute window spans instead of 60 "
            "(e.g. 20 requests per 2 s: --requests-per-minute 20 --rate-window 2).",
        ),
    ] = 60.0,
    executor_id: Annotated[
        str | None, typer.Option("--executor-id", help="This worker's id (default: local).")
    ] = None,
    take_over: Annotated[
        list[str] | None,
        typer.Option("--take-over", help="Also recover the runs of this dead worker's id."),
    ] = None,
) -> None:
    """Execute durable runs of AGENT from its queue until stopped (Ctrl-C)."""
    from exo._cli_agents import load_agent
    from exo.durable import DBOSAgent, RateLimit, launch, shutdown
    from exo.durable import take_over as recover

    agent = load_agent(agent_ref)
    limit = None if requests_per_minute is None else RateLimit(requests_per_minute, rate_window)
    durable = DBOSAgent(
        agent, concurrency=concurrency, runs_per_minute=runs_per_minute, rate_limit=limit
    )
    launch(database_url, executor_id=executor_id)

    async def serve() -> None:
        await durable.listen()
        if take_over:
            taken = await recover(list(take_over))
            typer.echo(f"took over {len(taken)} run(s) of {', '.join(take_over)}", err=True)
        typer.echo(f"exo worker: executing runs of {durable.name!r}", err=True)
        await asyncio.Event().wait()  # the queue's own thread executes the runs

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass
    finally:
        shutdown()


runs_app = typer.Typer(name="runs", help="List, show, follow, resume and cancel durable runs.")


@runs_app.command("list")
def runs_list(database_url: DatabaseOpt = None, limit: int = 50) -> None:
    """List durable runs, newest first: id, status, agent."""
    from exo.durable._events import no_runs_yet

    client = _client(database_url)
    try:
        runs = client.list_workflows(sort_desc=True, limit=limit)
    except Exception as exc:
        if not no_runs_yet(exc):
            raise
        runs = []  # no run was ever started here
    finally:
        client.destroy()
    for s in runs:
        typer.echo(f"{s.workflow_id}\t{s.status}\t{s.name.removeprefix('exo:')}")


@runs_app.command("show")
def runs_show(run_id: str, database_url: DatabaseOpt = None) -> None:
    """Show one run as JSON: status, its steps by name, and its output when done."""
    with _reported():
        _show(run_id, database_url)


def _show(run_id: str, database_url: str | None) -> None:
    client = _client(database_url)
    try:
        [status] = client.list_workflows(workflow_ids=[run_id]) or [None]
        if status is None:
            raise ConfigError(f"no durable run {run_id!r}", hint="exo runs list")
        steps = client.list_workflow_steps(run_id)
        shown: dict[str, Any] = {
            "run_id": run_id,
            "status": status.status,
            "agent": status.name.removeprefix("exo:"),
            "executor_id": status.executor_id,
            "steps": [s["function_name"] for s in steps],
        }
        if isinstance(status.output, str):
            shown["output"] = json.loads(status.output).get("output")
        if status.error is not None:
            shown["error"] = str(status.error)
        typer.echo(json.dumps(shown, indent=2, ensure_ascii=False))
    finally:
        client.destroy()


@runs_app.command("resume")
def runs_resume(
    run_id: str,
    database_url: DatabaseOpt = None,
    agent_ref: Annotated[
        str | None,
        typer.Option(
            "--agent",
            metavar="AGENT",
            help="Execute the run here, with this agent (file.py[:attr] or module[:attr]), "
            "and print its output; without it a worker of its agent executes it.",
        ),
    ] = None,
) -> None:
    """Resume a cancelled run, or one whose process died: it continues from its last
    finished step."""
    from dbos._error import DBOSNonExistentWorkflowError

    with _reported():
        client = _client(database_url)
        try:
            [status] = client.list_workflows(workflow_ids=[run_id], load_input=False) or [None]
            if status is not None and status.status == "ERROR":
                raise ConfigError(
                    f"durable run {run_id!r} failed ({status.error}); DBOS does not resume a "
                    "failed run",
                    hint="start it again under a new run id",
                )
            client.resume_workflow(run_id)
        except DBOSNonExistentWorkflowError:
            raise ConfigError(f"no durable run {run_id!r}", hint="exo runs list") from None
        finally:
            client.destroy()
        if agent_ref is None:
            typer.echo(f"resumed {run_id}: a worker of its agent (exo worker AGENT) executes it")
            return
        typer.echo(str(_execute(agent_ref, run_id, database_url).output))


def _execute(agent_ref: str, run_id: str, database_url: str | None) -> RunResult[Any]:
    """Launch DBOS here with the agent registered, and wait for the run (which DBOS's
    queue of resumed runs hands to this process)."""
    from exo._cli_agents import load_agent
    from exo.durable import DBOSAgent, get_result, launch, shutdown

    DBOSAgent(load_agent(agent_ref))
    launch(database_url)
    try:
        with _cancelled_says_so(run_id):
            return asyncio.run(get_result(run_id))
    finally:
        shutdown()


@runs_app.command("follow")
def runs_follow(
    run_id: str,
    database_url: DatabaseOpt = None,
    after: Annotated[
        str | None, typer.Option("--after", help="Only the events after this event id.")
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="One JSON object per event (id, replayed, event).")
    ] = False,
) -> None:
    """Print a run's events as they come, from its first (or after --after) to its end.

    Works from any process on the run's database, while another process executes it:
    each line starts with the event's id, so a follower that stopped can go on with
    --after ID without seeing an event twice.
    """
    from exo.durable import default_database_url, follow

    async def show() -> None:
        url = database_url or default_database_url()
        async for item in follow(run_id, after=after, database_url=url):
            typer.echo(_event_line(item, json_output=json_output))

    with _reported():
        asyncio.run(show())


def _event_line(item: DurableEvent, *, json_output: bool) -> str:
    from pydantic import TypeAdapter

    from exo.durable import DurableEvent
    from exo.types import RunCompleteEvent, TextEvent, ToolCallEvent, ToolResultEvent

    if json_output:
        return TypeAdapter(DurableEvent).dump_json(item).decode()
    event = item.event
    detail = ""
    if isinstance(event, TextEvent):
        detail = event.text
    elif isinstance(event, ToolCallEvent | ToolResultEvent):
        detail = event.tool_name
    elif isinstance(event, RunCompleteEvent):
        detail = str(event.result.output)
    replayed = "replayed" if item.replayed else "live"
    return "\t".join([item.id, event.type, replayed, detail.replace("\n", " ")[:200]])


@runs_app.command("cancel")
def runs_cancel(run_id: str, database_url: DatabaseOpt = None) -> None:
    """Cancel a run: the process executing it stops it at its next step (exo runs resume
    continues it)."""
    with _reported():
        client = _client(database_url)
        try:
            [status] = client.list_workflows(workflow_ids=[run_id], load_input=False) or [None]
            if status is None:
                raise ConfigError(f"no durable run {run_id!r}", hint="exo runs list")
            if status.status in ("SUCCESS", "ERROR"):
                typer.echo(f"{run_id} has already ended ({status.status}): nothing to cancel")
                return
            client.cancel_workflow(run_id)
        finally:
            client.destroy()
        typer.echo(f"cancelled {run_id}")


def register(app: typer.Typer) -> None:
    """Add ``exo worker`` and ``exo runs`` to the CLI."""
    app.command("worker")(worker_command)
    app.add_typer(runs_app)
