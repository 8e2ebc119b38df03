"""exo's CPU instructions per run of the overhead task, counted by valgrind (repeatable).

Wall-clock and CPU-time figures on a shared VM swing by ±30 %; instruction counts do not.
Run this file under callgrind twice, with N=0 and with N runs, and divide the difference:

    valgrind --tool=callgrind --callgrind-out-file=/dev/null python benchmarks/instructions.py 0
    valgrind --tool=callgrind --callgrind-out-file=/dev/null python benchmarks/instructions.py 300

(instructions(300) - instructions(0)) / 300 is one run: 4 model calls of the overhead task
(``benchmarks/overhead.py``) on an in-process FunctionModel, the model function included.

``--backend chat|responses|anthropic`` runs ``floor.py``'s task over HTTP instead, against
its mock (started as a child process, which callgrind does not trace), with the sync ``add``
tool; ``--stream`` uses ``run.stream``; ``--bare`` runs the bare aiohttp loop of
``floor.py`` (the floor) instead of exo:

    PYTHONHASHSEED=0 valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        python benchmarks/instructions.py 100 --backend responses --stream
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from overhead import add, reply

from exo import Agent, run
from exo.testing import FunctionModel


async def main(n: int) -> None:
    agent = Agent(name="bench", model="test:x", tools=[add])
    model = FunctionModel(reply)
    for _ in range(20):  # warm up: imports, caches, first-call paths
        await run(agent, "Add numbers", provider=model)
    for _ in range(n):
        await run(agent, "Add numbers", provider=model)


async def over_http(n: int, api: str, stream: bool, bare: bool, base: str) -> None:
    """``n`` runs of floor.py's task on ``api`` (after 20 warm-up runs)."""
    import floor
    from aiohttp import ClientSession

    floor.use_mock(base)
    session = ClientSession()
    once = floor.driver(api, base, session, stream, bare)
    await floor.warm(once)
    for _ in range(n):
        await once()
    await session.close()


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, nargs="?", default=300, help="runs counted")
    parser.add_argument("--backend", choices=("chat", "responses", "anthropic"))
    parser.add_argument("--stream", action="store_true", help="run.stream (with --backend)")
    parser.add_argument("--bare", action="store_true", help="the bare aiohttp loop instead")
    args = parser.parse_args()
    if args.backend is None:
        asyncio.run(main(args.n))
        return
    from _floor_mock import spawn

    mock, base = spawn()
    try:
        asyncio.run(over_http(args.n, args.backend, args.stream, args.bare, base))
    finally:
        mock.terminate()


if __name__ == "__main__":
    cli()
