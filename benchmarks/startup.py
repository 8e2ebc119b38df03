"""Start-up and memory: cold start per backend, ``import exo``, ``exo --help``, peak RSS.

Every figure comes from a new interpreter (``subprocess``), timed from outside with
``time.perf_counter`` (wall) and ``resource.getrusage(RUSAGE_CHILDREN)`` (the child's CPU,
user + system), and reported as the median of ``--repeat`` runs (the machine is shared:
the median of wall time and the CPU time are the steadier figures). Rows:

* ``python -c pass``: the interpreter alone (what no library can remove);
* ``import exo``;
* ``exo --help`` (the installed script, else ``python -m exo``);
* cold start on each HTTP backend: a new interpreter imports exo, builds the agent of
  ``floor.py``'s task (one ``add`` tool) and awaits one ``run`` (four model calls) against
  ``floor.py``'s mock, then prints the answer; for Chat Completions, Responses, Anthropic
  Messages and one OpenAI-compatible preset (``vllm:``);
* peak RSS of a process running ``--concurrency`` runs at once on one backend (Chat) with
  the mock answering after ``--latency-ms``: the process reports its own ``ru_maxrss``.

Run: ``python benchmarks/startup.py [--repeat 11] [--concurrency 200] [--latency-ms 50]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
KEY = "sk-bench-dummy"

RUN_ONCE = """
import asyncio, sys
from exo import Agent, run

def add(a: int, b: int) -> int:
    '''Add two integers.'''
    return a + b

async def main() -> None:
    agent = Agent(name="bench", model=sys.argv[1], tools=[add])
    print((await run(agent, "Add 1 and 2, then 3 and 4, then 5 and 6; report the sums.")).output)

asyncio.run(main())
"""

CONCURRENT = """
import asyncio, resource, sys
from exo import Agent, run

def add(a: int, b: int) -> int:
    '''Add two integers.'''
    return a + b

async def main(model: str, concurrency: int, runs: int) -> None:
    agent = Agent(name="bench", model=model, tools=[add])
    gate = asyncio.Semaphore(concurrency)
    prompt = "Add 1 and 2, then 3 and 4, then 5 and 6; report the sums."

    async def one() -> str:
        async with gate:
            return str((await run(agent, prompt)).output)

    answers = await asyncio.gather(*(one() for _ in range(runs)))
    assert all("3, 7 and 11" in a for a in answers), answers[:3]
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)

asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
"""

MODELS = {
    "Chat Completions (openai:)": "openai:gpt-4o-mini",
    "Responses (openai-responses:)": "openai-responses:gpt-4o-mini",
    "Anthropic Messages (anthropic:)": "anthropic:claude-bench",
    "compatible preset (vllm:)": "vllm:gpt-4o-mini",
}


def _env(base: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        OPENAI_BASE_URL=f"{base}/v1",
        OPENAI_API_KEY=KEY,
        ANTHROPIC_BASE_URL=base,
        ANTHROPIC_API_KEY=KEY,
        VLLM_BASE_URL=f"{base}/v1",
        NO_PROXY="127.0.0.1,localhost",
    )
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        env.pop(name, None)
    # as on a user's machine: the first (uncounted) start writes .pyc files, the measured
    # ones read them (with PYTHONDONTWRITEBYTECODE set, every start recompiles exo)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def timed(
    argv: list[str], env: dict[str, str], repeat: int, check: str = ""
) -> tuple[float, float]:
    """Median wall ms and median child CPU ms (user + system) of ``repeat`` runs of ``argv``."""
    walls, cpus = [], []
    subprocess.run(argv, env=env, capture_output=True, check=True)  # warm the page cache, .pyc
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(argv, env=env, capture_output=True, check=True, text=True)
        walls.append((time.perf_counter() - start) * 1000)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        cpus.append(cpu * 1000)
        assert check in done.stdout, done.stdout + done.stderr
    return statistics.median(walls), statistics.median(cpus)


def help_argv() -> list[str]:
    """The installed ``exo`` script beside this Python, else ``python -m exo``."""
    script = Path(sys.executable).with_name("exo")
    return [str(script), "--help"] if script.exists() else [sys.executable, "-m", "exo", "--help"]


def start_mock(port: int, latency_ms: float) -> subprocess.Popen[bytes]:
    """``floor.py``'s mock in its own process, answering after ``latency_ms``."""
    env = dict(os.environ, FLOOR_LATENCY_MS=str(latency_ms))
    argv = [sys.executable, str(HERE / "floor.py"), "--serve", "--port", str(port)]
    mock = subprocess.Popen(argv, stdout=subprocess.PIPE, env=env)
    assert mock.stdout is not None and mock.stdout.readline().startswith(b"READY")
    return mock


def peak_rss(base: str, model: str, concurrency: int, runs: int, repeat: int) -> float:
    """Median over ``repeat`` processes of the peak RSS (MB) of ``runs`` runs, ``concurrency``
    in flight."""
    argv = [sys.executable, "-c", CONCURRENT, model, str(concurrency), str(runs)]
    values = []
    for _ in range(repeat):
        done = subprocess.run(argv, env=_env(base), capture_output=True, check=True, text=True)
        values.append(float(done.stdout.strip().splitlines()[-1]))
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=11, help="runs per row; the median is kept")
    parser.add_argument("--port", type=int, default=18721)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--rss-runs", type=int, default=400, help="runs of the RSS process")
    parser.add_argument("--rss-repeat", type=int, default=3, help="RSS processes; median kept")
    parser.add_argument("--only", choices=("start", "rss"), help="one half of the table")
    args = parser.parse_args()
    py = sys.executable
    rows: list[tuple[str, float, float]] = []
    if args.only != "rss":
        env = _env("http://127.0.0.1:1")  # no server: nothing here connects
        rows.append(("`python -c pass`", *timed([py, "-c", "pass"], env, args.repeat)))
        rows.append(("`import exo`", *timed([py, "-c", "import exo"], env, args.repeat)))
        rows.append(("`exo --help`", *timed(help_argv(), env, args.repeat, "Usage")))
        mock = start_mock(args.port, 0)
        try:
            env = _env(f"http://127.0.0.1:{args.port}")
            for label, model in MODELS.items():
                argv = [py, "-c", RUN_ONCE, model]
                rows.append((f"cold start, {label}", *timed(argv, env, args.repeat, "3, 7 and 11")))
        finally:
            mock.terminate()
            mock.wait()
        print(f"median of {args.repeat} new interpreters each ({py})")
        print("| what | wall ms | CPU ms |\n|---|---|---|")
        for label, wall, cpu in rows:
            print(f"| {label} | {wall:.0f} | {cpu:.0f} |")
    if args.only != "start":
        mock = start_mock(args.port + 1, args.latency_ms)
        try:
            base = f"http://127.0.0.1:{args.port + 1}"
            rss = peak_rss(
                base,
                MODELS["Chat Completions (openai:)"],
                args.concurrency,
                args.rss_runs,
                args.rss_repeat,
            )
        finally:
            mock.terminate()
            mock.wait()
        print(
            f"peak RSS, {args.concurrency} runs in flight on Chat Completions, mock latency "
            f"{args.latency_ms:g} ms, {args.rss_runs} runs: {rss:.1f} MB "
            f"(median of {args.rss_repeat} processes)"
        )


if __name__ == "__main__":
    main()
