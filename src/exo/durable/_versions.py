"""Runs stranded by a version change: in flight, but filed under another application version.

DBOS recovers, at launch, only the unfinished runs of its own executor *and* application
version. exo pins the version (``exo-{name}-v1``), so a redeploy with changed code recovers
the runs in flight. When the version does change (``EXO_DURABLE_VERSION``, or DBOS's own
default, a hash of the workflows' source, which moves with every exo or DBOS upgrade), the
old runs stay PENDING and nothing would say so: :func:`stranded` finds them, and
:func:`~exo.durable.launch` logs a warning naming them.
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["stranded", "warn_stranded"]

log = logging.getLogger("exo.durable")
_SHOWN = 5


def stranded(dbos: Any) -> list[tuple[str, str]]:
    """The ``(run id, application version)`` of this executor's unfinished runs that the
    launched DBOS will not recover because they were started under another version."""
    version, executor = dbos.application_version, dbos.executor_id
    pending = dbos.list_workflows(
        status="PENDING", executor_id=executor, load_input=False, load_output=False
    )
    return [
        (s.workflow_id, str(s.app_version))
        for s in pending
        if s.app_version != version and s.name.startswith("exo:")
    ]


def warn_stranded(dbos: Any) -> None:
    """Log a warning naming the runs :func:`stranded` finds, and how to resume them."""
    from concurrent.futures import ThreadPoolExecutor

    # DBOS refuses its blocking calls on a thread with a running event loop (``launch()`` may
    # be called from async code): ask from a thread of its own
    with ThreadPoolExecutor(1) as pool:
        found = pool.submit(stranded, dbos).result()
    if not found:
        return
    shown = ", ".join(f"{run_id!r} ({version})" for run_id, version in found[:_SHOWN])
    more = f" and {len(found) - _SHOWN} more" if len(found) > _SHOWN else ""
    log.warning(
        "%d durable run(s) in flight were started under another application version and will "
        "not be recovered by this process (version %r): %s%s. Launch with their version "
        "(launch(application_version=...) or EXO_DURABLE_VERSION) to finish them.",
        len(found),
        dbos.application_version,
        shown,
        more,
    )
