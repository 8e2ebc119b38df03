"""DBOSAgent: an exo Agent registered once, under a stable name, as a DBOS workflow."""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, aclosing, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, TypeAdapter

from exo.durable._children import DurableChildren
from exo.durable._events import DurableEvent, EventLog, follow
from exo.durable._ratelimit import LocalWindow, RateLimit, SharedWindow, Window, limit_key
from exo.durable._steps import FLUSH, DurableEffects, DurableMemory, durable_instructions
from exo.errors import ConfigError
from exo.types import ContentBlock, RunCompleteEvent, RunResult

if TYPE_CHECKING:
    from exo.agent import Agent
    from exo.models.base import Provider

__all__ = [
    "DBOSAgent",
    "DurableHandle",
    "default_database_url",
    "enqueue",
    "get_result",
    "launch",
    "queue_name",
    "shutdown",
    "take_over",
]

INSTALL_HINT = "pip install 'exo-agents[dbos]'"
VERSION_ENV = "EXO_DURABLE_VERSION"
SCHEMA_ENV = "EXO_DURABLE_SCHEMA"
"""Names the PostgreSQL schema DBOS keeps its tables in (default ``dbos``)."""
_RESULT: TypeAdapter[RunResult[Any]] = TypeAdapter(RunResult[Any])
_LAUNCHED: dict[str, str | None] = {}  # the database DBOS runs on in this process


def _dbos() -> Any:
    """The ``DBOS`` class, or a ConfigError with the install hint."""
    try:
        from dbos import DBOS
    except ImportError as exc:
        raise ConfigError(
            "durable runs need DBOS, which is not installed", hint=INSTALL_HINT
        ) from exc
    return DBOS


def default_database_url() -> str:
    """SQLite under EXO_HOME: ``$EXO_HOME/durable.db``, else ``~/.exo/durable.db``."""
    home = os.environ.get("EXO_HOME")
    base = Path(home).expanduser() if home else Path.home() / ".exo"
    base.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{base / 'durable.db'}"


def launch(
    database_url: str | None = None,
    *,
    name: str = "exo",
    application_version: str | None = None,
    executor_id: str | None = None,
    dbos_config: Mapping[str, Any] | None = None,
) -> None:
    """Start DBOS in this process (after every DBOSAgent is created) and recover its runs.

    Args:
        database_url: DBOS's system database: ``sqlite:///path`` (one process) or
            ``postgresql://...`` (many workers); default ``$EXO_HOME/durable.db``.
        name: The DBOS application name.
        application_version: What DBOS files runs under. Default ``$EXO_DURABLE_VERSION``,
            else ``exo-{name}-v1``: a stable value, so a redeploy (changed code) still
            recovers the runs in flight. DBOS's own default, a hash of the source, would
            strand them. Change it only when old runs must not resume on the new code.
        executor_id: This process's id among many workers (default DBOS's ``local``).
            ``$EXO_DURABLE_SCHEMA`` names the schema of DBOS's tables on PostgreSQL.
        dbos_config: More ``DBOSConfig`` keys, passed as they are (e.g.
            ``dbos_system_schema``; ``{"application_version": None}`` brings back DBOS's
            default version, see ``docs/durable.md``).

    Logs a warning naming this executor's runs in flight that were started under another
    application version: DBOS does not recover them here.
    """
    dbos = _dbos()
    version = application_version or os.environ.get(VERSION_ENV) or f"exo-{name}-v1"
    config: dict[str, Any] = {
        "name": name,
        "system_database_url": database_url or default_database_url(),
        "application_version": version,
        "log_level": os.environ.get("EXO_DURABLE_LOG_LEVEL", "WARNING"),
    }
    if executor_id is not None:
        config["executor_id"] = executor_id
    if os.environ.get(SCHEMA_ENV):
        config["dbos_system_schema"] = os.environ[SCHEMA_ENV]
    config.update(dbos_config or {})
    dbos(config=config)
    dbos.launch()
    # DBOS is one per process and keeps its config private: the rate limit's table goes
    # in the same database and schema
    _LAUNCHED.update(url=config["system_database_url"], schema=config.get("dbos_system_schema"))
    from exo.durable._versions import warn_stranded

    warn_stranded(dbos)


def shutdown() -> None:
    """Stop DBOS in this process (runs in flight are recovered by the next launch)."""
    _dbos().destroy()
    _LAUNCHED.clear()


class _Request(BaseModel):
    """A durable run's workflow input: plain JSON, because DBOS stores it."""

    input: str | list[ContentBlock]
    conversation_id: str | None = None


POLL_SECONDS = 0.05
"""How often a wait for a run another process (or a recovery) executes checks its status."""


@dataclass(frozen=True, slots=True)
class DurableHandle:
    """A started durable run.

    Attributes:
        run_id: The run's id (its DBOS workflow id).
    """

    run_id: str
    _handle: Any = field(default=None, repr=False)  # DBOS's, when started in this process

    async def result(self) -> RunResult[Any]:
        """Wait for the run to finish and return its result."""
        if self._handle is None:
            return await get_result(self.run_id)
        return _RESULT.validate_json(await self._handle.get_result())


def queue_name(name: str) -> str:
    """The DBOS queue the runs of the DBOSAgent ``name`` are enqueued on."""
    return f"exo:{name}"


async def enqueue(
    name: str,
    input: str | list[ContentBlock],
    *,
    run_id: str,
    database_url: str,
    conversation_id: str | None = None,
    dbos_system_schema: str | None = None,
) -> str:
    """Put a run of the DBOSAgent ``name`` on its queue, for any worker to execute.

    Needs no agent and no launched DBOS in this process (a ``DBOSClient``): web servers
    enqueue, ``exo worker`` processes run. Returns the run id; an id already used is not run
    again. Wait for the result with :func:`get_result` in a launched process, or poll
    ``exo runs show``.
    """
    _dbos()
    from dbos import DBOSClient, EnqueueOptions

    schema = dbos_system_schema or os.environ.get(SCHEMA_ENV) or "dbos"
    client = DBOSClient(system_database_url=database_url, dbos_system_schema=schema)
    try:
        options: EnqueueOptions = {
            "queue_name": queue_name(name),
            "workflow_name": f"exo:{name}",
            "workflow_id": run_id,
        }
        payload = _Request(input=input, conversation_id=conversation_id).model_dump_json()
        handle: Any = await client.enqueue_async(options, payload)
        return str(handle.get_workflow_id())
    finally:
        client.destroy()


async def take_over(executor_ids: list[str]) -> list[str]:
    """Hand the unfinished runs of workers that died to the live workers; return their ids.

    DBOS recovers only its own executor's runs when it launches; a worker that died for good
    (its machine gone) leaves its runs PENDING under its ``executor_id``. This finds them
    with DBOS's public ``list_workflows`` (status PENDING, those executor ids, this
    application version) and resumes each with ``resume_workflow``, on the queue it was on
    (a child, which was on none, goes to DBOS's internal queue, which has no limit): any live
    worker dequeues it, replays its recorded steps and runs the one it was in. Call it only
    for executors that are really gone: a resumed run of a live worker would run twice at
    once (DBOS would then fail one of the two on their first conflicting step).
    """
    dbos = _dbos()
    pending = await dbos.list_workflows_async(
        status="PENDING",
        executor_id=list(executor_ids),
        app_version=dbos.application_version,
        load_input=False,
        load_output=False,
    )
    for status in pending:
        await dbos.resume_workflow_async(status.workflow_id, queue_name=status.queue_name)
    return [str(status.workflow_id) for status in pending]


async def get_result(run_id: str) -> RunResult[Any]:
    """Wait for the durable run ``run_id`` (started here or in any worker) and return its
    result (a typed output comes back as JSON data, not as the output class)."""
    handle = await _dbos().retrieve_workflow_async(run_id)
    return _RESULT.validate_json(await handle.get_result(polling_interval_sec=POLL_SECONDS))


class DBOSAgent:
    """An Agent made durable: each run is a DBOS workflow, each model and tool call a step.

    Create it once per process, under a name that stays the same across deploys (the
    workflow is registered as ``exo:{name}``), before :func:`launch`.

    Args:
        agent: The agent to run.
        name: The stable registration name (default: the agent's name).
        provider: The provider to run with (default: resolved from ``agent.model``).
        concurrency: Runs of this agent one process executes at once from the queue
            ``exo:{name}`` (DBOS's worker concurrency); ``None``: no limit.
        runs_per_minute: Runs started per minute from the queue, over all workers
            (DBOS's queue rate limiter); ``None``: no limit.
        rate_limit: Model requests allowed per provider in a sliding window, over all
            workers on PostgreSQL (in this process on SQLite); ``None``: no limit.
        requests_per_minute: Shorthand for ``rate_limit=RateLimit(n, 60)``.
        events: Keep each run's events in its event log, for :meth:`stream`,
            :func:`~exo.durable.follow` and ``exo runs follow`` (about one database write
            per burst of events, see ``docs/durable.md``). ``False`` saves those writes; the
            runs then have no events to follow.
    """

    def __init__(
        self,
        agent: Agent[Any],
        *,
        name: str | None = None,
        provider: Provider | None = None,
        concurrency: int | None = None,
        runs_per_minute: int | None = None,
        rate_limit: RateLimit | None = None,
        requests_per_minute: int | None = None,
        events: bool = True,
    ) -> None:
        dbos = _dbos()
        if requests_per_minute is not None:
            if rate_limit is not None:
                raise ConfigError(
                    "DBOSAgent takes rate_limit= or requests_per_minute=, not both",
                    parameter="requests_per_minute",
                )
            rate_limit = RateLimit(requests_per_minute, 60.0)
        self.rate_limit = rate_limit
        self._window: Window | None = None
        self._window_at = ("", "")  # the database and schema the window was made for
        self.agent = agent
        self.name = name or agent.name
        self.provider = provider
        self.concurrency = concurrency
        self.runs_per_minute = runs_per_minute
        self.events = events
        self._durable_agent: Agent[Any] | None = None
        workflow_name = f"exo:{self.name}"

        async def workflow(request: str) -> str:
            return await self._run(_Request.model_validate_json(request))

        workflow.__qualname__ = workflow.__name__ = workflow_name
        self._workflow = dbos.workflow(name=workflow_name)(workflow)
        self._children = DurableChildren(self, f"{workflow_name}:child")

    def __repr__(self) -> str:
        return f"DBOSAgent({self.name!r})"

    async def listen(self) -> None:
        """Execute runs from the queue ``exo:{name}`` in this process (after :func:`launch`),
        with this agent's ``concurrency`` and ``runs_per_minute``."""
        from dbos._queue import QueueRateLimit

        per_minute = self.runs_per_minute
        limiter: QueueRateLimit | None = (
            None if per_minute is None else {"limit": per_minute, "period": 60.0}
        )
        await _dbos().register_queue_async(
            queue_name(self.name),
            worker_concurrency=self.concurrency,
            limiter=limiter,
            polling_interval_sec=0.2,
            on_conflict="always_update",
        )

    @property
    def limit(self) -> Callable[[Provider], AbstractAsyncContextManager[None]] | None:
        """What a model call is held in for this agent's rate limit (``None``: no limit)."""
        return None if self.rate_limit is None else self._slot

    def _slot(self, provider: Provider) -> AbstractAsyncContextManager[None]:
        where = (_LAUNCHED.get("url") or "", _LAUNCHED.get("schema") or "dbos")
        if self._window is None or self._window_at != where:  # first use, or relaunched
            assert self.rate_limit is not None
            if isinstance(self._window, SharedWindow):
                self._window.close()
            url, schema = where
            self._window_at = where
            if url.startswith("postgres"):
                self._window = SharedWindow(self.rate_limit, url, schema)
            else:
                self._window = LocalWindow(self.rate_limit)
        return self._window.slot(limit_key(provider))

    def _agent(self) -> Agent[Any]:
        """The agent as a durable run uses it: memory and callable instructions in steps."""
        if self._durable_agent is None:
            from exo import run

            agent = self.agent
            changes: dict[str, Any] = {"memory": DurableMemory(run.memory_for(agent))}
            if not isinstance(agent.instructions, str):
                changes["instructions"] = durable_instructions(agent)
            self._durable_agent = agent.replace(**changes)
        return self._durable_agent

    async def _run(self, request: _Request) -> str:
        """The workflow's body: run the agent with every call a step; write each event, with
        its stable id, to the run's event log (see :mod:`exo.durable._events`)."""
        from exo import run

        run_id: str = _dbos().workflow_id
        effects = DurableEffects(root=run_id, children=self._children, limit=self.limit)
        log = EventLog(run_id, enabled=self.events)
        if self.events:
            effects.flush = log.close
        token = FLUSH.set(effects.flush)  # for the memory steps, which are not the effects'
        result: RunResult[Any] | None = None
        step, seq = 0, 0
        try:
            async with aclosing(
                run.stream(
                    self._agent(),
                    request.input,
                    conversation_id=request.conversation_id,
                    provider=self.provider,
                    effects=effects,
                )
            ) as events:
                async for event in events:
                    if isinstance(event, RunCompleteEvent) and not event.lineage:
                        result = event.result
                    step, seq = (effects.steps, 0) if effects.steps != step else (step, seq + 1)
                    await log.write(
                        DurableEvent(
                            id=f"{run_id}:{step}:{seq}",
                            run_id=run_id,
                            step=step,
                            seq=seq,
                            replayed=not effects.live,
                            event=event,
                        )
                    )
        except Exception:
            with suppress(Exception):  # a follower still gets the events before the failure
                await log.close()
            raise
        except BaseException:
            log.abort()
            raise
        finally:
            FLUSH.reset(token)
            self._children.pools.pop(run_id, None)
        await log.close()
        if result is None:  # run.stream always ends on its RunCompleteEvent or raises
            raise RuntimeError(f"durable run {run_id!r} ended without a result")
        return _RESULT.dump_json(result).decode()

    async def stream(
        self,
        input: str | list[ContentBlock] | None = None,
        *,
        run_id: str,
        conversation_id: str | None = None,
        after: str | None = None,
    ) -> AsyncGenerator[DurableEvent, None]:
        """Start (or reattach to) the durable run ``run_id`` and yield its events.

        Each event carries a stable id and a ``replayed`` flag (see
        :class:`~exo.durable.DurableEvent`). The events come from the run's event log, so
        this works for a run executing here, in another process, or finished: a reattached
        stream yields the run's events from the first (or those after the id ``after``)
        and ends when the run ends. Without ``input`` it only follows a run that exists.
        """
        if not self.events:
            raise ConfigError(
                f"{self!r} keeps no events (events=False): there is nothing to stream",
                hint="create the DBOSAgent with events=True, or wait with run() / start()",
            )
        if input is not None:
            await self.start(input, run_id=run_id, conversation_id=conversation_id)
        async with aclosing(follow(run_id, after=after)) as events:
            async for event in events:
                yield event

    async def start(
        self,
        input: str | list[ContentBlock],
        *,
        run_id: str | None = None,
        conversation_id: str | None = None,
    ) -> DurableHandle:
        """Start a durable run (or find the one already started as ``run_id``).

        Args:
            input: The task.
            run_id: The run's id; the same id never starts a second run.
            conversation_id: Continue (and save to) this conversation of the agent's memory.
        """
        dbos = _dbos()
        from dbos import SetWorkflowID

        if run_id is not None and await dbos.get_workflow_status_async(run_id) is not None:
            return DurableHandle(run_id)
        payload = _Request(input=input, conversation_id=conversation_id)
        if run_id is None:
            handle = await dbos.start_workflow_async(self._workflow, payload.model_dump_json())
        else:
            with SetWorkflowID(run_id):
                handle = await dbos.start_workflow_async(self._workflow, payload.model_dump_json())
        return DurableHandle(handle.get_workflow_id(), handle)

    async def run(
        self,
        input: str | list[ContentBlock],
        *,
        run_id: str | None = None,
        conversation_id: str | None = None,
    ) -> RunResult[Any]:
        """Run durably to the end (or wait for the run ``run_id`` already under way)."""
        handle = await self.start(input, run_id=run_id, conversation_id=conversation_id)
        return await handle.result()
