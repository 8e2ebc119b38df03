"""Fuzz the wire: every response a server can send is a result or a clear ModelError.

Valid responses of the three protocols (whole JSON bodies and server-sent event streams, see
:mod:`reliability.fuzzwire`) are mutated one place at a time (any field of any event: a
wrong type, missing, ``null``, extra, list items dropped, duplicated, swapped or replaced by
junk, streams truncated at a byte) and fed through the real providers, on both request paths
(``raw=True`` and the SDK's ``raw=False``), at the HTTP boundary (an ``httpx2`` mock
transport under the official SDK). Only two outcomes may happen:

* a :class:`ModelResponse` whose every part has its declared type; or
* a :class:`ModelError` that names the backend and says what failed, retryable only when the
  stream ended early (a malformed 200 would fail the same way again).

Anything else (a ``KeyError``, ``TypeError``, ``AttributeError``, ``IndexError``, a plain
``ValueError``, a hang) fails the test, and hypothesis prints the smallest mutation. The
runs are derandomized, so CI sees the same examples every time.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exo.errors import ModelError
from exo.models.base import (
    ModelChunk,
    ModelRequest,
    ModelResponse,
    Provider,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
)
from exo.types import UserMessage
from reliability.fuzzwire import (
    KEY,
    MUTATIONS,
    WRONG,
    Boundary,
    build,
    encode_stream,
    json_seeds,
    mutate,
    paths,
    stream_seeds,
)

PROTOCOLS = ("openai", "openai-responses", "anthropic")
FINISH = {"stop", "tool_calls", "length", "content_filter", "refusal", "other"}
REQUEST = ModelRequest(messages=[UserMessage(content="hi")])
HANG_GUARD = 60.0  # seconds: a call that takes this long in memory is a hang
FUZZ = settings(
    max_examples=70,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SETUPS = [(p, raw) for p in PROTOCOLS for raw in (True, False)]
IDS = [f"{p}-{'raw' if raw else 'sdk'}" for p, raw in SETUPS]


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """One event loop for all of a test's examples (hypothesis drives a sync test)."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


# --------------------------------------------------------------------------- the oracle


def check_response(response: ModelResponse) -> None:
    """Every part of a response has the type exo declares."""
    message = response.message
    assert isinstance(message.content, str)
    for call in message.tool_calls:
        assert isinstance(call.id, str) and isinstance(call.name, str)
        assert isinstance(call.arguments, str) and call.arguments
    for block in message.reasoning:
        assert isinstance(block.text, str)
        assert block.signature is None or isinstance(block.signature, str)
        assert block.encrypted is None or isinstance(block.encrypted, str)
    usage = response.usage
    assert usage.requests == 1 and usage.unreported in (0, 1)
    for count in (usage.input_tokens, usage.output_tokens, usage.cache_read_tokens):
        assert isinstance(count, int) and count >= 0
    assert response.finish_reason in FINISH
    assert isinstance(response.model, str)
    assert response.id is None or isinstance(response.id, str)
    assert (response.refusal is not None) == (response.finish_reason == "refusal")


def check_error(error: ModelError, protocol: str, *, streamed: bool) -> None:
    """A clear error: it names the backend, says something, retries only a cut stream."""
    assert str(error).startswith(f"{protocol}:fuzz-model")
    assert error.detail.strip()
    assert KEY not in str(error)
    if error.retryable:
        assert streamed and "ended before" in error.detail, error.detail


def check_chunks(chunks: list[ModelChunk]) -> ModelResponse:
    """Deltas of the right types, then exactly one response, last."""
    *deltas, final = chunks
    assert isinstance(final, ModelResponse)
    for delta in deltas:
        assert isinstance(delta, TextDelta | ReasoningDelta | ToolCallDelta)
        if isinstance(delta, ToolCallDelta):
            assert isinstance(delta.index, int) and isinstance(delta.arguments, str)
        else:
            assert isinstance(delta.text, str)
    return final


async def call(provider: Provider, *, stream: bool) -> list[ModelChunk]:
    async with asyncio.timeout(HANG_GUARD):
        if not stream:
            return [await provider.complete(REQUEST)]
        return [chunk async for chunk in provider.stream(REQUEST)]


def outcome(
    loop: asyncio.AbstractEventLoop, provider: Provider, protocol: str, *, stream: bool
) -> ModelResponse | ModelError:
    """Run one call; return its response or its ModelError (anything else propagates)."""
    try:
        chunks = loop.run_until_complete(call(provider, stream=stream))
    except ModelError as error:
        check_error(error, protocol, streamed=stream)
        return error
    response = check_chunks(chunks)
    check_response(response)
    return response


# --------------------------------------------------------------------------- mutations


@st.composite
def mutated(draw: st.DrawFn, seeds: list[Any]) -> Any:
    """A seed with one to three mutations, each at a place drawn from the document."""
    doc = draw(st.sampled_from(seeds))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(list(paths(doc))))
        op = draw(st.sampled_from(MUTATIONS))
        wrong = draw(st.sampled_from(WRONG))
        doc = mutate(doc, path, op, wrong, draw(st.integers(0, 64)))
    return doc


def json_body(doc: Any) -> bytes:
    return json.dumps(doc).encode()


# --------------------------------------------------------------------------- the fuzzers


@pytest.mark.parametrize(("protocol", "raw"), SETUPS, ids=IDS)
def test_valid_shapes_parse(protocol: str, raw: bool, loop: asyncio.AbstractEventLoop) -> None:
    """The unmutated seeds are answers, on both paths and both call kinds (the baseline)."""
    boundary = Boundary()
    provider = build(protocol, raw, boundary)
    for doc in json_seeds(protocol):
        boundary.body, boundary.content_type = json_body(doc), "application/json"
        assert isinstance(outcome(loop, provider, protocol, stream=False), ModelResponse)
    for events in stream_seeds(protocol):
        boundary.body = encode_stream(protocol, events)
        boundary.content_type = "text/event-stream"
        response = outcome(loop, provider, protocol, stream=True)
        assert isinstance(response, ModelResponse), response
        assert response.message.content or response.message.tool_calls


@pytest.mark.parametrize(("protocol", "raw"), SETUPS, ids=IDS)
def test_fuzz_json_bodies(protocol: str, raw: bool, loop: asyncio.AbstractEventLoop) -> None:
    """Mutated whole bodies, to a plain call and to a streaming call (a server that ignored
    ``stream: true``)."""
    boundary = Boundary()
    provider = build(protocol, raw, boundary)
    seeds = json_seeds(protocol)

    @FUZZ
    @given(doc=mutated(seeds), stream=st.booleans())
    def run(doc: Any, stream: bool) -> None:
        boundary.body, boundary.content_type = json_body(doc), "application/json"
        outcome(loop, provider, protocol, stream=stream)

    run()


@pytest.mark.parametrize(("protocol", "raw"), SETUPS, ids=IDS)
def test_fuzz_streams(protocol: str, raw: bool, loop: asyncio.AbstractEventLoop) -> None:
    """Mutated event streams: any field of any event, events dropped, repeated, reordered."""
    boundary = Boundary()
    provider = build(protocol, raw, boundary)
    seeds = stream_seeds(protocol)

    @FUZZ
    @given(events=mutated(seeds))
    def run(events: Any) -> None:
        boundary.content_type = "text/event-stream"
        if not isinstance(events, list):  # the root itself was replaced: one odd event
            events = [events]
        boundary.body = encode_stream(protocol, events)
        outcome(loop, provider, protocol, stream=True)

    run()


@pytest.mark.parametrize(("protocol", "raw"), SETUPS, ids=IDS)
def test_fuzz_stream_bytes(protocol: str, raw: bool, loop: asyncio.AbstractEventLoop) -> None:
    """Valid streams cut at any byte, or with a junk line spliced in at any byte."""
    boundary = Boundary()
    provider = build(protocol, raw, boundary)
    bodies = [encode_stream(protocol, events) for events in stream_seeds(protocol)]
    junk = st.sampled_from(
        [
            b"",
            b"data: {not json\n\n",
            b"data: [1, 2]\n\n",
            b"data: 42\n\n",
            b"data: null\n\n",
            b": keep-alive\n\n",
            b"\n\n\n",
            b"event: x\n",
        ]
    )

    @FUZZ
    @given(body=st.sampled_from(bodies), cut=st.integers(0, 10_000), splice=junk)
    def run(body: bytes, cut: int, splice: bytes) -> None:
        at = cut % (len(body) + 1)
        boundary.content_type = "text/event-stream"
        boundary.body = body[:at] + splice if not splice else body[:at] + splice + body[at:]
        outcome(loop, provider, protocol, stream=True)

    run()
