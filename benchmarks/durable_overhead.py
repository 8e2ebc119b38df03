"""What a durable run (``exo.durable``) costs per step, on SQLite and on PostgreSQL.

Runs the overhead task (4 model calls and 3 tool calls on an in-process FunctionModel: 7
steps per run) plainly and as a durable run, and prints the extra wall time per step::

    python benchmarks/durable_overhead.py [RUNS] [sqlite|postgres] [events|noevents]

With ``events`` it measures one event written to a run's event log instead (what a follower
in another process reads): a workflow writing 200 events against one writing none, wall and
CPU time per event. With ``noevents`` the durable runs keep no events
(``DBOSAgent(events=False)``).

PostgreSQL needs ``EXO_TEST_POSTGRES_DSN`` (``source .ci/postgres.sh``); it writes into a
fresh DBOS schema it drops at the end.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from overhead import add, reply

from exo import Agent, run
from exo.durable import DBOSAgent, launch, shutdown
from exo.testing import FunctionModel

STEPS = 7  # 4 model calls + 3 tool calls per run


async def _timed(runs: int, go: object) -> float:
    assert callable(go)
    for _ in range(5):  # warm up
        await go()
    start = time.perf_counter()
    for _ in range(runs):
        await go()
    return (time.perf_counter() - start) / runs


def main(runs: int, backend: str, events: bool = True) -> None:
    agent = Agent(name="bench", model="test:x", tools=[add])
    model = FunctionModel(reply)
    durable = DBOSAgent(agent, name="bench", provider=model, events=events)
    schema = f"exo_bench_{uuid.uuid4().hex[:8]}"
    if backend == "postgres":
        url = os.environ["EXO_TEST_POSTGRES_DSN"]
        launch(url, name="bench", dbos_config={"dbos_system_schema": schema})
    else:
        url = f"sqlite:///{tempfile.mkdtemp()}/bench.db"
        launch(url, name="bench")

    async def plain() -> None:
        await run(agent, "Add numbers", provider=model)

    async def durable_run() -> None:
        await durable.run("Add numbers")

    async def both() -> tuple[float, float]:
        return await _timed(runs, plain), await _timed(runs, durable_run)

    try:
        base, dur = asyncio.run(both())
    finally:
        shutdown()
        if backend == "postgres":
            import sqlalchemy as sa

            engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
            with engine.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            engine.dispose()
    print(
        f"{backend}{'' if events else ' (events=False)'}: plain {base * 1e3:.2f} ms/run, "
        f"durable {dur * 1e3:.2f} ms/run, "
        f"+{(dur - base) / STEPS * 1e3:.2f} ms per step ({runs} runs of {STEPS} steps)"
    )


def _database(backend: str, schema: str) -> tuple[str, dict[str, str] | None]:
    if backend == "postgres":
        return os.environ["EXO_TEST_POSTGRES_DSN"], {"dbos_system_schema": schema}
    return f"sqlite:///{tempfile.mkdtemp()}/bench.db", None


def events(runs: int, backend: str, per_run: int = 200) -> None:
    """Time the event log: a workflow writing ``per_run`` events against one writing none."""
    from dbos import DBOS

    from exo.durable._events import DurableEvent, EventLog
    from exo.types import TextEvent

    @DBOS.workflow(name="bench:events")
    async def write(n: int, alone: bool) -> None:
        run_id = DBOS.workflow_id
        assert run_id is not None
        log = EventLog(run_id)
        for i in range(n):
            text = TextEvent(agent_name="bench", text="a short answer of a few words")
            await log.write(
                DurableEvent(
                    id=f"{run_id}:1:{i}", run_id=run_id, step=1, seq=i, replayed=False, event=text
                )
            )
            if alone:  # each event its own write, as when events come one at a time
                await log.close()
        await log.close()

    schema = f"exo_bench_{uuid.uuid4().hex[:8]}"
    url, config = _database(backend, schema)
    launch(url, name="bench", dbos_config=config)

    async def timed(n: int, alone: bool) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(runs):
            await write(n, alone)
        return (time.perf_counter() - wall) / runs, (time.process_time() - cpu) / runs

    async def measure() -> list[tuple[float, float]]:
        await timed(0, False)  # warm up
        return [await timed(0, False), await timed(per_run, True), await timed(per_run, False)]

    try:
        (wall0, cpu0), *written = asyncio.run(measure())
    finally:
        shutdown()
        _drop(backend, url, schema)
    for how, (wall, cpu) in zip(("one at a time", "in a burst"), written, strict=True):
        print(
            f"{backend}, events {how}: +{(wall - wall0) / per_run * 1e3:.3f} ms wall, "
            f"+{(cpu - cpu0) / per_run * 1e3:.3f} ms CPU per event "
            f"({runs} runs of {per_run} events)"
        )


def _drop(backend: str, url: str, schema: str) -> None:
    if backend != "postgres":
        return
    import sqlalchemy as sa

    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    where = sys.argv[2] if len(sys.argv) > 2 else "sqlite"
    if sys.argv[3:] == ["events"]:
        events(count, where)
    else:
        main(count, where, events=sys.argv[3:] != ["noevents"])
