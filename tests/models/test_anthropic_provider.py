"""AnthropicProvider itself: configuration, credentials, client sharing, error mapping.

HTTP replies here are synthetic fixtures in the Messages API's shapes (no recording has a
429, a 529 or a connection failure), plus a real HTTP server on 127.0.0.1 for the default
aiohttp transport.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
import traceback
from typing import Any

import anthropic
import httpx2
import pytest

from exo.errors import ConfigError, ModelError
from exo.models import get_provider
from exo.models.anthropic import AnthropicProvider, anthropic_provider
from exo.models.base import ModelRequest, ModelResponse, Provider
from exo.types import UserMessage

PATHS = pytest.mark.parametrize("raw", [True, False], ids=["raw", "sdk"])
REQUEST = ModelRequest(messages=[UserMessage(content="hi")])
SECRET = "sk-ant-secret-value-123"


def reply(model: str = "claude-fixture", text: str = "ok") -> dict[str, Any]:
    return {
        "id": "msg_fixture",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 3, "output_tokens": 1},
    }


class Recorder:
    """A mock transport that answers every request with one fixed reply, and records them."""

    def __init__(self, status: int = 200, body: Any = None, headers: dict[str, str] | None = None):
        self.status, self.body, self.headers = status, body, headers or {}
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        return httpx2.Response(self.status, json=self.body or reply(), headers=self.headers)

    def client(self) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(transport=httpx2.MockTransport(self))


# --------------------------------------------------------------------------- construction


def test_missing_key_names_the_variable() -> None:
    with pytest.raises(ModelError) as info:  # as on every backend (CLI exit 3)
        anthropic_provider("claude-sonnet-4-5")
    assert "ANTHROPIC_API_KEY" in str(info.value) and info.value.backend == "anthropic"


async def test_registry_resolves_the_backend_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9/proxy")
    provider = get_provider("anthropic:claude-sonnet-4-5", cached=False)
    try:
        assert isinstance(provider, Provider)
        assert (provider.backend, provider.model) == ("anthropic", "claude-sonnet-4-5")
        assert isinstance(provider, AnthropicProvider)
        assert str(provider.client.base_url).startswith("http://127.0.0.1:9/proxy")
        assert SECRET not in repr(provider)
    finally:
        await provider.aclose()


async def test_key_and_base_url_reach_the_wire(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    recorder = Recorder()
    provider = AnthropicProvider(
        "claude-x", base_url="https://gateway.example/anthropic", http_client=recorder.client()
    )
    await provider.complete(REQUEST)
    (request,) = recorder.requests
    assert str(request.url) == "https://gateway.example/anthropic/v1/messages"
    assert any(SECRET in value for value in request.headers.values())
    assert SECRET not in repr(provider)
    assert "gateway.example" in repr(provider)


def test_client_excludes_the_options_it_fixes() -> None:
    client = anthropic.AsyncAnthropic(api_key="k", max_retries=0)
    with pytest.raises(ConfigError) as info:
        AnthropicProvider("claude-x", client=client, api_key="other")
    assert info.value.parameter == "api_key"


async def test_injected_client_is_used_and_left_open() -> None:
    recorder = Recorder()
    http = recorder.client()
    client = anthropic.AsyncAnthropic(api_key="k", http_client=http, max_retries=0)
    provider = AnthropicProvider("claude-x", client=client)
    assert (await provider.complete(REQUEST)).message.content == "ok"
    await provider.aclose()
    assert not http.is_closed
    await client.close()


async def test_with_model_recomputes_the_default_max_tokens() -> None:
    recorder = Recorder()
    modern = AnthropicProvider("claude-sonnet-4-5", api_key="k", http_client=recorder.client())
    await modern.with_model("claude-3-haiku-20240307").complete(REQUEST)
    await modern.complete(REQUEST)
    fixed = AnthropicProvider("claude-x", api_key="k", http_client=recorder.client(), max_tokens=99)
    await fixed.with_model("claude-3-haiku-20240307").complete(REQUEST)
    sent = [json.loads(r.content)["max_tokens"] for r in recorder.requests]
    assert sent == [4096, 8192, 99]


def test_credentials_in_the_base_url_stay_out_of_repr() -> None:
    provider = AnthropicProvider("claude-x", api_key="k", base_url="https://me:hunter2@gw.example/")
    assert "hunter2" not in repr(provider) and "gw.example" in repr(provider)


def test_invalid_max_tokens() -> None:
    with pytest.raises(ConfigError):
        AnthropicProvider("claude-x", api_key="k", max_tokens=0)


async def test_default_transport_is_aiohttp_against_a_local_server() -> None:
    seen: list[dict[str, Any]] = []
    stream_body = (
        b'event: message_start\ndata: {"type":"message_start","message":{"id":"m","model":"c",'
        b'"usage":{"input_tokens":2,"output_tokens":1}}}\n\n'
        b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
        b'"content_block":{"type":"text","text":""}}\n\n'
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
        b'"delta":{"type":"text_delta","text":"streamed"}}\n\n'
        b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
        b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},'
        b'"usage":{"output_tokens":4}}\n\n'
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    )

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                body = json.loads(await reader.readexactly(length))
                seen.append(body)
                payload, kind = (
                    (stream_body, b"text/event-stream")
                    if body.get("stream")
                    else (json.dumps(reply(text="served")).encode(), b"application/json")
                )
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: "
                    + kind
                    + b"\r\ncontent-length: "
                    + str(len(payload)).encode()
                    + b"\r\n\r\n"
                    + payload
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    provider = AnthropicProvider("claude-x", api_key="k", base_url=f"http://127.0.0.1:{port}")
    try:
        # Reading the SDK's client attribute (not patching it): the default is aiohttp.
        assert isinstance(provider.client._client, anthropic.DefaultAioHttpClient)
        assert (await provider.complete(REQUEST)).message.content == "served"
        chunks = [c async for c in provider.stream(REQUEST)]
        final = chunks[-1]
        assert isinstance(final, ModelResponse)
        assert (final.message.content, final.usage.output_tokens) == ("streamed", 4)
        assert [b.get("stream", False) for b in seen] == [False, True]
    finally:
        await provider.aclose()
        server.close()
        await server.wait_closed()


# --------------------------------------------------------------------------- with_model / aclose


@PATHS
async def test_with_model_shares_client_and_settings(raw: bool) -> None:
    recorder = Recorder()
    http = recorder.client()
    base = AnthropicProvider(
        "claude-a",
        api_key="k",
        http_client=http,
        raw=raw,
        max_tokens=77,
        thinking={"type": "adaptive"},
        extra_body={"metadata": {"user_id": "u"}},
    )
    other = base.with_model("claude-b")
    assert (other.model, base.model) == ("claude-b", "claude-a")
    assert other.client is base.client
    await base.complete(REQUEST)
    await other.complete(REQUEST)
    first, second = (json.loads(r.content) for r in recorder.requests)
    assert (first["model"], second["model"]) == ("claude-a", "claude-b")
    for body in (first, second):
        assert body["max_tokens"] == 77
        assert body["thinking"] == {"type": "adaptive"}
        assert body["metadata"] == {"user_id": "u"}
    assert (
        recorder.requests[0].headers["authorization"]
        == recorder.requests[1].headers["authorization"]
    )
    assert repr(other).startswith("AnthropicProvider(model='claude-b'")
    await other.aclose()
    assert http.is_closed


# --------------------------------------------------------------------------- errors


def error_body(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_1"}


@PATHS
@pytest.mark.parametrize(
    ("status", "headers", "retryable", "retry_after"),
    [
        (429, {"retry-after": "7"}, True, 7.0),
        (429, {"retry-after-ms": "1500", "retry-after": "9"}, True, 1.5),
        (529, {}, True, None),
        (500, {}, True, None),
        (503, {"x-should-retry": "false"}, False, None),
        (400, {"x-should-retry": "true"}, True, None),
        (408, {}, True, None),
        (409, {}, True, None),
        (400, {}, False, None),
        (403, {}, False, None),
    ],
)
async def test_status_errors(
    raw: bool, status: int, headers: dict[str, str], retryable: bool, retry_after: float | None
) -> None:
    recorder = Recorder(status, error_body("some_error", "the message"), headers)
    provider = AnthropicProvider("claude-x", api_key=SECRET, http_client=recorder.client(), raw=raw)
    with pytest.raises(ModelError) as info:
        await provider.complete(REQUEST)
    error = info.value
    assert (error.status, error.retryable, error.retry_after) == (status, retryable, retry_after)
    assert (error.backend, error.model) == ("anthropic", "claude-x")
    assert "some_error: the message" in str(error)
    assert SECRET not in str(error)
    assert len(recorder.requests) == 1  # the SDK never retries on its own


async def test_retry_after_as_an_http_date() -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    recorder = Recorder(429, error_body("rate_limit_error", "slow down"), {"retry-after": when})
    provider = AnthropicProvider("claude-x", api_key="k", http_client=recorder.client())
    with pytest.raises(ModelError) as info:
        await provider.complete(REQUEST)
    assert info.value.retry_after is not None and 25 < info.value.retry_after <= 30


@pytest.mark.parametrize(
    ("status", "message", "needle"),
    [
        (404, "model: claude-nope", "claude-nope"),
        (400, "`temperature` is deprecated for this model.", "temperature"),
    ],
)
async def test_error_hints(status: int, message: str, needle: str) -> None:
    kind = "not_found_error" if status == 404 else "invalid_request_error"
    recorder = Recorder(status, error_body(kind, message))
    provider = AnthropicProvider("claude-nope", api_key="k", http_client=recorder.client())
    with pytest.raises(ModelError) as info:
        await provider.complete(REQUEST)
    assert info.value.hint is not None and needle in info.value.hint


@PATHS
@pytest.mark.parametrize(
    ("failure", "needle"),
    [
        (httpx2.ConnectError("refused"), "could not reach"),
        (httpx2.ReadTimeout("slow"), "timed out"),
    ],
)
async def test_connection_failures_are_retryable(
    raw: bool, failure: Exception, needle: str
) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        raise failure

    client = httpx2.AsyncClient(transport=httpx2.MockTransport(handler))
    provider = AnthropicProvider("claude-x", api_key="k", http_client=client, raw=raw)
    with pytest.raises(ModelError) as info:
        await provider.complete(REQUEST)
    assert (info.value.retryable, info.value.status) == (True, None)
    assert needle in str(info.value)


async def test_unreadable_success_body() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=b"<html>gateway</html>")

    client = httpx2.AsyncClient(transport=httpx2.MockTransport(handler))
    provider = AnthropicProvider("claude-x", api_key="k", http_client=client)
    with pytest.raises(ModelError) as info:
        await provider.complete(REQUEST)
    assert info.value.retryable is False
    assert "malformed response" in str(info.value)


# --------------------------------------------------------------------------- responses


@PATHS
@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("tool_use", "tool_calls"),
        ("max_tokens", "length"),
        ("refusal", "refusal"),
        ("pause_turn", "other"),
    ],
)
async def test_stop_reasons(raw: bool, stop_reason: str, finish: str) -> None:
    recorder = Recorder(200, dict(reply(), stop_reason=stop_reason))
    provider = AnthropicProvider("claude-x", api_key="k", http_client=recorder.client(), raw=raw)
    assert (await provider.complete(REQUEST)).finish_reason == finish


@PATHS
async def test_whole_response_with_reasoning_tools_and_cache_usage(raw: bool) -> None:
    body = dict(
        reply(),
        content=[
            {"type": "thinking", "thinking": "Hmm.", "signature": "sig/+=="},
            {"type": "redacted_thinking", "data": "EmwKAhgB"},
            {"type": "text", "text": "Let me look. "},
            {"type": "tool_use", "id": "toolu_z", "name": "find", "input": {"q": "ü", "n": [1]}},
            {"type": "text", "text": "Done."},
        ],
        stop_reason="tool_use",
        usage={
            "input_tokens": 4,
            "cache_read_input_tokens": 1000,
            "cache_creation_input_tokens": 200,
            "output_tokens": 50,
        },
    )
    recorder = Recorder(200, body)
    provider = AnthropicProvider("claude-x", api_key="k", http_client=recorder.client(), raw=raw)
    response = await provider.complete(REQUEST)
    message = response.message
    assert message.content == "Let me look. Done."
    (call,) = message.tool_calls
    assert (call.id, call.name, json.loads(call.arguments)) == (
        "toolu_z",
        "find",
        {"q": "ü", "n": [1]},
    )
    thinking, redacted = message.reasoning
    assert (thinking.text, thinking.signature, thinking.redacted) == ("Hmm.", "sig/+==", False)
    assert (redacted.redacted, redacted.encrypted) == (True, "EmwKAhgB")
    usage = response.usage
    assert (usage.input_tokens, usage.cache_read_tokens, usage.cache_write_tokens) == (
        1204,
        1000,
        200,
    )
    assert (usage.output_tokens, usage.requests) == (50, 1)
    assert (response.id, response.model, response.finish_reason) == (
        "msg_fixture",
        "claude-fixture",
        "tool_calls",
    )


@PATHS
@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
async def test_a_key_echoed_by_the_server_is_cut_out(raw: bool, stream: bool) -> None:
    body = error_body("authentication_error", f"invalid x-api-key {SECRET} (bad)")
    recorder = Recorder(401, body)
    provider = AnthropicProvider("claude-x", api_key=SECRET, http_client=recorder.client(), raw=raw)
    with pytest.raises(ModelError) as info:
        if stream:
            async for _ in provider.stream(REQUEST):
                pass
        else:
            await provider.complete(REQUEST)
    error = info.value
    assert error.status == 401
    assert "invalid x-api-key [redacted API key] (bad)" in str(error)
    printed = "".join(traceback.format_exception(error))
    assert SECRET not in printed and SECRET not in repr(error) and SECRET not in error.detail
    assert error.__cause__ is None and error.__suppress_context__


@PATHS
async def test_other_errors_keep_their_cause(raw: bool) -> None:
    recorder = Recorder(500, error_body("api_error", "Internal server error"))
    provider = AnthropicProvider("claude-x", api_key=SECRET, http_client=recorder.client(), raw=raw)
    with pytest.raises(ModelError) as info:
        await provider.complete(REQUEST)
    assert isinstance(info.value.__cause__, anthropic.InternalServerError)
