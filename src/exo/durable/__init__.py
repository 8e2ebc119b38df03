"""Durable runs on DBOS (``exo-agents[dbos]``): a killed process loses no finished step.

Register an agent once under a stable name, launch DBOS, run::

    from exo.durable import DBOSAgent, launch

    durable = DBOSAgent(agent, name="researcher")
    launch("sqlite:///runs.db")          # or postgresql://... for many workers
    result = await durable.run("task", run_id="report-42")

A durable run is a DBOS workflow; every model call (planner, executor, child) is a step named
``model:{agent}``, every user tool call a step named ``tool:{name}``, and memory load and
append are steps too. After a crash, ``launch`` in a new process recovers the run: completed
steps are replayed from their record (stored as exo's types in JSON), only the step that was
running when the process died runs again, and a tool sees the same
``ToolContext.idempotency_key`` both times; a tool's changes to the run's context are recorded
with its step. A run's events, each with a stable id, are kept with it:
``follow(run_id, after=...)`` reads them from any process. DBOS is imported only when this is
used. See ``docs/durable.md``.
"""

from __future__ import annotations

from exo.durable._agent import (
    INSTALL_HINT,
    SCHEMA_ENV,
    VERSION_ENV,
    DBOSAgent,
    DurableHandle,
    default_database_url,
    enqueue,
    get_result,
    launch,
    queue_name,
    shutdown,
    take_over,
)
from exo.durable._events import DurableEvent, follow
from exo.durable._ratelimit import RateLimit
from exo.durable._steps import BUILTIN_TOOLS, DurableEffects, DurableMemory

__all__ = [
    "BUILTIN_TOOLS",
    "INSTALL_HINT",
    "SCHEMA_ENV",
    "VERSION_ENV",
    "DBOSAgent",
    "DurableEffects",
    "DurableEvent",
    "DurableHandle",
    "DurableMemory",
    "RateLimit",
    "default_database_url",
    "enqueue",
    "follow",
    "get_result",
    "launch",
    "queue_name",
    "shutdown",
    "take_over",
]
