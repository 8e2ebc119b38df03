"""Soak: 1,000 concurrent runs, three tool rounds each, on a server that fails 13 % of the time.

Faults are drawn per attempt (10 % HTTP 500, 2 % HTTP 429 with ``retry-after-ms``, 1 %
connection resets: before the first byte, or, for streamed tool calls, after some of the
call's deltas), from a seeded hash of (run, round, attempt), so a run of the test is
reproducible whatever order requests arrive in. Every run must finish with its own answer,
every tool call must run exactly once, and retries must stay within 25 % of the fault-free
request count. ``EXO_SOAK_RUNS`` sets a larger soak; the wall time is printed, not asserted.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable

from exo import Agent
from exo._retry import RetryPolicy
from exo.models.base import Provider
from exo.types import RunResult
from reliability.fakeserver import Attempt, FakeServer, Reply, answer, fail, reset, tools
from reliability.support import BACKENDS, drive

ProviderFactory = Callable[..., Provider]
RUNS = int(os.environ.get("EXO_SOAK_RUNS", "1000"))
ROUNDS = 3
SEED = "exo-soak-1"
RATES = (("500", 0.10), ("429", 0.02), ("reset", 0.01))


def _draw(run_id: str, round_: int, attempt: int) -> float:
    digest = hashlib.blake2b(f"{SEED}:{run_id}:{round_}:{attempt}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big") / 2**64


class SoakScript:
    """The server's side of the soak: three tool rounds per run, then an answer; faults."""

    def __init__(self) -> None:
        self.tries: collections.Counter[tuple[str, int]] = collections.Counter()
        self.faults: collections.Counter[str] = collections.Counter()

    def __call__(self, attempt: Attempt) -> Reply:
        run_id, round_ = attempt.seen.task, attempt.seen.rounds
        self.tries[run_id, round_] += 1
        fault = self._fault(run_id, round_, attempt)
        if fault is not None:
            return fault
        if round_ < ROUNDS:
            arguments = json.dumps({"run_id": run_id, "round": round_ + 1})
            return tools(("step", arguments), pieces=3)
        return answer(f"{run_id} finished after {len(attempt.seen.results)} tool results")

    def _fault(self, run_id: str, round_: int, attempt: Attempt) -> Reply | None:
        x = _draw(run_id, round_, self.tries[run_id, round_])
        for kind, rate in RATES:
            if x < rate:
                self.faults[kind] += 1
                if kind == "500":
                    return fail(500)
                if kind == "429":
                    return fail(429, retry_after_ms="5")
                if attempt.stream and round_ < ROUNDS:  # torn mid-call: nothing shown yet
                    call = ("step", json.dumps({"run_id": run_id, "round": round_ + 1}))
                    return tools(call, pieces=3, reset_after=4)
                return reset()
            x -= rate
        return None


async def test_soak_concurrent_runs_with_faults(
    server: FakeServer, providers: ProviderFactory
) -> None:
    executed: collections.Counter[tuple[str, int]] = collections.Counter()
    lock = threading.Lock()

    def step(run_id: str, round: int) -> str:
        """Do one step of a run."""
        with lock:
            executed[run_id, round] += 1
        return f"{run_id} step {round} done"

    agent = Agent(name="soak", model="test:m", tools=[step], max_steps=ROUNDS + 2)
    script = SoakScript()
    server.responder = script
    shared = {b: providers(b) for b in BACKENDS}  # one provider (one client) per backend
    retry = RetryPolicy(max_retries=6, initial_delay=0.001, max_delay=0.01)

    async def one(n: int) -> RunResult:
        backend = BACKENDS[n % len(BACKENDS)]
        stream = (n // len(BACKENDS)) % 2 == 1
        return await drive(
            agent, f"run-{n:05d}", provider=shared[backend], stream=stream, retry=retry
        )

    start = time.perf_counter()
    results = await asyncio.gather(*(one(n) for n in range(RUNS)), return_exceptions=True)
    wall = time.perf_counter() - start

    failures = [r for r in results if isinstance(r, BaseException)]
    assert failures == [], failures[:3]
    outputs = [r.output for r in results if isinstance(r, RunResult)]
    expected = [f"run-{n:05d} finished after {ROUNDS} tool results" for n in range(RUNS)]
    assert outputs == expected  # none lost, none mixed up
    assert all(isinstance(r, RunResult) and r.steps == ROUNDS + 1 for r in results)
    # every tool call ran exactly once: a retried (even torn) call never ran twice
    assert executed == {(f"run-{n:05d}", k): 1 for n in range(RUNS) for k in range(1, 4)}
    assert server.rejected == []
    fault_free = RUNS * (ROUNDS + 1)
    attempts = server.count()
    ratio = attempts / fault_free
    print(
        f"\nsoak: {RUNS} runs x {ROUNDS + 1} model calls in {wall:.2f} s; "
        f"{attempts} HTTP attempts for {fault_free} calls (ratio {ratio:.3f}); "
        f"faults injected: {dict(script.faults)}"
    )
    assert sum(script.faults.values()) > 0.08 * fault_free  # the faults really happened
    assert attempts == fault_free + sum(script.faults.values())  # one attempt per fault
    assert ratio <= 1.25
