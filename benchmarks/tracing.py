"""What tracing costs per model call: off (no tracer provider), and on with the OpenTelemetry SDK.

The task is the overhead benchmark's (``benchmarks/overhead.py``: three tool rounds of ``add``
then an answer, 4 model calls a run, on an in-process FunctionModel), run N times per mode:

* ``off``: no tracer provider (the API's proxy), so every run takes the untraced path;
* ``sdk``: an SDK ``TracerProvider`` with a ``BatchSpanProcessor`` whose exporter encodes each
  batch as an OTLP protobuf request and drops it (a real exporter's CPU, without its network);
* ``sdk+content``: the same, recording message content (``Agent(trace_content=True)``);
* ``sampled-out``: the SDK with a sampler that records nothing: exo's own wrappers (and the
  SDK's sampling decision) without the spans' cost.

    python benchmarks/tracing.py                  # 2000 runs per mode
    python benchmarks/tracing.py --runs 5000 --stream

Cost per model call = (CPU time of N runs in the mode - CPU time of N runs off) / (4 N). CPU time
is the whole process's (``time.process_time()``), so the processor's export thread counts; the
batch is flushed inside the measured window. Modes are interleaved over ``--rounds`` and each
keeps its best round (other processes only ever add time). For the cost of tracing left off,
compare instructions under callgrind with ``benchmarks/instructions.py`` (see docs/tracing.md);
``--only MODE --runs N`` runs one mode alone, to count its instructions the same way:

    CG="valgrind --tool=callgrind --callgrind-out-file=/dev/null"
    $CG python benchmarks/tracing.py --only sdk --runs 0
    $CG python benchmarks/tracing.py --only sdk --runs 300
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import time
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from overhead import add, reply

from exo import Agent, run
from exo.testing import FunctionModel
from exo.tracing import use_tracer_provider

CALLS = 4


class EncodeAndDrop(SpanExporter):
    """Encodes each batch as an OTLP/protobuf request, then drops it."""

    def __init__(self) -> None:
        self.spans = 0
        self.bytes = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans += len(spans)
        self.bytes += len(encode_spans(spans).SerializeToString())
        return SpanExportResult.SUCCESS


async def measure(agent: Agent, n: int, stream: bool, provider: TracerProvider | None) -> float:
    """CPU seconds of ``n`` runs (after a warm-up), the batch flushed inside the window."""
    model = FunctionModel(reply)
    scope: Any = use_tracer_provider(provider) if provider is not None else nullcontext()
    with scope:
        for _ in range(20):
            await run(agent, "Add numbers", provider=model)
        if provider is not None:
            provider.force_flush()
        gc.collect()
        start = time.process_time()
        for _ in range(n):
            if stream:
                async for _event in run.stream(agent, "Add numbers", provider=model):
                    pass
            else:
                result = await run(agent, "Add numbers", provider=model)
                assert result.usage.requests == CALLS
        if provider is not None:
            provider.force_flush()
        return time.process_time() - start


def sdk_provider(sampled: bool = True) -> tuple[TracerProvider, EncodeAndDrop]:
    exporter = EncodeAndDrop()
    provider = TracerProvider(sampler=None if sampled else ALWAYS_OFF)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider, exporter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--stream", action="store_true", help="use run.stream instead of run")
    parser.add_argument("--only", help="run this mode alone, once (for callgrind)")
    args = parser.parse_args()

    agent = Agent(name="bench", model="test:m", tools=[add])
    modes = {
        "off": agent,
        "sampled-out": agent,
        "sdk": agent,
        "sdk+content": agent.replace(trace_content=True),
    }
    if args.only is not None:
        provider = sdk_provider(args.only != "sampled-out")[0] if args.only != "off" else None
        asyncio.run(measure(modes[args.only], args.runs, args.stream, provider))
        return
    best: dict[str, float] = {}
    spans_per_run = 0.0
    bytes_per_span = 0.0
    for _ in range(args.rounds):
        for mode, case in modes.items():
            made = sdk_provider(mode != "sampled-out") if mode != "off" else (None, None)
            provider, exporter = made
            cpu = asyncio.run(measure(case, args.runs, args.stream, provider))
            best[mode] = min(best.get(mode, cpu), cpu)
            if provider is not None and exporter is not None:
                provider.shutdown()
                if mode == "sdk":
                    spans_per_run = exporter.spans / (args.runs + 20)
                    bytes_per_span = exporter.bytes / max(exporter.spans, 1)
    how = "run.stream" if args.stream else "run"
    print(
        f"python {sys.version.split()[0]}, {how}, {args.runs} runs x {CALLS} model calls, "
        f"best of {args.rounds}; {spans_per_run:.0f} spans per run, "
        f"{bytes_per_span:.0f} OTLP bytes per span"
    )
    calls = args.runs * CALLS
    for mode, cpu in best.items():
        extra = (cpu - best["off"]) / calls * 1e6
        line = f"{mode:>12}: {cpu / args.runs * 1e3:.3f} ms CPU per run"
        if mode != "off":
            line += f", +{extra:.1f} µs per model call for tracing"
        print(line)


if __name__ == "__main__":
    main()
