"""A separate process writing to a memory store, for the crash and multi-process tests.

Usage: ``worker.py SPEC_JSON forever CONVERSATION`` appends turns ``k0, k1, ...`` until killed,
printing each turn's number once ``append`` has returned; ``worker.py SPEC_JSON burst
CONVERSATION COUNT PREFIX`` appends COUNT turns, closes the store and prints ``done``.
"""

from __future__ import annotations

import asyncio
import json
import sys

from memory_samples import tool_turn

from exo.memory import Memory
from exo.memory_postgres import PostgresMemory
from exo.memory_sqlite import SQLiteMemory
from exo.types import Usage


def open_store(spec: dict[str, str]) -> Memory:
    if spec["kind"] == "sqlite":
        return SQLiteMemory(spec["path"])
    return PostgresMemory(spec["dsn"], schema=spec["schema"])


async def forever(memory: Memory, conversation: str) -> None:
    number = 0
    while True:  # until SIGKILL: the store is never closed
        await memory.append(conversation, tool_turn(f"k{number}"), usage=Usage(requests=1))
        print(number, flush=True)
        number += 1


async def burst(memory: Memory, conversation: str, count: int, prefix: str) -> None:
    for number in range(count):
        await memory.append(conversation, tool_turn(f"{prefix}{number}"))
        await memory.append(f"{conversation}-{prefix}", tool_turn(f"{prefix}{number}"))
    await memory.aclose()
    print("done", flush=True)


def main() -> None:
    spec, mode, conversation, *rest = sys.argv[1:]
    memory = open_store(json.loads(spec))
    if mode == "forever":
        asyncio.run(forever(memory, conversation))
    else:
        asyncio.run(burst(memory, conversation, int(rest[0]), rest[1]))


if __name__ == "__main__":
    main()
