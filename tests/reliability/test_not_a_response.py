"""A 200 whose JSON body is not a response of the protocol at all is a ModelError.

Found by the outside test (synthetic bodies, the shapes a misconfigured proxy or a wrong base
URL sends): the Responses and Anthropic backends read a body with no ``output`` / ``content``
list (``{}``, ``{"id": "x"}``, an error object sent with status 200, as OpenRouter-style
gateways do) as an empty successful answer, and Chat Completions dropped the error's own
message. Every such body must be a non-retryable ModelError on both request paths, naming
the server's error message when it sent one.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from exo.errors import ModelError
from exo.models.base import ModelRequest
from exo.types import UserMessage
from reliability.fuzzwire import Boundary, build

PATHS = pytest.mark.parametrize("raw", [True, False], ids=["raw", "sdk"])
PROTOCOLS = pytest.mark.parametrize("protocol", ["openai", "openai-responses", "anthropic"])
REQUEST = ModelRequest(messages=[UserMessage(content="hi")])
NOT_RESPONSES = [
    {},
    {"id": "x", "object": "response"},
    {"status": "completed"},
    {"type": "message", "role": "assistant"},
    {"output": "text", "content": "text", "choices": "text"},
    {"output": None, "content": None, "choices": None},
]


async def error_for(protocol: str, raw: bool, doc: Any) -> ModelError:
    provider = build(protocol, raw, Boundary(json.dumps(doc).encode()))
    with pytest.raises(ModelError) as caught:
        await provider.complete(REQUEST)
    return caught.value


@PATHS
@PROTOCOLS
@pytest.mark.parametrize("doc", NOT_RESPONSES, ids=range(len(NOT_RESPONSES)))
async def test_a_body_that_is_not_a_response_is_a_non_retryable_model_error(
    protocol: str, raw: bool, doc: Any
) -> None:
    error = await error_for(protocol, raw, doc)
    assert not error.retryable
    assert "malformed response" in error.detail


@PATHS
@PROTOCOLS
async def test_an_error_object_sent_with_status_200_is_a_model_error_with_its_message(
    protocol: str, raw: bool
) -> None:
    doc = {"error": {"message": "upstream provider quota exhausted", "code": 402}}
    error = await error_for(protocol, raw, doc)
    assert "upstream provider quota exhausted" in error.detail


@PATHS
@pytest.mark.parametrize(
    ("protocol", "doc"),
    [
        ("openai-responses", {"id": "r", "status": "completed", "output": []}),
        ("anthropic", {"id": "m", "type": "message", "content": [], "stop_reason": "end_turn"}),
    ],
    ids=["responses", "anthropic"],
)
async def test_an_empty_but_well_formed_answer_is_still_a_result(
    protocol: str, raw: bool, doc: Any
) -> None:
    provider = build(protocol, raw, Boundary(json.dumps(doc).encode()))
    response = await provider.complete(REQUEST)
    assert response.message.content == "" and response.finish_reason == "stop"


@PATHS
@PROTOCOLS
async def test_a_web_page_answering_a_stream_is_a_non_retryable_error_naming_the_url(
    protocol: str, raw: bool
) -> None:
    """A wrong base URL serves the site's page: every backend says so and does not retry
    (Anthropic read the page as events and retried "the stream ended before message_stop")."""
    page = b"<!doctype html><html><body><h1>Welcome</h1></body></html>"
    provider = build(protocol, raw, Boundary(page, "text/html; charset=utf-8"))
    with pytest.raises(ModelError) as caught:
        _ = [chunk async for chunk in provider.stream(REQUEST)]
    assert not caught.value.retryable
    assert "web page" in caught.value.detail and "base URL" in (caught.value.hint or "")
