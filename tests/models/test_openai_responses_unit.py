"""OpenAIResponsesProvider at the HTTP boundary, with synthetic events the recordings lack.

Covers reasoning carried across turns (and kept from other backends), the stateless request
shape, incomplete and failed responses, error events and early close.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest

from exo.errors import ModelError
from exo.models import get_provider
from exo.models._openai_responses_convert import input_items, is_reasoning_model
from exo.models.base import (
    ModelChunk,
    ModelRequest,
    ModelResponse,
    ModelSettings,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
)
from exo.models.openai_responses import OpenAIResponsesProvider
from exo.types import (
    AssistantMessage,
    DocumentBlock,
    ImageBlock,
    Message,
    ReasoningBlock,
    SystemMessage,
    TextBlock,
    ToolCall,
    ToolResult,
    UserMessage,
)

PATHS = pytest.mark.parametrize("raw", [True, False], ids=["raw", "sdk"])
KEY = "sk-unit-responses-77"
HELLO: list[Message] = [UserMessage(content="hello")]
USAGE = {
    "input_tokens": 20,
    "input_tokens_details": {"cached_tokens": 4},
    "output_tokens": 9,
    "output_tokens_details": {"reasoning_tokens": 5},
}


class Server:
    """A scripted HTTP boundary: answers in order and records every request body."""

    def __init__(self, *replies: httpx2.Response) -> None:
        self.replies = list(replies)
        self.bodies: list[dict[str, Any]] = []

    def _handle(self, request: httpx2.Request) -> httpx2.Response:
        self.bodies.append(json.loads(request.content))
        return self.replies.pop(0)

    def client(self) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(transport=httpx2.MockTransport(self._handle))


def response_json(output: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "id": "resp_unit",
        "object": "response",
        "model": "gpt-unit",
        "status": "completed",
        "output": output,
        "usage": USAGE,
        **extra,
    }


def events(*items: dict[str, Any]) -> bytes:
    return b"".join(
        b"event: " + i["type"].encode() + b"\ndata: " + json.dumps(i).encode() + b"\n\n"
        for i in items
    )


def sse(body: bytes | httpx2.AsyncByteStream) -> httpx2.Response:
    headers = {"content-type": "text/event-stream"}
    if isinstance(body, bytes):
        return httpx2.Response(200, headers=headers, content=body)
    return httpx2.Response(200, headers=headers, stream=body)


REASONING_ITEM = {
    "id": "rs_1",
    "type": "reasoning",
    "encrypted_content": "gAAA-opaque",
    "summary": [{"type": "summary_text", "text": "Multiply first."}],
}
MESSAGE_ITEM = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "content": [{"type": "output_text", "text": "6666", "annotations": []}],
}


def provider(server: Server, *, raw: bool = True, **options: Any) -> OpenAIResponsesProvider:
    return OpenAIResponsesProvider(
        "gpt-5", api_key=KEY, http_client=server.client(), raw=raw, **options
    )


async def stream_all(p: OpenAIResponsesProvider, messages: list[Message]) -> list[ModelChunk]:
    return [c async for c in p.stream(ModelRequest(messages=messages))]


# --------------------------------------------------------------------------- streams


@PATHS
async def test_reasoning_summary_text_and_calls_stream_then_carry_to_the_next_turn(
    raw: bool,
) -> None:
    call_item = {
        "id": "fc_1",
        "type": "function_call",
        "call_id": "call_1",
        "name": "calc",
        "arguments": "",
    }
    done_call = dict(call_item, arguments='{"x":1}', status="completed")
    body = events(
        {"type": "response.created", "response": response_json([], status="in_progress")},
        {"type": "response.output_item.added", "output_index": 0,
         "item": dict(REASONING_ITEM, summary=[])},
        {"type": "response.reasoning_summary_text.delta", "item_id": "rs_1", "delta": "Multiply"},
        {"type": "response.reasoning_summary_text.delta", "item_id": "rs_1", "delta": " first."},
        {"type": "response.output_item.done", "output_index": 0, "item": REASONING_ITEM},
        {"type": "response.output_item.added", "output_index": 1, "item": MESSAGE_ITEM},
        {"type": "response.output_text.delta", "item_id": "msg_1", "delta": "66"},
        {"type": "response.output_text.delta", "item_id": "msg_1", "delta": "66"},
        {"type": "response.output_item.added", "output_index": 2, "item": call_item},
        {"type": "response.function_call_arguments.delta", "item_id": "fc_1", "delta": '{"x"'},
        {"type": "response.function_call_arguments.delta", "item_id": "fc_1", "delta": ":1}"},
        {"type": "response.output_item.done", "output_index": 2, "item": done_call},
        {"type": "response.completed",
         "response": response_json([REASONING_ITEM, MESSAGE_ITEM, done_call])},
    )  # fmt: skip
    server = Server(sse(body), sse(events({"type": "response.completed", "response": response_json([MESSAGE_ITEM])})))  # fmt: skip  # noqa: E501
    p = provider(server, raw=raw)
    chunks = await stream_all(p, HELLO)
    assert [c for c in chunks if not isinstance(c, ModelResponse)] == [
        ReasoningDelta(text="Multiply"),
        ReasoningDelta(text=" first."),
        TextDelta(text="66"),
        TextDelta(text="66"),
        ToolCallDelta(index=0, id="call_1", name="calc", arguments=""),
        ToolCallDelta(index=0, arguments='{"x"'),
        ToolCallDelta(index=0, arguments=":1}"),
    ]
    final = chunks[-1]
    assert isinstance(final, ModelResponse)
    assert final.message == AssistantMessage(
        content="6666",
        tool_calls=[ToolCall(id="call_1", name="calc", arguments='{"x":1}')],
        reasoning=[
            ReasoningBlock(
                text="Multiply first.",
                encrypted="gAAA-opaque",
                id="rs_1",
                provider="openai-responses",
            )
        ],
    )
    assert final.finish_reason == "tool_calls"
    u = final.usage
    assert (u.input_tokens, u.output_tokens, u.cache_read_tokens, u.reasoning_tokens) == (
        20,
        9,
        4,
        5,
    )

    result = ToolResult(tool_call_id="call_1", tool_name="calc", content="6666")
    await stream_all(p, [*HELLO, final.message, result])
    assert server.bodies[1]["input"][1:] == [
        {"type": "reasoning", "summary": [{"type": "summary_text", "text": "Multiply first."}],
         "encrypted_content": "gAAA-opaque"},
        {"type": "message", "role": "assistant",
         "content": [{"type": "output_text", "text": "6666"}]},
        {"type": "function_call", "call_id": "call_1", "name": "calc", "arguments": '{"x":1}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "6666"},
    ]  # fmt: skip
    assert server.bodies[1]["include"] == ["reasoning.encrypted_content"]


@PATHS
async def test_an_incomplete_response_finishes_with_length(raw: bool) -> None:
    incomplete = response_json(
        [MESSAGE_ITEM], status="incomplete", incomplete_details={"reason": "max_output_tokens"}
    )
    server = Server(sse(events({"type": "response.incomplete", "response": incomplete})))
    final = (await stream_all(provider(server, raw=raw), HELLO))[-1]
    assert isinstance(final, ModelResponse)
    assert (final.message.content, final.finish_reason) == ("6666", "length")


@PATHS
async def test_a_failed_response_event_is_a_model_error(raw: bool) -> None:
    failed = response_json(
        [], status="failed", error={"code": "server_error", "message": "The model crashed"}
    )
    body = events(
        {"type": "response.output_text.delta", "item_id": "m", "delta": "par"},
        {"type": "response.failed", "response": failed},
    )
    seen: list[ModelChunk] = []
    with pytest.raises(ModelError) as caught:
        async for item in provider(Server(sse(body)), raw=raw).stream(ModelRequest(messages=HELLO)):
            seen.append(item)
    assert seen == [TextDelta(text="par")]
    assert "The model crashed" in caught.value.detail and caught.value.retryable


async def test_an_error_event_is_a_model_error() -> None:
    body = events({"type": "error", "code": "invalid_prompt", "message": "Bad prompt"})
    with pytest.raises(ModelError, match="Bad prompt") as caught:
        await stream_all(provider(Server(sse(body))), HELLO)
    assert not caught.value.retryable


async def test_a_stream_without_its_final_event_is_a_retryable_error() -> None:
    body = events({"type": "response.output_text.delta", "item_id": "m", "delta": "x"})
    with pytest.raises(ModelError, match="ended before") as caught:
        await stream_all(provider(Server(sse(body))), HELLO)
    assert caught.value.retryable


async def test_a_failed_response_without_streaming_is_a_model_error() -> None:
    failed = response_json([], status="failed", error={"code": "x", "message": "Nope"})
    server = Server(httpx2.Response(200, json=failed))
    with pytest.raises(ModelError, match="Nope"):
        await provider(server).complete(ModelRequest(messages=HELLO))


@PATHS
async def test_early_close_closes_the_http_response(raw: bool) -> None:
    class Hanging(httpx2.AsyncByteStream):
        closed = False

        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield events({"type": "response.output_text.delta", "item_id": "m", "delta": "hi"})
            await asyncio.Event().wait()

        async def aclose(self) -> None:
            self.closed = True

    body = Hanging()
    gen = provider(Server(sse(body)), raw=raw).stream(ModelRequest(messages=HELLO))
    assert await anext(gen) == TextDelta(text="hi")
    await gen.aclose()  # type: ignore[attr-defined]
    assert body.closed


# --------------------------------------------------------------------------- requests


async def test_request_shape_is_stateless_and_keeps_system_messages_in_place() -> None:
    server = Server(httpx2.Response(200, json=response_json([MESSAGE_ITEM])))
    p = OpenAIResponsesProvider("gpt-4o", api_key=KEY, http_client=server.client())
    messages: list[Message] = [
        SystemMessage(content="Be brief."),
        *HELLO,
        AssistantMessage(content="Hi."),
        SystemMessage(content="Plan: answer."),
        UserMessage(content="go"),
    ]
    settings = ModelSettings(temperature=0.5, max_tokens=64)
    response = await p.complete(ModelRequest(messages=messages, settings=settings))
    assert response.message.content == "6666" and response.finish_reason == "stop"
    body = server.bodies[0]
    assert body["store"] is False and "include" not in body and "instructions" not in body
    assert (body["temperature"], body["max_output_tokens"]) == (0.5, 64)
    roles = [i.get("role") for i in body["input"]]
    assert roles == ["developer", "user", "assistant", "developer", "user"]


def test_reasoning_only_goes_back_to_this_backend_with_its_encrypted_content() -> None:
    message = AssistantMessage(
        content="ok",
        reasoning=[
            ReasoningBlock(text="thought", signature="sig", provider="anthropic"),
            ReasoningBlock(text="no blob", id="rs_x", provider="openai-responses"),
            ReasoningBlock(encrypted="blob", id="rs_y", provider="openai-responses"),
        ],
    )
    items = input_items([message])
    assert items[0] == {"type": "reasoning", "summary": [], "encrypted_content": "blob"}
    assert [i["type"] for i in items] == ["reasoning", "message"]


def test_content_blocks_and_tool_media_become_input_parts() -> None:
    items = input_items(
        [
            UserMessage(
                content=[
                    ImageBlock(data="iVBOR", media_type="image/jpeg"),
                    DocumentBlock(url="https://example.com/a.pdf"),
                    DocumentBlock(data="JVBER", title="b.pdf"),
                ]
            ),
            ToolResult(tool_call_id="c1", tool_name="shot", content=[TextBlock(text="see"),
                       ImageBlock(url="https://x/y.png", detail="low")]),
            ToolResult(tool_call_id="c2", tool_name="ls", content=[TextBlock(text="a"),
                       TextBlock(text="b")]),
        ]
    )  # fmt: skip
    assert items[0]["content"] == [
        {"type": "input_image", "image_url": "data:image/jpeg;base64,iVBOR", "detail": "auto"},
        {"type": "input_file", "file_url": "https://example.com/a.pdf"},
        {"type": "input_file", "filename": "b.pdf",
         "file_data": "data:application/pdf;base64,JVBER"},
    ]  # fmt: skip
    assert items[1]["output"] == [
        {"type": "input_text", "text": "see"},
        {"type": "input_image", "image_url": "https://x/y.png", "detail": "low"},
    ]
    assert items[2]["output"] == "ab"


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-5", True),
        ("gpt-5-mini", True),
        ("o3-mini", True),
        ("o4-mini", True),
        ("codex-mini-latest", True),
        ("gpt-5-chat-latest", False),
        ("gpt-4o", False),
        ("gpt-4.1", False),
    ],
)
def test_which_models_get_encrypted_reasoning(model: str, expected: bool) -> None:
    assert is_reasoning_model(model) is expected


async def test_encrypted_reasoning_can_be_forced_either_way() -> None:
    replies = [httpx2.Response(200, json=response_json([MESSAGE_ITEM])) for _ in range(2)]
    server = Server(*replies)
    on = OpenAIResponsesProvider(
        "gpt-4o", api_key=KEY, http_client=server.client(), encrypted_reasoning=True
    )
    await on.complete(ModelRequest(messages=HELLO))
    off = OpenAIResponsesProvider(
        "gpt-5", api_key=KEY, http_client=server.client(), encrypted_reasoning=False
    )
    await off.complete(ModelRequest(messages=HELLO))
    assert server.bodies[0]["include"] == ["reasoning.encrypted_content"]
    assert "include" not in server.bodies[1]


async def test_registry_builds_it_and_a_missing_key_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ModelError, match="OPENAI_API_KEY"):
        get_provider("openai-responses:gpt-5", cached=False)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    p = get_provider("openai-responses:gpt-5", cached=False)
    assert isinstance(p, OpenAIResponsesProvider)
    assert (p.backend, p.model) == ("openai-responses", "gpt-5")
    assert KEY not in repr(p)
    twin = p.with_model("o3")
    assert twin.client is p.client and twin.model == "o3"
    await p.aclose()
