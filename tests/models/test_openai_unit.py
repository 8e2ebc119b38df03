"""OpenAIProvider (Chat Completions) and the compat presets at the HTTP boundary.

Synthetic responses (labelled as such: no recording has them) cover what the cassettes do
not: interleaved parallel tool-call deltas, ``length`` / ``content_filter`` finishes, rate
limits and server errors, malformed and truncated streams, early close and cancellation.
"""

from __future__ import annotations

import asyncio
import gc
import json
import traceback
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

from exo.errors import ConfigError, ModelError
from exo.models import get_provider
from exo.models._openai_common import PLACEHOLDER_KEY, parse_retry_after
from exo.models._openai_sse import SSEDecoder
from exo.models.base import (
    ModelChunk,
    ModelRequest,
    ModelResponse,
    ModelSettings,
    Provider,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    ToolSpec,
)
from exo.models.openai import PRESETS, OpenAIProvider, openai_provider, preset_provider
from exo.types import (
    AssistantMessage,
    DocumentBlock,
    ImageBlock,
    Message,
    SystemMessage,
    TextBlock,
    ToolCall,
    ToolResult,
    UserMessage,
)

PATHS = pytest.mark.parametrize("raw", [True, False], ids=["raw", "sdk"])
KEY = "sk-unit-5e4d3c2b1a"
HELLO: list[Message] = [UserMessage(content="hello")]

# --------------------------------------------------------------------------- the boundary

Reply = httpx2.Response | Callable[[httpx2.Request], httpx2.Response] | Exception


class Server:
    """A scripted HTTP boundary: answers in order and records every request."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.requests: list[httpx2.Request] = []

    def _handle(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply(request) if callable(reply) else reply

    def client(self) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(transport=httpx2.MockTransport(self._handle))

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests]


class RecordingStream(httpx2.AsyncByteStream):
    """A response body that records whether it was closed; may hang after its chunks."""

    def __init__(self, chunks: list[bytes], *, hang: bool = False) -> None:
        self.chunks = chunks
        self.hang = hang
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk
        if self.hang:
            await asyncio.Event().wait()

    async def aclose(self) -> None:
        self.closed = True


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> bytes:
    """One synthetic ``chat.completion.chunk`` SSE event."""
    body = {
        "id": "chatcmpl-unit",
        "object": "chat.completion.chunk",
        "model": "gpt-unit",
        "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish}],
        **extra,
    }
    return b"data: " + json.dumps(body).encode() + b"\n\n"


USAGE_CHUNK = (
    b'data: {"id":"chatcmpl-unit","choices":[],"usage":{"prompt_tokens":11,'
    b'"completion_tokens":7,"prompt_tokens_details":{"cached_tokens":3},'
    b'"completion_tokens_details":{"reasoning_tokens":2}}}\n\n'
)
DONE = b"data: [DONE]\n\n"


def sse(*events: bytes, stream: httpx2.AsyncByteStream | None = None) -> httpx2.Response:
    headers = {"content-type": "text/event-stream"}
    if stream is not None:
        return httpx2.Response(200, headers=headers, stream=stream)
    return httpx2.Response(200, headers=headers, content=b"".join(events))


def completion(message: dict[str, Any], finish: str = "stop") -> httpx2.Response:
    return httpx2.Response(
        200,
        json={
            "id": "chatcmpl-unit",
            "model": "gpt-unit",
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 2},
        },
    )


def error(
    status: int, message: str = "boom", headers: dict[str, str] | None = None, **body: Any
) -> httpx2.Response:
    return httpx2.Response(
        status, headers=headers or {}, json={"error": {"message": message, **body}}
    )


def provider(server: Server, *, raw: bool = True, **options: Any) -> OpenAIProvider:
    return OpenAIProvider("gpt-unit", api_key=KEY, http_client=server.client(), raw=raw, **options)


async def stream_all(p: OpenAIProvider, messages: list[Message], **kw: Any) -> list[ModelChunk]:
    return [c async for c in p.stream(ModelRequest(messages=messages, **kw))]


# --------------------------------------------------------------------------- streaming


@PATHS
async def test_interleaved_parallel_tool_call_deltas_assemble_by_index(raw: bool) -> None:
    # synthetic: two calls whose pieces alternate, the second call's id arriving first
    server = Server(
        sse(
            chunk({"role": "assistant", "content": None}),
            chunk({"tool_calls": [{"index": 1, "id": "call_b", "type": "function",
                                   "function": {"name": "lookup", "arguments": ""}}]}),
            chunk({"tool_calls": [{"index": 0, "id": "call_a", "type": "function",
                                   "function": {"name": "search", "arguments": '{"q":'}}]}),
            chunk({"tool_calls": [{"index": 1, "function": {"arguments": '{"id": 7'}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": ' "cats"}'}}]}),
            chunk({"tool_calls": [{"index": 1, "function": {"arguments": "}"}}]}),
            chunk(finish="tool_calls"),
            USAGE_CHUNK,
            DONE,
        )
    )  # fmt: skip
    chunks = await stream_all(provider(server, raw=raw), HELLO)
    final = chunks[-1]
    assert isinstance(final, ModelResponse)
    assert final.message.tool_calls == [
        ToolCall(id="call_a", name="search", arguments='{"q": "cats"}'),
        ToolCall(id="call_b", name="lookup", arguments='{"id": 7}'),
    ]
    assert final.finish_reason == "tool_calls"
    deltas = [c for c in chunks if isinstance(c, ToolCallDelta)]
    assert [(d.index, d.id, d.arguments) for d in deltas] == [
        (1, "call_b", ""),
        (0, "call_a", '{"q":'),
        (1, None, '{"id": 7'),
        (0, None, ' "cats"}'),
        (1, None, "}"),
    ]
    usage = final.usage
    assert (usage.requests, usage.input_tokens, usage.output_tokens) == (1, 11, 7)
    assert (usage.cache_read_tokens, usage.reasoning_tokens) == (3, 2)


@PATHS
@pytest.mark.parametrize("finish", ["length", "content_filter"])
async def test_length_and_content_filter_finishes(raw: bool, finish: str) -> None:
    server = Server(sse(chunk({"content": "Once upon a"}), chunk(finish=finish), DONE))
    chunks = await stream_all(provider(server, raw=raw), HELLO)
    final = chunks[-1]
    assert isinstance(final, ModelResponse)
    assert (final.message.content, final.finish_reason) == ("Once upon a", finish)
    assert [c for c in chunks if isinstance(c, TextDelta)] == [TextDelta(text="Once upon a")]


@PATHS
async def test_length_finish_without_streaming(raw: bool) -> None:
    server = Server(completion({"role": "assistant", "content": "Once upon"}, finish="length"))
    final = await provider(server, raw=raw).complete(ModelRequest(messages=HELLO))
    assert (final.message.content, final.finish_reason) == ("Once upon", "length")
    assert (final.usage.input_tokens, final.usage.output_tokens) == (5, 2)


@PATHS
async def test_compat_server_reasoning_is_streamed_and_kept_but_never_sent_back(raw: bool) -> None:
    # synthetic: DeepSeek-style reasoning_content beside the content
    server = Server(
        sse(
            chunk({"reasoning_content": "Think"}),
            chunk({"reasoning_content": "ing."}),
            chunk({"content": "42"}),
            chunk(finish="stop"),
            DONE,
        ),
        completion({"role": "assistant", "content": "ok"}),
    )
    p = preset_provider(
        "deepseek", "deepseek-reasoner", api_key=KEY, http_client=server.client(), raw=raw
    )
    chunks = await stream_all(p, HELLO)
    assert [c.text for c in chunks if isinstance(c, ReasoningDelta)] == ["Think", "ing."]
    final = chunks[-1]
    assert isinstance(final, ModelResponse)
    assert [(r.text, r.provider) for r in final.message.reasoning] == [("Thinking.", "deepseek")]
    await p.complete(ModelRequest(messages=[*HELLO, final.message, UserMessage(content="more")]))
    assert server.bodies[1]["messages"][1] == {"role": "assistant", "content": "42"}


async def test_compat_server_without_call_ids_or_indexes_still_gives_distinct_calls() -> None:
    # synthetic: a server that leaves out the index and the id of its tool calls
    server = Server(
        sse(
            chunk({"tool_calls": [{"function": {"name": "a", "arguments": "{}"}}]}),
            chunk({"tool_calls": [{"function": {"name": "b", "arguments": "{}"}}]}),
            chunk(finish="stop"),
            DONE,
        )
    )
    final = (await stream_all(provider(server), HELLO))[-1]
    assert isinstance(final, ModelResponse)
    calls = final.message.tool_calls
    assert [c.name for c in calls] == ["a", "b"]
    assert len({c.id for c in calls}) == 2 and all(c.id.startswith("call_") for c in calls)
    assert final.finish_reason == "tool_calls"


async def test_a_server_that_ignores_stream_true_still_streams_one_piece() -> None:
    server = Server(
        completion(
            {
                "role": "assistant",
                "content": "Hi",
                "tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": "{}"}}],
            },
            finish="tool_calls",
        )
    )
    chunks = await stream_all(provider(server), HELLO)
    assert chunks[:2] == [
        TextDelta(text="Hi"),
        ToolCallDelta(index=0, id="c1", name="f", arguments="{}"),
    ]
    assert isinstance(chunks[-1], ModelResponse) and chunks[-1].finish_reason == "tool_calls"


# --------------------------------------------------------------------------- closing


@PATHS
async def test_early_close_of_the_stream_closes_the_http_response(raw: bool) -> None:
    body = RecordingStream([chunk({"content": "one"}), chunk({"content": "two"})], hang=True)
    server = Server(sse(stream=body))
    gen = provider(server, raw=raw).stream(ModelRequest(messages=HELLO))
    assert isinstance(gen, AsyncIterator)
    first = await anext(gen)
    assert first == TextDelta(text="one")
    assert not body.closed
    await gen.aclose()  # type: ignore[attr-defined]
    assert body.closed


@PATHS
async def test_cancelling_a_stream_closes_the_http_response(raw: bool) -> None:
    body = RecordingStream([chunk({"content": "one"})], hang=True)
    server = Server(sse(stream=body))
    started = asyncio.Event()

    async def consume() -> None:
        async for _ in provider(server, raw=raw).stream(ModelRequest(messages=HELLO)):
            started.set()

    task = asyncio.create_task(consume())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert body.closed


@PATHS
async def test_leaving_a_stream_closes_every_generator_it_opened(raw: bool) -> None:
    import sys

    import exo

    body = RecordingStream([chunk({"content": "one"}), chunk({"content": "two"})], hang=True)
    gen = provider(Server(sse(stream=body)), raw=raw).stream(ModelRequest(messages=HELLO))
    hooks = sys.get_asyncgen_hooks()
    left_to_gc: list[str] = []

    def finalizer(agen: Any) -> None:  # called only for generators nobody closed
        if agen.ag_code.co_filename.startswith(str(Path(exo.__file__).parent)):
            left_to_gc.append(agen.ag_code.co_qualname)
        assert hooks.finalizer is not None
        hooks.finalizer(agen)

    sys.set_asyncgen_hooks(firstiter=hooks.firstiter, finalizer=finalizer)
    try:
        assert await anext(gen) == TextDelta(text="one")
        await gen.aclose()  # type: ignore[attr-defined]
        del gen
        gc.collect()
    finally:
        sys.set_asyncgen_hooks(*hooks)
    assert body.closed and left_to_gc == []


async def test_a_finished_stream_closes_its_response() -> None:
    body = RecordingStream([chunk({"content": "x"}), chunk(finish="stop"), DONE])
    await stream_all(provider(Server(sse(stream=body))), HELLO)
    assert body.closed


# --------------------------------------------------------------------------- stream errors


@PATHS
async def test_an_error_event_after_text_is_a_model_error(raw: bool) -> None:
    # synthetic: no recording has a mid-stream error
    error_event = (
        b'data: {"error": {"message": "The server had an error", "type": "server_error"}}\n\n'
    )
    server = Server(sse(chunk({"content": "partial"}), error_event))
    seen: list[ModelChunk] = []
    with pytest.raises(ModelError) as caught:
        async for item in provider(server, raw=raw).stream(ModelRequest(messages=HELLO)):
            seen.append(item)
    assert seen == [TextDelta(text="partial")]
    assert "The server had an error" in caught.value.detail
    assert caught.value.retryable


async def test_a_web_page_instead_of_a_stream_points_at_the_base_url() -> None:
    page = httpx2.Response(200, headers={"content-type": "text/html"}, text="<html>hi</html>")
    with pytest.raises(ModelError, match="web page") as caught:
        await stream_all(provider(Server(page)), HELLO)
    assert not caught.value.retryable
    assert caught.value.hint is not None and "base URL" in caught.value.hint


async def test_a_malformed_sse_line_is_a_model_error_that_says_so() -> None:
    server = Server(sse(chunk({"content": "a"}), b"data: {not json\n\n", DONE))
    with pytest.raises(ModelError, match="malformed"):
        await stream_all(provider(server), HELLO)


@PATHS
async def test_a_stream_cut_before_its_end_is_a_retryable_model_error(raw: bool) -> None:
    server = Server(sse(chunk({"content": "a"})))
    with pytest.raises(ModelError, match="ended before") as caught:
        await stream_all(provider(server, raw=raw), HELLO)
    assert caught.value.retryable


async def test_a_transport_failure_mid_stream_is_retryable() -> None:
    class Broken(httpx2.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield chunk({"content": "a"})
            raise httpx2.ReadError("connection reset")

    server = Server(sse(stream=Broken()))
    with pytest.raises(ModelError) as caught:
        await stream_all(provider(server), HELLO)
    assert caught.value.retryable and caught.value.status is None


# --------------------------------------------------------------------------- HTTP errors


@PATHS
@pytest.mark.parametrize(
    ("status", "headers", "retryable", "retry_after"),
    [
        (429, {"retry-after-ms": "1500"}, True, 1.5),
        (429, {"retry-after": "7"}, True, 7.0),
        (408, {}, True, None),
        (409, {}, True, None),
        (500, {}, True, None),
        (503, {"retry-after": "2"}, True, 2.0),
        (529, {}, True, None),
        (500, {"x-should-retry": "false"}, False, None),
        (400, {}, False, None),
        (404, {}, False, None),
    ],
)
async def test_http_errors_map_to_model_errors(
    raw: bool, status: int, headers: dict[str, str], retryable: bool, retry_after: float | None
) -> None:
    server = Server(error(status, "Rate limit reached for gpt-unit", headers, type="x"))
    with pytest.raises(ModelError) as caught:
        await provider(server, raw=raw).complete(ModelRequest(messages=HELLO))
    err = caught.value
    assert (err.status, err.retryable, err.retry_after) == (status, retryable, retry_after)
    assert "Rate limit reached for gpt-unit" in err.detail
    assert (err.backend, err.model) == ("openai", "gpt-unit")


async def test_out_of_quota_is_not_retryable() -> None:
    server = Server(error(429, "You exceeded your current quota", code="insufficient_quota"))
    with pytest.raises(ModelError) as caught:
        await provider(server).complete(ModelRequest(messages=HELLO))
    assert not caught.value.retryable
    assert caught.value.hint is not None and "quota" in caught.value.hint


async def test_a_non_json_error_body_is_quoted() -> None:
    server = Server(httpx2.Response(502, text="<html>Bad gateway</html>"))
    with pytest.raises(ModelError, match="Bad gateway") as caught:
        await provider(server).complete(ModelRequest(messages=HELLO))
    assert (caught.value.status, caught.value.retryable) == (502, True)


@PATHS
@pytest.mark.parametrize(
    "exc", [httpx2.ConnectError("refused"), httpx2.ReadTimeout("slow")], ids=["connect", "timeout"]
)
async def test_connection_errors_and_timeouts_are_retryable(raw: bool, exc: Exception) -> None:
    with pytest.raises(ModelError) as caught:
        await stream_all(provider(Server(exc), raw=raw), HELLO)
    assert (caught.value.status, caught.value.retryable) == (None, True)


async def test_a_401_names_the_presets_key_variable_and_never_shows_the_key() -> None:
    server = Server(error(401, f"Incorrect API key provided: {KEY}"))
    p = preset_provider("groq", "llama-3.3-70b", api_key=KEY, http_client=server.client())
    with pytest.raises(ModelError) as caught:
        await p.complete(ModelRequest(messages=HELLO))
    assert caught.value.hint is not None and "GROQ_API_KEY" in caught.value.hint
    assert KEY not in str(caught.value)
    assert caught.value.backend == "groq"


@PATHS
@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
async def test_a_key_the_server_echoes_is_not_reachable_from_the_error(
    raw: bool, stream: bool
) -> None:
    server = Server(error(401, f"Incorrect API key provided: {KEY}"))
    p = provider(server, raw=raw)
    with pytest.raises(ModelError) as caught:
        if stream:
            await stream_all(p, HELLO)
        else:
            await p.complete(ModelRequest(messages=HELLO))
    chain: list[BaseException] = []
    todo: list[BaseException | None] = [caught.value]
    while todo:
        current = todo.pop()
        if current is not None and current not in chain:
            chain.append(current)
            todo += [current.__cause__, current.__context__]
    assert chain == [caught.value]  # the SDK's exception, which quotes the key, is dropped
    assert KEY not in "".join(traceback.format_exception(caught.value))
    assert KEY not in repr(vars(caught.value))


async def test_a_cause_without_the_key_stays_chained() -> None:
    with pytest.raises(ModelError) as caught:
        await provider(Server(error(500, "overloaded"))).complete(ModelRequest(messages=HELLO))
    assert isinstance(caught.value.__cause__, openai.InternalServerError)


def test_retry_after_parses_seconds_milliseconds_and_http_dates() -> None:
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    parsed = parse_retry_after({"retry-after": later})
    assert parsed is not None and 25 < parsed <= 30
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


# --------------------------------------------------------------------------- requests


async def test_request_carries_settings_tools_and_extra_body() -> None:
    server = Server(completion({"role": "assistant", "content": "ok"}))
    p = provider(server, extra_body={"seed": 7})
    tool = ToolSpec(name="f", description="does f", parameters={"type": "object"})
    settings = ModelSettings(temperature=0.2, max_tokens=99)
    await p.complete(ModelRequest(messages=HELLO, tools=[tool], settings=settings))
    body = server.bodies[0]
    assert body["temperature"] == 0.2 and body["max_completion_tokens"] == 99
    assert "max_tokens" not in body and "stream" not in body and body["seed"] == 7
    assert body["tools"] == [
        {
            "type": "function",
            "function": {"name": "f", "description": "does f", "parameters": {"type": "object"}},
        }
    ]


async def test_content_blocks_become_parts() -> None:
    server = Server(completion({"role": "assistant", "content": "ok"}))
    blocks = [
        TextBlock(text="look"),
        ImageBlock(data="iVBOR", media_type="image/png", detail="high"),
        DocumentBlock(data="JVBER", title="spec.pdf"),
    ]
    await provider(server).complete(ModelRequest(messages=[UserMessage(content=blocks)]))
    assert server.bodies[0]["messages"][0]["content"] == [
        {"type": "text", "text": "look"},
        {
            "type": "image_url",
            "image_url": {"url": "data:image/png;base64,iVBOR", "detail": "high"},
        },
        {"type": "file", "file": {"filename": "spec.pdf",
                                  "file_data": "data:application/pdf;base64,JVBER"}},
    ]  # fmt: skip


@pytest.mark.parametrize("where", ["user", "tool"])
async def test_a_document_by_url_is_refused_before_any_request(where: str) -> None:
    server = Server()
    doc = DocumentBlock(url="https://example.com/a.pdf")
    messages: list[Message] = [UserMessage(content=[TextBlock(text="read"), doc])]
    if where == "tool":
        messages = [
            *HELLO,
            AssistantMessage(tool_calls=[ToolCall(id="c1", name="fetch")]),
            ToolResult(tool_call_id="c1", tool_name="fetch", content=[doc]),
        ]
    with pytest.raises(ModelError) as caught:
        await provider(server).complete(ModelRequest(messages=messages))
    assert "DocumentBlock" in caught.value.detail and caught.value.backend == "openai"
    assert server.requests == []


async def test_tool_media_follows_the_last_tool_result_of_the_turn() -> None:
    server = Server(completion({"role": "assistant", "content": "ok"}))
    calls = [ToolCall(id="c1", name="shot", arguments="{}"), ToolCall(id="c2", name="ls")]
    messages: list[Message] = [
        SystemMessage(content="be brief"),
        *HELLO,
        AssistantMessage(content="", tool_calls=calls),
        ToolResult(
            tool_call_id="c1", tool_name="shot", content=[ImageBlock(url="https://x/y.png")]
        ),
        ToolResult(tool_call_id="c2", tool_name="ls", content=[TextBlock(text="a.txt")]),
        SystemMessage(content="plan: answer"),
    ]
    await provider(server).complete(ModelRequest(messages=messages))
    sent = server.bodies[0]["messages"]
    assert [m["role"] for m in sent] == [
        "system",
        "user",
        "assistant",
        "tool",
        "tool",
        "user",
        "system",
    ]
    assert sent[2] == {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "shot", "arguments": "{}"}},
            {"id": "c2", "type": "function", "function": {"name": "ls", "arguments": "{}"}},
        ],
    }
    assert sent[3]["tool_call_id"] == "c1" and sent[3]["content"]  # never empty
    assert sent[4] == {"role": "tool", "tool_call_id": "c2", "content": "a.txt"}
    assert sent[5]["content"][1] == {"type": "image_url", "image_url": {"url": "https://x/y.png"}}
    assert "c1" in sent[5]["content"][0]["text"]


# --------------------------------------------------------------------------- configuration


def test_a_missing_key_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ModelError, match="OPENAI_API_KEY") as caught:
        openai_provider("gpt-4o")
    assert caught.value.hint is not None and "OPENAI_API_KEY" in caught.value.hint
    monkeypatch.delenv("TOGETHER_API_KEY", raising=False)
    with pytest.raises(ModelError, match="TOGETHER_API_KEY"):
        preset_provider("together", "meta-llama/Llama-3-70b")


def test_providers_satisfy_the_protocol() -> None:
    p = OpenAIProvider("gpt-4o", api_key=KEY, http_client=Server().client())
    assert isinstance(p, Provider)
    assert isinstance(preset_provider("vllm", "m", http_client=Server().client()), Provider)


async def test_openai_env_vars_are_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    p = openai_provider("gpt-4o")
    try:
        assert p.base_url == "http://127.0.0.1:9/v1/"
        assert p.client.api_key == KEY
        assert KEY not in repr(p) and "gpt-4o" in repr(p)
        assert p.client.max_retries == 0
        assert isinstance(p, OpenAIProvider) and p.raw
    finally:
        await p.aclose()


async def test_the_default_http_client_is_the_sdks_aiohttp_one() -> None:
    p = openai_provider("gpt-4o", api_key=KEY)
    try:
        assert isinstance(p.client._client, openai.DefaultAioHttpClient)
    finally:
        await p.aclose()


@pytest.mark.parametrize("name", sorted(PRESETS))
async def test_presets_read_their_own_variables(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    info = PRESETS[name]
    default_url, key_env, required = info.default_base_url, info.env_vars[0], info.needs_key
    assert default_url is not None
    prefix = name.upper()
    assert key_env == f"{prefix}_API_KEY"
    monkeypatch.delenv(f"{prefix}_BASE_URL", raising=False)
    monkeypatch.delenv(key_env, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-leak-to-other-servers")
    if required:
        with pytest.raises(ModelError, match=key_env):
            get_provider(f"{name}:m", cached=False)
    monkeypatch.setenv(key_env, "preset-key")
    p = get_provider(f"{name}:some-model", cached=False)
    assert isinstance(p, OpenAIProvider)
    assert (p.backend, p.model, p.base_url) == (name, "some-model", default_url + "/")
    assert p.client.api_key == "preset-key" and p.max_tokens_param == "max_tokens"
    await p.aclose()
    monkeypatch.setenv(f"{prefix}_BASE_URL", "http://127.0.0.1:7/v9")
    monkeypatch.delenv(key_env)
    if not required:
        p = get_provider(f"{name}:m", cached=False)
        assert isinstance(p, OpenAIProvider)
        assert p.base_url == "http://127.0.0.1:7/v9/"
        assert p.client.api_key == PLACEHOLDER_KEY
        await p.aclose()


async def test_a_keyless_preset_sends_the_placeholder_and_max_tokens() -> None:
    server = Server(completion({"role": "assistant", "content": "hi"}))
    p = preset_provider("ollama", "llama3.2", http_client=server.client())
    settings = ModelSettings(max_tokens=10)
    response = await p.complete(ModelRequest(messages=HELLO, settings=settings))
    assert response.message.content == "hi"
    request = server.requests[0]
    assert str(request.url) == "http://localhost:11434/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {PLACEHOLDER_KEY}"
    assert server.bodies[0]["max_tokens"] == 10 and "max_completion_tokens" not in server.bodies[0]


async def test_with_model_shares_the_client_and_settings() -> None:
    server = Server(*(completion({"role": "assistant", "content": "ok"}) for _ in range(2)))
    p = provider(server, extra_body={"seed": 1})
    twin = p.with_model("gpt-other")
    assert twin is not p and twin.client is p.client
    assert (twin.backend, twin.model, twin.extra_body) == ("openai", "gpt-other", {"seed": 1})
    await p.complete(ModelRequest(messages=HELLO))
    await twin.complete(ModelRequest(messages=HELLO))
    assert [b["model"] for b in server.bodies] == ["gpt-unit", "gpt-other"]
    await twin.aclose()
    assert p.client.is_closed()


async def test_a_given_client_is_used_without_retries_and_left_open() -> None:
    server = Server(completion({"role": "assistant", "content": "ok"}))
    sdk = openai.AsyncOpenAI(api_key=KEY, http_client=server.client(), max_retries=5)
    p = OpenAIProvider("gpt-unit", client=sdk)
    assert p.client.max_retries == 0
    await p.complete(ModelRequest(messages=HELLO))
    await p.aclose()
    assert not sdk.is_closed()
    with pytest.raises(ConfigError, match="api_key"):
        OpenAIProvider("gpt-unit", client=sdk, api_key=KEY)
    await sdk.close()


# --------------------------------------------------------------------------- SSE decoding


def test_sse_decoder_handles_split_line_ends_comments_and_multiline_data() -> None:
    decoder = SSEDecoder()
    pieces = [b": keep-alive\r", b"\nevent: a\r\ndata: {\"x\"", b":1}\r", b"\n\r\n",
              b"data: line1\ndata: line2\n\n", b"data:no-space\r\rdata: tail"]  # fmt: skip
    events = [e for piece in pieces for e in decoder.feed(piece)] + decoder.close()
    assert events == [
        ("a", b'{"x":1}'),
        (None, b"line1\nline2"),
        (None, b"no-space"),
        (None, b"tail"),
    ]


def test_sse_decoder_one_byte_at_a_time() -> None:
    raw = chunk({"content": "é"}) + DONE
    decoder = SSEDecoder()
    events = [e for i in range(len(raw)) for e in decoder.feed(raw[i : i + 1])] + decoder.close()
    assert [data for _, data in events] == [raw[6:-16], b"[DONE]"]


# --------------------------------------------------------------------------- a real socket


async def test_the_default_aiohttp_client_against_a_local_server() -> None:
    from aiohttp import web

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        if not body.get("stream"):
            return web.json_response(
                {"id": "c", "model": body["model"], "usage": None,
                 "choices": [{"index": 0, "message": {"content": "plain"},
                              "finish_reason": "stop"}]}
            )  # fmt: skip
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        for piece in (
            chunk({"content": "stre"}),
            chunk({"content": "amed"}),
            chunk(finish="stop"),
            DONE,
        ):
            await response.write(piece)
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    p = preset_provider("vllm", "m", base_url=f"http://127.0.0.1:{port}/v1")
    try:
        assert (await p.complete(ModelRequest(messages=HELLO))).message.content == "plain"
        for _ in range(3):  # the connection goes back to the pool after [DONE]
            chunks = await stream_all(p, HELLO)
            final = chunks[-1]
            assert isinstance(final, ModelResponse) and final.message.content == "streamed"
    finally:
        await p.aclose()
        await runner.cleanup()


@pytest.mark.parametrize(
    ("base_url", "fields"),
    [
        ("https://api.openai.com/v1", {"max_completion_tokens"}),
        ("https://my-res.openai.azure.com/openai/v1", {"max_completion_tokens"}),
        ("http://127.0.0.1:8080/v1", {"max_completion_tokens", "max_tokens"}),
        ("https://gateway.example/v1", {"max_completion_tokens", "max_tokens"}),
    ],
)
async def test_max_tokens_goes_where_the_server_reads_it(base_url: str, fields: set[str]) -> None:
    """OpenAI (and Azure) reject max_tokens on reasoning models; other servers often read
    only max_tokens, so they get both fields."""
    server = Server(completion({"role": "assistant", "content": "hi"}))
    p = OpenAIProvider("m", api_key=KEY, base_url=base_url, http_client=server.client())
    await p.complete(ModelRequest(messages=HELLO, settings=ModelSettings(max_tokens=7)))
    body = server.bodies[0]
    assert {k for k in body if "max" in k} == fields and all(body[k] == 7 for k in fields)
    await p.aclose()
