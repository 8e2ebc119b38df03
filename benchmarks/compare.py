"""Compare exo with bare loops and peer frameworks on one agent task against a local mock.

Every driver (``benchmarks/drivers/``) runs the same task, one ``add(a, b)`` tool,
three tool rounds then a final answer (four model calls), against
``mock_server.py`` on 127.0.0.1. Each driver runs in its own subprocess of the peers
virtualenv's Python (``bash benchmarks/setup_peers.sh`` creates it), which measures
itself (``_harness.py``); the mock runs in yet another process, so its CPU is never
charged to a driver. See docs/benchmarks.md for what each column means.

Usage:
  python benchmarks/compare.py                      # the default run: a few minutes
  python benchmarks/compare.py --scale 5            # five times the runs per scenario
  python benchmarks/compare.py --drivers exo_agent,bare_aiohttp --markdown
  python benchmarks/compare.py --show benchmarks/results/compare-....json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _table import Row, best_of, ratios, render

HERE = Path(__file__).resolve().parent
PEERS_PYTHON = HERE / ".peers-venv" / "bin" / "python"
RESULTS = HERE / "results"

DRIVERS: dict[str, str] = {
    "bare_aiohttp": "bare aiohttp loop",
    "bare_httpx": "bare httpx loop",
    "bare_openai": "bare openai SDK loop",
    "bare_openai_aiohttp": "bare openai SDK + DefaultAioHttpClient",
    "exo_agent": "exo",
    "openai_agents": "OpenAI Agents SDK",
    "pydantic_ai_agent": "PydanticAI",
    "langgraph_react": "LangGraph (prebuilt ReAct)",
    "smolagents_tc": "smolagents (ToolCallingAgent)",
}
# Not in the default run (``--drivers all`` adds them): peers on the SDK's aiohttp transport,
# which exo uses by default, to separate the framework's cost from the HTTP client's.
EXTRA_DRIVERS: dict[str, str] = {
    "openai_agents_aiohttp": "OpenAI Agents SDK + DefaultAioHttpClient",
    "pydantic_ai_aiohttp": "PydanticAI + DefaultAioHttpClient",
}
LABELS = {**DRIVERS, **EXTRA_DRIVERS}
# (mock latency ms, concurrent runs, measured runs) before --scale.
SCENARIOS = [(0, 1, 100), (0, 200, 400), (50, 1, 10), (50, 200, 400)]
STREAM_RUNS = 30


def _env(base_url: str) -> dict[str, str]:
    """The drivers' environment: dummy key, mock URL, every telemetry switch off."""
    env = dict(os.environ)
    env.update(
        OPENAI_API_KEY="sk-bench-dummy",
        OPENAI_BASE_URL=base_url,
        OPENAI_AGENTS_DISABLE_TRACING="1",
        LANGSMITH_TRACING="false",
        LANGCHAIN_TRACING_V2="false",
        HF_HUB_OFFLINE="1",
        DO_NOT_TRACK="1",
        NO_PROXY="127.0.0.1,localhost",
        PYTHONWARNINGS="ignore",
    )
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        env.pop(name, None)
    # Let the first (uncounted) import write .pyc files, else every import recompiles.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


class MockProcess:
    """The mock server, started as a child process and stopped by its pid."""

    def __init__(self, python: Path, workers: int) -> None:
        command = [str(python), str(HERE / "mock_server.py"), "--port", "0"]
        command += ["--workers", str(workers), "--max-seconds", "7200"]
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        if len(line) != 2 or line[0] != "READY":
            self.stop()
            sys.exit(f"compare: the mock server did not start (said {line!r})")
        self.base_url = f"http://127.0.0.1:{line[1]}/v1"

    def stop(self) -> None:
        """Stop the mock (SIGTERM to our own child, then wait)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def _import_ms(python: Path, driver: str, env: dict[str, str], repeats: int) -> float:
    """Median time to import the driver's framework in a fresh interpreter."""
    command = [str(python), str(HERE / "_harness.py"), driver, "--import-only"]
    times = []
    for i in range(repeats + 1):
        out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr else "failed")
        if i:  # the first run writes .pyc files; it is not counted
            times.append(json.loads(out.stdout.splitlines()[-1])["import_s"] * 1e3)
    return float(statistics.median(times))


def _measure(python: Path, driver: str, base_url: str, args: argparse.Namespace) -> Row:
    """Run one driver's harness subprocess and return its report."""
    env = _env(base_url)
    scenarios = ",".join(
        f"{lat}:{conc}:{max(conc if conc > 1 else 1, round(runs * args.scale))}"
        for lat, conc, runs in SCENARIOS
    )
    command = [str(python), str(HERE / "_harness.py"), driver, "--url", base_url]
    command += [
        "--scenarios",
        scenarios,
        "--stream-runs",
        str(max(3, round(STREAM_RUNS * args.scale))),
    ]
    row: Row = {"driver": driver, "label": LABELS[driver]}
    try:
        row["import_ms"] = _import_ms(python, driver, env, args.import_repeats)
        out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=args.timeout)
        if out.returncode != 0:
            tail = (out.stderr or out.stdout).strip().splitlines()[-3:]
            raise RuntimeError(" | ".join(tail))
        row.update(json.loads(out.stdout.splitlines()[-1]))
    except (RuntimeError, subprocess.TimeoutExpired, json.JSONDecodeError, IndexError) as exc:
        row["error"] = str(exc)[:500]
    return row


PACKAGES = ("openai", "httpx", "httpx2", "aiohttp", "openai-agents", "pydantic-ai-slim",
            "langgraph", "langchain-openai", "smolagents", "exo-agents")  # fmt: skip


def versions(python: Path) -> dict[str, str]:
    """The measured packages' versions in the drivers' environment, and exo's git commit."""
    code = (
        "import json, importlib.metadata as m\n"
        "def v(n):\n    try: return m.version(n)\n    except m.PackageNotFoundError: return None\n"
        f"print(json.dumps({{n: v(n) for n in {PACKAGES!r}}}))"
    )
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=60)
    found: dict[str, str] = json.loads(out.stdout) if out.returncode == 0 else {}
    git = ["git", "-C", str(HERE.parent)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(
        [*git, "status", "--porcelain", "--", "src"], capture_output=True, text=True
    )
    if head.returncode == 0:
        found["exo_commit"] = head.stdout.strip() + (
            " + uncommitted src changes" if dirty.stdout else ""
        )
    return found


def machine() -> dict[str, Any]:
    """Describe the machine the numbers come from."""
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": model, "platform": platform.platform()}


def main() -> None:
    """Run every selected driver and print (and save) the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", type=Path, default=PEERS_PYTHON, help="the drivers' Python")
    parser.add_argument(
        "--drivers", default=",".join(DRIVERS), help="comma-separated names, or 'all'"
    )
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the runs per scenario")
    parser.add_argument(
        "--mock-workers", type=int, default=max(1, ((os.cpu_count() or 2) - 1) // 2)
    )
    parser.add_argument("--import-repeats", type=int, default=3)
    parser.add_argument(
        "--rounds", type=int, default=1, help="measure every driver N times, keep each best value"
    )
    parser.add_argument("--timeout", type=float, default=900, help="seconds per driver")
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables")
    parser.add_argument("--out", type=Path, help="JSON path (default: benchmarks/results/...)")
    parser.add_argument("--show", type=Path, help="print the tables of a saved JSON; run nothing")
    args = parser.parse_args()
    if args.show:
        saved = json.loads(args.show.read_text())
        print(f"{saved['date']}  {saved['machine']}  rounds {saved['rounds']}")
        print(render(saved["rows"], args.markdown) + "\n\n" + ratios(saved["rows"]))
        return
    if not args.python.exists():
        sys.exit(f"compare: {args.python} not found; run `bash benchmarks/setup_peers.sh` first")
    selected = ",".join(LABELS) if args.drivers == "all" else args.drivers
    names = [n.strip() for n in selected.split(",") if n.strip()]
    unknown = [n for n in names if n not in LABELS]
    if unknown:
        sys.exit(f"compare: unknown drivers {unknown}; known: {', '.join(LABELS)}")

    mock = MockProcess(args.python, args.mock_workers)
    rounds: list[list[Row]] = []
    started = time.time()
    load = [os.getloadavg()[0]]
    try:
        for r in range(args.rounds):
            rounds.append([])
            for name in names:
                elapsed = time.time() - started
                print(f"[{elapsed:5.0f}s] round {r + 1}: {name} ...", file=sys.stderr, flush=True)
                rounds[-1].append(_measure(args.python, name, mock.base_url, args))
                _warn(rounds[-1][-1])
    finally:
        mock.stop()
    load.append(os.getloadavg()[0])
    _report([best_of([rnd[i] for rnd in rounds]) for i in range(len(names))], rounds, load, args)


def _warn(row: Row) -> None:
    if "error" in row:
        print(f"  {row['driver']} failed: {row['error']}", file=sys.stderr)
        return
    for sc in row["scenarios"]:
        if sc["failures"]:
            print(
                f"  {row['driver']}: {sc['failures']} failed runs: {sc['first_error']}",
                file=sys.stderr,
            )
        if sc["mock_busy"] > 0.8:
            print(
                f"  {row['driver']}: mock {sc['mock_busy']:.0%} busy at c={sc['concurrency']}; "
                "raise --mock-workers",
                file=sys.stderr,
            )


def _report(
    rows: list[Row], rounds: list[list[Row]], load: list[float], args: argparse.Namespace
) -> None:
    now = dt.datetime.now(dt.UTC)
    info = {
        "date": now.isoformat(timespec="seconds"),
        "machine": machine(),
        "load_average_1min": {"start": load[0], "end": load[1]},
        "versions": versions(args.python),
        "scale": args.scale,
        "rounds": args.rounds,
        "mock_workers": args.mock_workers,
        "scenarios": SCENARIOS,
        "rows": rows,
        "all_rounds": rounds,
    }
    out = args.out or RESULTS / f"compare-{now.strftime('%Y%m%dT%H%M%SZ')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(info, indent=2))
    m = info["machine"]
    print(
        f"{info['date']}  {m['nproc']} CPUs  {m['cpu']}  scale {args.scale}  "
        f"rounds {args.rounds}  load {load[0]:.1f} -> {load[1]:.1f}"
    )
    print("  ".join(f"{k} {v}" for k, v in info["versions"].items() if v))
    if load[0] > 1.0:
        print("warning: the machine was busy (1-min load > 1); wall-time numbers are inflated")
    print(render(rows, args.markdown))
    print()
    print(ratios(rows))
    print(f"\nJSON: {out}")


if __name__ == "__main__":
    main()
