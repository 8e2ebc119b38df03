"""``exo run --trace otlp|console``: trace the command's run with the OpenTelemetry SDK.

``otlp`` exports over OTLP/HTTP (protobuf) to the endpoint of the standard variables
(``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, default
``http://localhost:4318``; ``OTEL_EXPORTER_OTLP_HEADERS`` for an API key; ``OTEL_SERVICE_NAME``,
default ``exo``). ``console`` prints the span tree to stderr when the run ends. The SDK and the
exporter are imported only when ``--trace`` is given.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from exo.errors import ConfigError
from exo.tracing import use_tracer_provider

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

__all__ = ["TraceOpt", "TraceTarget", "render_tree", "tracing"]


class TraceTarget(StrEnum):
    """Where ``--trace`` sends the run's spans."""

    OTLP = "otlp"
    CONSOLE = "console"


TraceOpt = Annotated[
    TraceTarget | None,
    typer.Option(
        "--trace",
        help="Trace the run with OpenTelemetry: otlp (to OTEL_EXPORTER_OTLP_ENDPOINT) or "
        "console (print the span tree).",
    ),
]

_SDK_HINT = "pip install opentelemetry-sdk opentelemetry-exporter-otlp-proto-http"


@contextmanager
def tracing(target: TraceTarget | None, err: Console) -> Iterator[None]:
    """Trace the runs started inside the block to ``target``; flush when it ends."""
    if target is None:
        yield
        return
    provider = _provider(target, err)
    try:
        with use_tracer_provider(provider):
            yield
    finally:
        provider.shutdown()  # exports what is buffered (console: prints the tree)


def _provider(target: TraceTarget, err: Console) -> TracerProvider:
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    except ImportError as exc:
        raise ConfigError(
            f"--trace needs the OpenTelemetry SDK ({exc.name} is not installed)",
            parameter="trace",
            hint=_SDK_HINT,
        ) from None
    resource = Resource.create()
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": "exo"}))
    provider = TracerProvider(resource=resource)
    if target is TraceTarget.CONSOLE:
        provider.add_span_processor(SimpleSpanProcessor(_tree_exporter(err)))
    else:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:
            raise ConfigError(
                "--trace otlp needs opentelemetry-exporter-otlp-proto-http",
                parameter="trace",
                hint=_SDK_HINT,
            ) from None
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    # Spans the agent's own tools open (with the global API) go to the same place, unless
    # the program configured a provider of its own.
    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        trace.set_tracer_provider(provider)
    return provider


def _tree_exporter(err: Console) -> SpanExporter:
    """An exporter that collects the spans and prints their tree when the provider shuts down."""
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    class TreeExporter(SpanExporter):
        def __init__(self) -> None:
            self.spans: list[ReadableSpan] = []

        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            self.spans.extend(spans)
            return SpanExportResult.SUCCESS

        def shutdown(self) -> None:
            for line in render_tree(self.spans):
                err.print(line, markup=False, highlight=False, soft_wrap=True)
            self.spans.clear()

    return TreeExporter()


def render_tree(spans: Sequence[ReadableSpan]) -> list[str]:
    """The spans as a tree, one line each, siblings in the order they started."""
    ids = {s.context.span_id for s in spans if s.context is not None}
    children: dict[int | None, list[ReadableSpan]] = {}
    for span in spans:
        parent = span.parent.span_id if span.parent is not None else None
        children.setdefault(parent if parent in ids else None, []).append(span)
    lines: list[str] = []

    def walk(parent: int | None, prefix: str) -> None:
        kids = sorted(children.get(parent, []), key=lambda s: s.start_time or 0)
        for i, span in enumerate(kids):
            last = i == len(kids) - 1
            lines.append(prefix + ("└── " if last else "├── ") + _label(span))
            if span.context is not None:
                walk(span.context.span_id, prefix + ("    " if last else "│   "))

    for root in sorted(children.get(None, []), key=lambda s: s.start_time or 0):
        lines.append(_label(root))
        if root.context is not None:
            walk(root.context.span_id, "")
    return lines


def _label(span: ReadableSpan) -> str:
    """``name  duration  details``: tokens, finish reason, retries, failure."""
    from opentelemetry.trace import StatusCode

    a = dict(span.attributes or {})
    parts = [span.name, _duration(span)]
    operation = a.get("gen_ai.operation.name")
    prefix = "gen_ai.usage" if operation == "chat" else "exo.usage"
    if f"{prefix}.input_tokens" in a:
        tokens = f"{a[f'{prefix}.input_tokens']:,} in · {a.get(f'{prefix}.output_tokens', 0):,} out"
        cached = a.get(f"{prefix}.cache_read.input_tokens")
        parts.append(tokens + (f" ({cached:,} cached)" if cached else ""))
    reasons = a.get("gen_ai.response.finish_reasons")
    if isinstance(reasons, Sequence) and not isinstance(reasons, str):
        parts.append(",".join(str(r) for r in reasons))
    first = a.get("gen_ai.response.time_to_first_chunk")
    if isinstance(first, float):
        parts.append(f"first chunk {first * 1000:.0f} ms")
    retries = a.get("exo.retries")
    if isinstance(retries, int):
        parts.append(f"{retries} retr{'y' if retries == 1 else 'ies'}")
    if span.status.status_code is StatusCode.ERROR:
        parts.append(f"✗ {a.get('error.type', 'error')}")
    return "  ".join(parts)


def _duration(span: ReadableSpan) -> str:
    if span.start_time is None or span.end_time is None:
        return "…"
    seconds = (span.end_time - span.start_time) / 1e9
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"
