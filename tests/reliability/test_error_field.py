"""A failure reported mid-stream the way llama.cpp's server does is a ModelError with its message.

llama.cpp's server (``llama-server``, what many point ``openai:`` at with a base URL) writes a
streamed failure as an ``error: {"code", "message", "type"}`` line: a field the event-stream
standard does not know, so it was dropped and the stream read as cut short ("the stream ended
before the response was complete", retried) with the server's message lost. An event named
``error`` (``event: error``) whose data has no ``error`` key or ``type`` was lost the same
way. The shape of the lines is llama.cpp's ``server_sent_event(sink, "error", ...)``; the
bodies are synthetic.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from exo.errors import ModelError
from exo.models.base import ModelRequest, TextDelta
from exo.types import UserMessage
from reliability.fuzzwire import Boundary, build, encode_stream, stream_seeds

REQUEST = ModelRequest(messages=[UserMessage(content="hi")])
TOO_LONG = {
    "code": 400,
    "message": "the request exceeds the available context size, try increasing it",
    "type": "exceed_context_size_error",
}
CRASHED = {"code": 500, "message": "decode failed", "type": "server_error"}
# (protocol, raw): every backend and path reads events with exo's own decoder
READERS = [
    ("openai", True),
    ("openai", False),
    ("openai-responses", True),
    ("openai-responses", False),
    ("anthropic", True),
    ("anthropic", False),
]


def _body(protocol: str, line: bytes) -> bytes:
    """The first events of a normal stream (text included), then ``line``, then the end."""
    events = stream_seeds(protocol)[0]
    text_at = next(i for i, e in enumerate(events) if "Hello" in json.dumps(e))
    return encode_stream(protocol, events[: text_at + 1]) + line


async def _failure(protocol: str, raw: bool, body: bytes) -> tuple[ModelError, list[Any]]:
    provider = build(protocol, raw, Boundary(body, "text/event-stream"))
    seen: list[Any] = []
    with pytest.raises(ModelError) as caught:
        async for chunk in provider.stream(REQUEST):
            seen.append(chunk)
    return caught.value, seen


@pytest.mark.parametrize(("protocol", "raw"), READERS, ids=[f"{p}-{r}" for p, r in READERS])
@pytest.mark.parametrize("form", ["error-field", "event-error"])
async def test_a_llama_cpp_error_mid_stream_is_a_model_error_with_its_message(
    protocol: str, raw: bool, form: str
) -> None:
    data = json.dumps(TOO_LONG).encode()
    line = b"error: " + data if form == "error-field" else b"event: error\ndata: " + data
    error, seen = await _failure(protocol, raw, _body(protocol, line + b"\n\n"))
    assert "exceeds the available context size" in error.detail
    assert not error.retryable  # the same request would fail again
    assert any(isinstance(c, TextDelta) for c in seen)  # what streamed before still did


@pytest.mark.parametrize(("protocol", "raw"), READERS, ids=[f"{p}-{r}" for p, r in READERS])
async def test_a_server_error_reported_in_an_error_field_is_retryable(
    protocol: str, raw: bool
) -> None:
    line = b"error: " + json.dumps(CRASHED).encode() + b"\n\n"
    error, _ = await _failure(protocol, raw, _body(protocol, line))
    assert "decode failed" in error.detail and error.retryable
