"""What a durable run (``exo.durable``) costs per step, on SQLite and on PostgreSQL.

Runs the overhead task (4 model calls and 3 tool calls on an in-process FunctionModel: 7
steps per run) plainly and as a durable run, and prints the extra wall time per step::

    python benchmarks/durable_overhead.py [RUNS] [sqlite|postgres]

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


def main(runs: int, backend: str) -> None:
    agent = Agent(name="bench", model="test:x", tools=[add])
    model = FunctionModel(reply)
    durable = DBOSAgent(agent, name="bench", provider=model)
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
        f"{backend}: plain {base * 1e3:.2f} ms/run, durable {dur * 1e3:.2f} ms/run, "
        f"+{(dur - base) / STEPS * 1e3:.2f} ms per step ({runs} runs of {STEPS} steps)"
    )


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else 50,
        sys.argv[2] if len(sys.argv) > 2 else "sqlite",
    )
