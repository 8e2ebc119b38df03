"""Fixtures of the tracing tests: an SDK tracer provider with an in-memory exporter, the fake
provider server, and the span tree as plain data."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from exo.models.base import Provider
from exo.tracing import use_tracer_provider
from reliability.clients import make_provider
from reliability.fakeserver import FakeServer

Tree = list[tuple[str, "Tree"]]


class Spans:
    """The finished spans of a test, and ways to look at them."""

    def __init__(self, exporter: InMemorySpanExporter, provider: TracerProvider) -> None:
        self.exporter = exporter
        self.provider = provider

    @property
    def all(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def named(self, name: str) -> list[ReadableSpan]:
        return sorted((s for s in self.all if s.name == name), key=_start)

    def one(self, name: str) -> ReadableSpan:
        found = self.named(name)
        assert len(found) == 1, f"{len(found)} spans named {name!r}"
        return found[0]

    def tree(self) -> Tree:
        """The spans as (name, children) pairs, siblings in the order they started."""
        spans = self.all
        ids = {s.context.span_id for s in spans}
        children: dict[int | None, list[ReadableSpan]] = {}
        for span in spans:
            parent = span.parent.span_id if span.parent is not None else None
            children.setdefault(parent if parent in ids else None, []).append(span)

        def build(parent: int | None) -> Tree:
            kids = sorted(children.get(parent, []), key=lambda s: (_start(s), s.name))
            return [(s.name, build(s.context.span_id)) for s in kids]

        return build(None)

    def parent_of(self, span: ReadableSpan) -> ReadableSpan | None:
        if span.parent is None:
            return None
        return next((s for s in self.all if s.context.span_id == span.parent.span_id), None)

    def dump(self) -> str:
        """Every span as JSON: names, attributes, events, status, resource."""
        return "\n".join(s.to_json() for s in self.all)


def _start(span: ReadableSpan) -> int:
    return span.start_time or 0


@pytest.fixture
def spans() -> Iterator[Spans]:
    """Runs started in this test are traced to an in-memory exporter (a sync fixture: the
    test's task copies the context it sets)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with use_tracer_provider(provider):
        yield Spans(exporter, provider)
    provider.shutdown()


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeServer]:
    with FakeServer() as server:
        yield server


@pytest.fixture
def server(fake_server: FakeServer) -> Iterator[FakeServer]:
    fake_server.reset()
    yield fake_server
    fake_server.settle()
    fake_server.reset()


@pytest.fixture
async def providers(server: FakeServer) -> AsyncIterator[Callable[..., Provider]]:
    """Real providers (official SDKs inside) pointed at the fake server; closed afterwards."""
    made: list[Provider] = []

    def build(backend: str = "openai", **options: Any) -> Provider:
        provider = make_provider(backend, server, **options)
        made.append(provider)
        return provider

    yield build
    for provider in made:
        await provider.aclose()


async def no_sleep(_: float) -> None:
    """The retry policy's sleep in tests: retry at once."""


def attributes(span: ReadableSpan) -> dict[str, Any]:
    """A span's attributes as a plain dict (sequences as lists)."""
    return {
        k: list(v) if isinstance(v, Sequence) and not isinstance(v, str) else v
        for k, v in (span.attributes or {}).items()
    }
