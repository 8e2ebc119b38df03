"""Streaming edge cases on synthetic SSE fixtures (no recording has them), both call paths.

Every stream below is hand-built in the Messages API's event shape and labelled as such.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest

from exo.errors import ModelError
from exo.models.anthropic import AnthropicProvider
from exo.models.base import (
    ModelChunk,
    ModelRequest,
    ModelResponse,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
)
from exo.types import UserMessage

PATHS = pytest.mark.parametrize("raw", [True, False], ids=["raw", "sdk"])
REQUEST = ModelRequest(messages=[UserMessage(content="hi")])


def event(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, **fields}


def start(usage: dict[str, int] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {
        "id": "msg_synthetic",
        "type": "message",
        "role": "assistant",
        "model": "claude-synthetic",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage or {"input_tokens": 10, "output_tokens": 1},
    }
    return event("message_start", message=message)


def block(index: int, content: dict[str, Any]) -> dict[str, Any]:
    return event("content_block_start", index=index, content_block=content)


def delta(index: int, **fields: Any) -> dict[str, Any]:
    return event("content_block_delta", index=index, delta=fields)


def stop(index: int) -> dict[str, Any]:
    return event("content_block_stop", index=index)


def finish(reason: str, **usage: int) -> list[dict[str, Any]]:
    return [
        event("message_delta", delta={"stop_reason": reason, "stop_sequence": None}, usage=usage),
        event("message_stop"),
    ]


def sse(events: list[dict[str, Any]], newline: str = "\n") -> bytes:
    text = "".join(
        f"event: {e['type']}{newline}data: {json.dumps(e)}{newline}{newline}" for e in events
    )
    return text.encode()


class RecordingStream(httpx2.AsyncByteStream):
    """A response body served in pieces, that remembers being closed; may hang at the end."""

    def __init__(self, pieces: list[bytes], *, hang: bool = False) -> None:
        self.pieces = pieces
        self.hang = hang
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            yield piece
        if self.hang:
            await asyncio.Event().wait()

    async def aclose(self) -> None:
        self.closed = True


def provider_for(body: RecordingStream | bytes, *, raw: bool) -> AnthropicProvider:
    stream = body if isinstance(body, RecordingStream) else RecordingStream([body])

    def handler(request: httpx2.Request) -> httpx2.Response:
        assert json.loads(request.content)["stream"] is True
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, stream=stream)

    client = httpx2.AsyncClient(transport=httpx2.MockTransport(handler))
    return AnthropicProvider("claude-synthetic", api_key="k", http_client=client, raw=raw)


async def collect(provider: AnthropicProvider) -> tuple[list[ModelChunk], ModelResponse]:
    chunks = [c async for c in provider.stream(REQUEST)]
    response = chunks.pop()
    assert isinstance(response, ModelResponse)
    return chunks, response


@PATHS
async def test_empty_input_json_means_empty_object(raw: bool) -> None:
    events = [
        start(),
        block(0, {"type": "tool_use", "id": "toolu_a", "name": "now", "input": {}}),
        delta(0, type="input_json_delta", partial_json=""),
        event("ping"),
        stop(0),
        *finish("tool_use", output_tokens=9),
    ]
    chunks, response = await collect(provider_for(sse(events), raw=raw))
    (call,) = response.message.tool_calls
    assert (call.id, call.name, call.arguments) == ("toolu_a", "now", "{}")
    assert chunks == [
        ToolCallDelta(index=0, id="toolu_a", name="now", arguments=""),
        ToolCallDelta(index=0, arguments="{}"),
    ]
    assert response.finish_reason == "tool_calls"


@PATHS
async def test_thinking_signature_and_redacted_thinking(raw: bool) -> None:
    events = [
        start(),
        block(0, {"type": "thinking", "thinking": "", "signature": ""}),
        delta(0, type="thinking_delta", thinking="Let me "),
        delta(0, type="thinking_delta", thinking="think."),
        delta(0, type="signature_delta", signature="EqQBsig=="),
        stop(0),
        block(1, {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va"}),
        stop(1),
        block(2, {"type": "text", "text": ""}),
        delta(2, type="text_delta", text="Done."),
        stop(2),
        *finish("end_turn", output_tokens=30),
    ]
    chunks, response = await collect(provider_for(sse(events), raw=raw))
    assert chunks == [
        ReasoningDelta(text="Let me "),
        ReasoningDelta(text="think."),
        TextDelta(text="Done."),
    ]
    thinking, redacted = response.message.reasoning
    assert (thinking.text, thinking.signature, thinking.provider) == (
        "Let me think.",
        "EqQBsig==",
        "anthropic",
    )
    assert (redacted.redacted, redacted.encrypted, redacted.provider) == (
        True,
        "EmwKAhgBEgy3va",
        "anthropic",
    )
    assert response.message.content == "Done."


@PATHS
async def test_usage_is_cumulative_and_counts_cached_prompt_tokens(raw: bool) -> None:
    events = [
        start({"input_tokens": 5, "cache_read_input_tokens": 100, "output_tokens": 1}),
        block(0, {"type": "text", "text": ""}),
        delta(0, type="text_delta", text="hi"),
        stop(0),
        *finish(
            "max_tokens",
            input_tokens=5,
            cache_read_input_tokens=100,
            cache_creation_input_tokens=20,
            output_tokens=42,
        ),
    ]
    _, response = await collect(provider_for(sse(events), raw=raw))
    usage = response.usage
    assert (usage.input_tokens, usage.output_tokens) == (125, 42)
    assert (usage.cache_read_tokens, usage.cache_write_tokens, usage.requests) == (100, 20, 1)
    assert response.finish_reason == "length"
    assert (response.id, response.model) == ("msg_synthetic", "claude-synthetic")


@PATHS
@pytest.mark.parametrize(
    ("kind", "retryable"), [("overloaded_error", True), ("invalid_request_error", False)]
)
async def test_mid_stream_error_event(raw: bool, kind: str, retryable: bool) -> None:
    events = [
        start(),
        block(0, {"type": "text", "text": ""}),
        delta(0, type="text_delta", text="Partial "),
        event("error", error={"type": kind, "message": "Overloaded"}),
    ]
    chunks: list[ModelChunk] = []
    with pytest.raises(ModelError) as info:
        async for chunk in provider_for(sse(events), raw=raw).stream(REQUEST):
            chunks.append(chunk)
    assert chunks == [TextDelta(text="Partial ")]
    error = info.value
    assert error.retryable is retryable
    assert error.partial_text == "Partial "
    assert kind in str(error) and "Overloaded" in str(error)


@PATHS
async def test_stream_cut_before_message_stop_is_a_retryable_error(raw: bool) -> None:
    events = [
        start(),
        block(0, {"type": "text", "text": ""}),
        delta(0, type="text_delta", text="Hal"),
    ]
    with pytest.raises(ModelError) as info:
        await collect(provider_for(sse(events), raw=raw))
    assert info.value.retryable is True
    assert info.value.partial_text == "Hal"
    assert "message_stop" in str(info.value)


@PATHS
@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
async def test_events_split_across_arbitrary_chunks(raw: bool, newline: str) -> None:
    events = [
        start(),
        block(0, {"type": "text", "text": ""}),
        *[delta(0, type="text_delta", text=w) for w in ("naïve ", "café ", "😀")],
        stop(0),
        block(1, {"type": "tool_use", "id": "toolu_b", "name": "f", "input": {}}),
        delta(1, type="input_json_delta", partial_json='{"a": '),
        delta(1, type="input_json_delta", partial_json="[1, 2]}"),
        stop(1),
        *finish("tool_use", output_tokens=5),
    ]
    data = sse(events, newline)
    pieces = [data[i : i + 7] for i in range(0, len(data), 7)]  # splits UTF-8 and CRLF too
    _, response = await collect(provider_for(RecordingStream(pieces), raw=raw))
    assert response.message.content == "naïve café 😀"
    assert response.message.tool_calls[0].arguments == '{"a": [1, 2]}'


@PATHS
async def test_closing_the_stream_early_closes_the_response(raw: bool) -> None:
    events = [start(), block(0, {"type": "text", "text": ""})]
    events += [delta(0, type="text_delta", text=f"w{i} ") for i in range(50)]
    body = RecordingStream([sse(events[:3]), sse(events[3:])], hang=True)
    stream = provider_for(body, raw=raw).stream(REQUEST)
    first = await anext(stream)
    assert first == TextDelta(text="w0 ")
    assert not body.closed
    await stream.aclose()
    assert body.closed


@PATHS
async def test_cancelling_the_consumer_closes_the_response(raw: bool) -> None:
    events = [
        start(),
        block(0, {"type": "text", "text": ""}),
        delta(0, type="text_delta", text="x"),
    ]
    body = RecordingStream([sse(events)], hang=True)
    seen = asyncio.Event()

    async def consume() -> None:
        async for _ in provider_for(body, raw=raw).stream(REQUEST):
            seen.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(seen.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert body.closed


@PATHS
async def test_http_error_before_the_stream(raw: bool) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
        return httpx2.Response(529, json=error, headers={"retry-after": "3"})

    client = httpx2.AsyncClient(transport=httpx2.MockTransport(handler))
    provider = AnthropicProvider("claude-x", api_key="k", http_client=client, raw=raw)
    with pytest.raises(ModelError) as info:
        await collect(provider)
    assert (info.value.status, info.value.retryable, info.value.retry_after) == (529, True, 3.0)


@PATHS
async def test_transport_failure_mid_stream_keeps_partial_text(raw: bool) -> None:
    class Broken(RecordingStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            for piece in self.pieces:
                yield piece
            raise httpx2.ReadError("connection reset")

    events = [
        start(),
        block(0, {"type": "text", "text": ""}),
        delta(0, type="text_delta", text="So"),
    ]
    body = Broken([sse(events)])
    with pytest.raises(ModelError) as info:
        await collect(provider_for(body, raw=raw))
    assert info.value.retryable is True
    assert info.value.partial_text == "So"
    assert body.closed


@PATHS
async def test_an_unreadable_event_is_a_model_error(raw: bool) -> None:
    events = [
        start(),
        block(0, {"type": "text", "text": ""}),
        delta(0, type="text_delta", text="A"),
    ]
    body = RecordingStream([sse(events), b"event: content_block_delta\ndata: {not json\n\n"])
    with pytest.raises(ModelError) as info:
        await collect(provider_for(body, raw=raw))
    assert info.value.retryable is False
    assert info.value.partial_text == "A"
    assert body.closed
