"""exo's CPU instructions per run of the overhead task, counted by valgrind (repeatable).

Wall-clock and CPU-time figures on a shared VM swing by ±30 %; instruction counts do not.
Run this file under callgrind twice, with N=0 and with N runs, and divide the difference:

    valgrind --tool=callgrind --callgrind-out-file=/dev/null python benchmarks/instructions.py 0
    valgrind --tool=callgrind --callgrind-out-file=/dev/null python benchmarks/instructions.py 300

(instructions(300) - instructions(0)) / 300 is one run: 4 model calls of the overhead task
(``benchmarks/overhead.py``) on an in-process FunctionModel, the model function included.
"""

from __future__ import annotations

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


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 300))
