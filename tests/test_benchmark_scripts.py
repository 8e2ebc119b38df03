"""The floor benchmarks run and measure what they say: each driver answers the task.

``benchmarks/floor.py`` checks every driver's answer during its warm-up (the task's sums), so
a run of it with one run per measurement is a test that exo, the bare aiohttp loops and the
bare SDK loops all complete the task on the three backends against the mock, and that the
table has each row with its ratios. No figure is asserted: timings belong to the benchmarks.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _run(*argv: str) -> str:
    done = subprocess.run(
        [sys.executable, *argv], capture_output=True, text=True, timeout=300, cwd=BENCHMARKS
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_floor_table_has_every_driver_on_every_backend_with_both_ratios() -> None:
    out = _run("floor.py", "--runs", "1", "--rounds", "1")
    rows = [line.split("|")[1:-1] for line in out.splitlines() if line.startswith("| ")]
    seen = {(cells[0].strip(), cells[1].strip()) for cells in rows[1:]}
    for api in ("chat", "responses", "anthropic"):
        for driver in (
            "bare aiohttp loop",
            "bare aiohttp loop, tool in a thread",
            "bare aiohttp loop, streamed",
            "bare SDK loop (create)",
            "exo run",
            "exo run (async tool)",
            "exo run (inline sync tool)",
            "exo run.stream",
            "exo run.stream (async tool)",
        ):
            assert (api, driver) in seen, (api, driver, out)
    for cells in rows[1:]:
        assert re.fullmatch(r"\d+", cells[2].strip()), cells
        assert re.fullmatch(r"\d+\.\d\d×", cells[3].strip()), cells
        assert re.fullmatch(r"\d+\.\d\d×", cells[4].strip()), cells
    # the bare loop is the reference of its own rows
    floors = [
        c for c in rows[1:] if c[1].strip() in ("bare aiohttp loop", "bare aiohttp loop, streamed")
    ]
    assert len(floors) == 6 and all(c[3].strip() == "1.00×" for c in floors)


def test_floor_concurrent_mode_and_the_profile_run() -> None:
    out = _run("floor.py", "--concurrency", "8", "--runs", "16")
    assert re.search(r"\| anthropic \| \d+ \| \d+ \|", out), out
    out = _run("profile_call.py", "--backend", "anthropic", "--stream", "--runs", "3")
    assert "| exo: providers |" in out and "| aiohttp |" in out, out
