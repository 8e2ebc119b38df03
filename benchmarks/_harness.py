"""Measure one driver in this process; ``compare.py`` starts one of these per driver.

Everything timed here is the driver's own process: CPU is ``time.process_time()``
(all threads of this process, user + system), throughput is wall time, and the
number of model calls is read from the mock's request counter before and after
each scenario, so a framework that makes extra calls is charged for them. The mock
runs in another process, so its CPU is not counted.

Modes:
  ``--import-only``: import the driver module and print the seconds it took.
  default: run the scenarios and print one JSON object on the last stdout line.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import resource
import statistics
import sys
import time
import urllib.request
import warnings
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from drivers._task import EXPECTED, Driver


@dataclass
class Scenario:
    """One measured load: mock latency, concurrent runs, total runs."""

    latency_ms: float
    concurrency: int
    runs: int


@dataclass
class Outcome:
    """What one scenario measured."""

    latency_ms: float
    concurrency: int
    runs: int
    failures: int
    model_calls: int
    wall_s: float
    cpu_s: float
    runs_per_s: float
    cpu_us_per_call: float
    cpu_ms_per_run: float
    calls_per_run: float
    mock_busy: float
    first_error: str | None = None


@dataclass
class StreamOutcome:
    """What the streaming scenario measured (sequential runs)."""

    latency_ms: float
    runs: int
    failures: int
    ttft_ms_median: float
    ttft_ms_p90: float
    run_ms_median: float
    cpu_us_per_call: float
    first_error: str | None = None


@dataclass
class Report:
    """Everything measured for one driver."""

    driver: str
    python: str
    cold_start_ms: float = 0.0
    scenarios: list[Outcome] = field(default_factory=list)
    stream: StreamOutcome | None = None
    peak_rss_mb: float = 0.0


class Mock:
    """The mock's control endpoints (stats and latency)."""

    def __init__(self, base_url: str) -> None:
        root = base_url.rstrip("/")
        self.root = root[: -len("/v1")] if root.endswith("/v1") else root

    def _call(self, path: str, method: str) -> dict[str, Any]:
        request = urllib.request.Request(
            self.root + path, method=method, data=b"" if method == "POST" else None
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            result: dict[str, Any] = json.loads(response.read())
            return result

    def requests(self) -> int:
        """Return how many chat requests the mock has served."""
        return int(self._call("/_mock/stats", "GET")["requests"])

    def stats(self) -> tuple[int, float, int]:
        """Return requests served, CPU seconds used and the number of workers."""
        data = self._call("/_mock/stats", "GET")
        return int(data["requests"]), float(data["cpu_s"]), int(data["workers"])

    def set_latency(self, latency_ms: float) -> None:
        """Set the mock's per-request latency."""
        self._call(f"/_mock/config?latency_ms={latency_ms}", "POST")


async def _run_many(driver: Driver, runs: int, concurrency: int) -> tuple[int, str | None]:
    """Run ``runs`` tasks with ``concurrency`` workers; return failures and the first error."""
    remaining = runs
    failures = 0
    first_error: str | None = None

    async def worker() -> None:
        nonlocal remaining, failures, first_error
        while remaining > 0:
            remaining -= 1
            try:
                answer = await driver.run()
            except Exception as exc:
                answer = f"{type(exc).__name__}: {exc}"
            if answer.strip() != EXPECTED:
                failures += 1
                first_error = first_error or answer[:300]

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return failures, first_error


async def _scenario(module: ModuleType, url: str, mock: Mock, sc: Scenario) -> Outcome:
    mock.set_latency(sc.latency_ms)
    driver: Driver = await module.make(url, sc.concurrency)
    try:
        # Warm caches and open a few connections; more open during the run, as in a service.
        await _run_many(
            driver, min(sc.concurrency, 20) if sc.concurrency > 1 else 3, sc.concurrency
        )
        calls0, mock_cpu0, workers = mock.stats()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        failures, first_error = await _run_many(driver, sc.runs, sc.concurrency)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        calls1, mock_cpu1, _ = mock.stats()
        calls = calls1 - calls0
    finally:
        await driver.aclose()
    return Outcome(
        latency_ms=sc.latency_ms,
        concurrency=sc.concurrency,
        runs=sc.runs,
        failures=failures,
        model_calls=calls,
        wall_s=wall,
        cpu_s=cpu,
        runs_per_s=sc.runs / wall,
        cpu_us_per_call=cpu / max(calls, 1) * 1e6,
        cpu_ms_per_run=cpu / sc.runs * 1e3,
        calls_per_run=calls / sc.runs,
        mock_busy=(mock_cpu1 - mock_cpu0) / (wall * workers),
        first_error=first_error,
    )


async def _stream(module: ModuleType, url: str, mock: Mock, runs: int) -> StreamOutcome:
    mock.set_latency(0)
    driver: Driver = await module.make(url, 1)
    ttfts: list[float] = []
    totals: list[float] = []
    failures = 0
    first_error: str | None = None
    try:
        for _ in range(3):
            await driver.stream(lambda: None)
        calls0 = mock.requests()
        cpu0 = time.process_time()
        for _ in range(runs):
            first: list[float] = []
            start = time.perf_counter()
            try:
                answer = await driver.stream(partial(_stamp, first))
            except Exception as exc:
                answer = f"{type(exc).__name__}: {exc}"
            totals.append(time.perf_counter() - start)
            if answer.strip() != EXPECTED or not first:
                failures += 1
                first_error = first_error or f"answer={answer[:300]!r}, text seen={bool(first)}"
            else:
                ttfts.append(first[0] - start)
        cpu = time.process_time() - cpu0
        calls = mock.requests() - calls0
    finally:
        await driver.aclose()
    ttfts = ttfts or [float("nan")]
    return StreamOutcome(
        latency_ms=0,
        runs=runs,
        failures=failures,
        ttft_ms_median=statistics.median(ttfts) * 1e3,
        ttft_ms_p90=statistics.quantiles(ttfts, n=10)[-1] * 1e3
        if len(ttfts) > 1
        else ttfts[0] * 1e3,
        run_ms_median=statistics.median(totals) * 1e3,
        cpu_us_per_call=cpu / max(calls, 1) * 1e6,
        first_error=first_error,
    )


def _stamp(times: list[float]) -> None:
    times.append(time.perf_counter())


async def _cold(module: ModuleType, url: str) -> None:
    driver: Driver = await module.make(url, 1)
    try:
        await driver.run()
    finally:
        await driver.aclose()


async def measure(name: str, url: str, scenarios: list[Scenario], stream_runs: int) -> Report:
    """Run every scenario for one driver, in one event loop, and return the report.

    One loop for everything, as in a long-lived service: some frameworks cache their
    HTTP client process-wide, bound to the loop that first used it.
    """
    mock = Mock(url)
    mock.set_latency(0)
    start = time.perf_counter()
    module = importlib.import_module(f"drivers.{name}")
    await _cold(module, url)
    report = Report(driver=name, python=sys.version.split()[0])
    report.cold_start_ms = (time.perf_counter() - start) * 1e3
    for sc in scenarios:
        report.scenarios.append(await _scenario(module, url, mock, sc))
    if stream_runs:
        report.stream = await _stream(module, url, mock, stream_runs)
    shutdown = getattr(module, "shutdown", None)
    if shutdown is not None:  # drivers whose clients outlive a driver object close them here
        await shutdown()
    report.peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return report


def parse_scenarios(text: str) -> list[Scenario]:
    """Parse ``"latency_ms:concurrency:runs,..."``."""
    out = []
    for item in filter(None, text.split(",")):
        latency, concurrency, runs = item.split(":")
        out.append(Scenario(float(latency), int(concurrency), int(runs)))
    return out


def main() -> None:
    """Parse the command line and measure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("driver", help="module name under benchmarks/drivers/")
    parser.add_argument("--url", help="the mock's base URL, ending in /v1")
    parser.add_argument("--scenarios", default="0:1:100,0:200:400,50:1:10,50:200:400")
    parser.add_argument("--stream-runs", type=int, default=30)
    parser.add_argument("--import-only", action="store_true")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    if args.import_only:
        start = time.perf_counter()
        importlib.import_module(f"drivers.{args.driver}")
        print(json.dumps({"import_s": time.perf_counter() - start}))
        return
    if not args.url:
        parser.error("--url is required")
    scenarios = parse_scenarios(args.scenarios)
    report = asyncio.run(measure(args.driver, args.url, scenarios, args.stream_runs))
    print(json.dumps(asdict(report)))


if __name__ == "__main__":
    main()
