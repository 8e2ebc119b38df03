"""Durable runs on the command line: ``exo worker`` and ``exo runs list / show / resume / cancel``.

DBOS is imported only when one of these commands runs (``exo-agents[dbos]``).
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from exo.errors import ConfigError

if TYPE_CHECKING:
    from exo.agent import Agent
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
        return asyncio.run(durable.run(task, run_id=run_id))
    finally:
        shutdown()


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


runs_app = typer.Typer(name="runs", help="List, show, resume and cancel durable runs.")


@runs_app.command("list")
def runs_list(database_url: DatabaseOpt = None, limit: int = 50) -> None:
    """List durable runs, newest first: id, status, agent."""
    client = _client(database_url)
    try:
        for s in client.list_workflows(sort_desc=True, limit=limit):
            typer.echo(f"{s.workflow_id}\t{s.status}\t{s.name.removeprefix('exo:')}")
    finally:
        client.destroy()


@runs_app.command("show")
def runs_show(run_id: str, database_url: DatabaseOpt = None) -> None:
    """Show one run as JSON: status, its steps by name, and its output when done."""
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
def runs_resume(run_id: str, database_url: DatabaseOpt = None) -> None:
    """Resume a cancelled or failed run (a worker of its agent executes it)."""
    client = _client(database_url)
    try:
        client.resume_workflow(run_id)
        typer.echo(f"resumed {run_id}")
    finally:
        client.destroy()


@runs_app.command("cancel")
def runs_cancel(run_id: str, database_url: DatabaseOpt = None) -> None:
    """Cancel a run: it stops at its next step."""
    client = _client(database_url)
    try:
        client.cancel_workflow(run_id)
        typer.echo(f"cancelled {run_id}")
    finally:
        client.destroy()


def register(app: typer.Typer) -> None:
    """Add ``exo worker`` and ``exo runs`` to the CLI."""
    app.command("worker")(worker_command)
    app.add_typer(runs_app)
