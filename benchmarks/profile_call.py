"""Where a model call's CPU goes: ``floor.py``'s task under cProfile, grouped by layer.

Runs the task (four model calls per run) against ``floor.py``'s mock, started as a child
process, with exo (``run`` or ``run.stream``) or the bare aiohttp loop, and prints each
layer's share of the event loop thread's CPU time (the functions' own time, ``tottime``, on a
CPU-time clock, summed by where their code lives) and the functions that cost most. cProfile
slows Python code more than C code, so read the shares, not the absolute times (those are in
``floor.py``).

Run: ``python benchmarks/profile_call.py --backend chat [--stream] [--bare] [--runs 300]``
(``--tool async|inline|sync``: how exo's tool runs; ``sync``, the default, is a worker
thread, whose time cProfile does not see: only the event loop's thread is profiled).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import importlib.util
import os
import pstats
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))


def _root(module: str) -> str:
    """The folder a package's code lives in, with a trailing separator."""
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None, module
    return str(Path(spec.origin).parent) + os.sep


# (label, the folder of its code); the first match wins. Folders, not name fragments: a
# checkout named ``exo`` holds the venv, so "/exo/" would match aiohttp's files too.
EXO = _root("exo")
LAYERS = (
    ("exo: providers", EXO + "models" + os.sep),
    ("exo: other modules", EXO),  # refined in layer(): the run loop's private modules
    ("aiohttp", _root("aiohttp")),
    ("yarl / multidict", _root("yarl")),
    ("yarl / multidict", _root("multidict")),
    ("asyncio", _root("asyncio")),
    ("json (stdlib)", _root("json")),
    ("benchmark driver", str(Path(__file__).resolve().parent) + os.sep),
)


def layer(filename: str) -> str:
    """The layer a function's code belongs to (C functions count by their name)."""
    for label, folder in LAYERS:
        if filename.startswith(folder):
            if folder == EXO and Path(filename).name.startswith("_"):
                return "exo: run loop, tools, results"  # _loop, _retry, _state, _threads...
            if folder == EXO and Path(filename).name in ("tools.py", "runner.py", "types.py"):
                return "exo: run loop, tools, results"
            return label
    if filename == "~":
        return "built-ins and C extensions (orjson, sockets, select)"
    return "other Python"


async def drive(api: str, stream: bool, bare: bool, tool_kind: str, runs: int, base: str) -> Any:
    """Warm up, then profile ``runs`` runs; return the profile."""
    import floor
    from aiohttp import ClientSession

    from exo import tool

    floor.use_mock(base)
    fn: Any = {"sync": floor.add, "async": floor.add_async, "inline": tool(floor.add, inline=True)}
    session = ClientSession()
    once = floor.driver(api, base, session, stream, bare, fn[tool_kind])
    await floor.warm(once)
    profile = cProfile.Profile(time.thread_time)  # CPU time of this thread, not wall time
    profile.enable()
    for _ in range(runs):
        await once()
    profile.disable()
    await session.close()
    return profile


def report(profile: Any, runs: int, top: int) -> None:
    """Print the layers' shares and the dearest functions."""
    stats = pstats.Stats(profile)
    entries: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    by_layer: dict[str, float] = defaultdict(float)
    total = 0.0
    rows = []
    for (filename, line, name), (_cc, calls, tottime, _ct, _callers) in entries.items():
        by_layer[layer(filename)] += tottime
        total += tottime
        rows.append((tottime, calls, f"{Path(filename).name}:{line}({name})"))
    calls_per_run = 4
    print(f"profiled {runs} runs, {total * 1e6 / (runs * calls_per_run):.0f} µs per model call")
    print("\n| layer | share of the profiled time |\n|---|---|")
    for label, spent in sorted(by_layer.items(), key=lambda kv: -kv[1]):
        print(f"| {label} | {spent / total:.1%} |")
    print("\n| function | share | calls per model call |\n|---|---|---|")
    for tottime, calls, where in sorted(rows, reverse=True)[:top]:
        print(f"| `{where}` | {tottime / total:.1%} | {calls / (runs * calls_per_run):.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("chat", "responses", "anthropic"), default="chat")
    parser.add_argument("--stream", action="store_true", help="run.stream")
    parser.add_argument("--bare", action="store_true", help="the bare aiohttp loop instead")
    parser.add_argument("--tool", choices=("sync", "async", "inline"), default="sync")
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--top", type=int, default=20, help="functions listed")
    args = parser.parse_args()
    from _floor_mock import spawn

    mock, base = spawn()
    try:
        profile = asyncio.run(
            drive(args.backend, args.stream, args.bare, args.tool, args.runs, base)
        )
    finally:
        mock.terminate()
    report(profile, args.runs, args.top)


if __name__ == "__main__":
    main()
