"""A UTF-8 byte order mark at the start of a body is dropped, on every backend and path.

Found by the outside test (synthetic bodies): with a BOM before the first ``data:`` line,
the first event was silently lost (a Chat stream whose first chunk carries text lost that
text, on both paths; Anthropic's SDK path lost ``message_start`` and with it the input token
count), and a JSON body with a BOM was "not JSON" on the raw path while the SDK path read
it. The event-stream standard says to drop it; JSON readers commonly accept it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx2
import pytest

from exo.models.base import ModelRequest, ModelResponse
from exo.types import UserMessage
from reliability.fuzzwire import Boundary, build, encode_stream, json_seeds, stream_seeds

PATHS = pytest.mark.parametrize("raw", [True, False], ids=["raw", "sdk"])
PROTOCOLS = pytest.mark.parametrize("protocol", ["openai", "openai-responses", "anthropic"])
REQUEST = ModelRequest(messages=[UserMessage(content="hi")])
BOM = b"\xef\xbb\xbf"
FIRST_TEXT = [
    {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hello"}}]},
    {"choices": [{"index": 0, "delta": {"content": " world"}, "finish_reason": "stop"}]},
    "[DONE]",
]


class _Pieces(httpx2.AsyncByteStream):
    """A body sent in the given pieces (a BOM split over chunks)."""

    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            yield piece


class _Streamed(Boundary):
    """Answers with a body that arrives as a stream (so it passes the size guard like a
    network body; a ``content=`` response is read before any hook sees it), in pieces."""

    def __init__(self, body: bytes, content_type: str, *, split: bool) -> None:
        super().__init__(body, content_type)
        self.split = split

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        body = self.body
        pieces = [body[:1], body[1:2], b"", body[2:5], body[5:]] if self.split else [body]
        return httpx2.Response(
            200, headers={"content-type": self.content_type}, stream=_Pieces(pieces)
        )


async def _streamed(protocol: str, raw: bool, body: bytes, split: bool) -> ModelResponse:
    boundary = _Streamed(body, "text/event-stream", split=split)
    chunks = [c async for c in build(protocol, raw, boundary).stream(REQUEST)]
    final = chunks[-1]
    assert isinstance(final, ModelResponse)
    return final


@PATHS
@pytest.mark.parametrize("split", [False, True], ids=["whole", "split"])
async def test_a_bom_before_the_first_event_keeps_that_events_text(raw: bool, split: bool) -> None:
    final = await _streamed("openai", raw, BOM + encode_stream("openai", FIRST_TEXT), split)
    assert final.message.content == "Hello world"


@PATHS
@PROTOCOLS
@pytest.mark.parametrize("split", [False, True], ids=["whole", "split"])
async def test_a_stream_with_a_bom_reads_as_the_same_stream_without(
    protocol: str, raw: bool, split: bool
) -> None:
    body = encode_stream(protocol, stream_seeds(protocol)[0])
    plain = await _streamed(protocol, raw, body, split=False)
    with_bom = await _streamed(protocol, raw, BOM + body, split)
    assert with_bom.message == plain.message and with_bom.usage == plain.usage
    assert plain.usage.input_tokens > 0  # the first event's count was kept


@PATHS
@PROTOCOLS
@pytest.mark.parametrize("split", [False, True], ids=["whole", "split"])
async def test_a_json_body_with_a_bom_is_read_on_both_paths(
    protocol: str, raw: bool, split: bool
) -> None:
    body = json.dumps(json_seeds(protocol)[0]).encode()
    json_type = "application/json"
    plain = await build(protocol, raw, Boundary(body)).complete(REQUEST)
    boundary = _Streamed(BOM + body, json_type, split=split)
    with_bom = await build(protocol, raw, boundary).complete(REQUEST)
    assert with_bom.message == plain.message and plain.message.content


@PATHS
async def test_a_bom_later_in_the_body_is_left_alone(raw: bool) -> None:
    """Only the body's first bytes: a BOM inside the text is the text's."""
    events = [
        {"choices": [{"index": 0, "delta": {"content": "a\ufeffb"}, "finish_reason": "stop"}]},
        "[DONE]",
    ]
    final = await _streamed("openai", raw, encode_stream("openai", events), split=False)
    assert final.message.content == "a\ufeffb"
