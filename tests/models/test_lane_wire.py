"""The lane's requests as they leave the socket: the exact header block, per backend.

``test_sdk_headers.py`` compares the headers a server parsed with the SDK's own; this file
pins the bytes themselves, in order, on a raw socket server (no HTTP library in between):
the request line, the headers exo prepared once for the provider (in the order it prepared
them: its recipe's, or the SDK's own when the SDK built them), which are exactly the headers
the SDK's own builder makes for the same configuration, then the per-request
``x-stainless-retry-count`` and ``Content-Length``, and nothing else. Each provider makes
two calls, so what the lane prepares once is seen to hold for every call. Through an HTTP
proxy the same headers go to the proxy, and the API key never becomes a
``Proxy-Authorization``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import anthropic
import openai
import orjson
import pytest

from exo.errors import ModelError
from exo.models.anthropic import AnthropicProvider
from exo.models.base import ModelRequest
from exo.models.openai import OpenAIProvider, preset_provider
from exo.models.openai_responses import OpenAIResponsesProvider
from exo.types import UserMessage

from .test_sdk_headers import CHAT, MESSAGES, PER_REQUEST, RESPONSES

KEY = "sk-test-wire"

# the same whole answers the header comparison's server gives (one per API)
REPLIES = {b"/chat/completions": CHAT, b"/responses": RESPONSES, b"/v1/messages": MESSAGES}


@dataclass
class Wire:
    """A raw HTTP/1.1 server on a socket: it keeps each request's head and body as bytes."""

    url: str = ""
    port: int = 0
    heads: list[bytes] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    replies: list[list[bytes]] = field(default_factory=list)
    """Whole responses to send instead of the API's reply, each in the pieces given."""


async def _serve(wire: Wire, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            length = next(
                int(line.partition(b":")[2])
                for line in lines
                if line.lower().startswith(b"content-length:")
            )
            wire.heads.append(head)
            wire.bodies.append(await reader.readexactly(length))
            if wire.replies:
                for piece in wire.replies.pop(0):
                    writer.write(piece)
                    await writer.drain()
                    await asyncio.sleep(0.01)  # so that the client reads it in pieces
                continue
            target = lines[0].split(b" ")[1]
            reply = orjson.dumps(next(r for p, r in REPLIES.items() if target.endswith(p)))
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(reply), reply)
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


@pytest.fixture
async def wire() -> AsyncIterator[Wire]:
    found = Wire()
    server = await asyncio.start_server(lambda r, w: _serve(found, r, w), "127.0.0.1", 0)
    found.port = server.sockets[0].getsockname()[1]
    found.url = f"http://127.0.0.1:{found.port}"
    yield found
    server.close()
    await server.wait_closed()


async def _sdk_headers(client: Any, path: str, body: bytes) -> list[tuple[str, str]]:
    """The headers, in order, of the request the SDK client itself builds for ``body``."""
    models = openai if isinstance(client, openai.AsyncOpenAI) else anthropic
    options = models._models.FinalRequestOptions.construct(
        method="post", url=path, content=body, timeout=client.timeout
    )
    options = await client._prepare_options(options)
    request = client._build_request(options, retries_taken=0)
    await client._prepare_request(request)
    return [(k.lower(), v) for k, v in request.headers.items() if k.lower() not in PER_REQUEST]


def _expected(target: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
    lines = [f"POST {target} HTTP/1.1", *(f"{k}: {v}" for k, v in headers)]
    lines += ["x-stainless-retry-count: 0", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


Make = Callable[[str], Any]
CASES: dict[str, tuple[Make, str]] = {
    "chat": (
        lambda url: OpenAIProvider("m", api_key=KEY, base_url=f"{url}/v1"),
        "/chat/completions",
    ),
    "responses": (
        lambda url: OpenAIResponsesProvider("m", api_key=KEY, base_url=f"{url}/v1"),
        "/responses",
    ),
    "anthropic": (
        lambda url: AnthropicProvider("claude-x", api_key=KEY, base_url=url),
        "/v1/messages",
    ),
    "preset": (lambda url: preset_provider("groq", "m", api_key=KEY), "/chat/completions"),
}


async def _two_calls(provider: Any) -> None:
    try:
        for text in ("hi", "hello again"):
            answer = await provider.complete(ModelRequest(messages=[UserMessage(content=text)]))
            assert answer.message.content == "ok"
    finally:
        await provider.aclose()


def _prepared(provider: Any, sdk: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The headers exo prepared for ``provider``, in their order (the SDK's when it built
    them); the same set as the SDK's own."""
    recipe = provider._lane._recipe
    prepared = sdk if recipe is None else list(recipe.headers.items())
    assert sorted(prepared) == sorted(sdk)
    return prepared


@pytest.mark.parametrize("sdk_builds", [False, True], ids=["prepared-without-sdk", "sdk-built"])
@pytest.mark.parametrize("case", list(CASES))
async def test_each_call_sends_the_sdk_headers_and_nothing_else(
    case: str, sdk_builds: bool, wire: Wire, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GROQ_BASE_URL", f"{wire.url}/v1")
    if sdk_builds:  # settings only the SDK applies: the lane asks the SDK for its headers
        monkeypatch.setenv("OPENAI_CUSTOM_HEADERS", "X-Team: exo")
        monkeypatch.setenv("ANTHROPIC_CUSTOM_HEADERS", "X-Team: exo")
    make, path = CASES[case]
    provider = make(wire.url)
    await _two_calls(provider)
    assert (provider._lane._recipe is None) == sdk_builds
    base = str(provider.client.base_url)
    target = base.removeprefix(wire.url).rstrip("/") + path
    assert len(wire.heads) == 2
    for head, body in zip(wire.heads, wire.bodies, strict=True):
        sdk = await _sdk_headers(provider.client, path, body)
        if sdk_builds and case != "preset":  # a preset drops the OpenAI-only variables
            assert ("x-team", "exo") in sdk
        assert head == _expected(target, _prepared(provider, sdk), body)


@pytest.mark.parametrize("case", ["chat", "anthropic"])
async def test_through_a_proxy_the_key_stays_in_authorization(
    case: str, wire: Wire, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", wire.url)  # the raw server plays the proxy
    make, path = CASES[case]
    provider = make("http://api.exo-test.invalid")
    await _two_calls(provider)
    base = str(provider.client.base_url).rstrip("/")
    assert len(wire.heads) == 2
    for head, body in zip(wire.heads, wire.bodies, strict=True):
        sdk = await _sdk_headers(provider.client, path, body)
        assert head == _expected(base + path, _prepared(provider, sdk), body)
        assert b"proxy-authorization" not in head.lower()


BOM = b"\xef\xbb\xbf"


def _chunked(pieces: list[bytes]) -> list[bytes]:
    """A JSON response sent with ``Transfer-Encoding: chunked``, one chunk per piece."""
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    return [head, *(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces if p), b"0\r\n\r\n"]


def _sized(pieces: list[bytes]) -> list[bytes]:
    """A JSON response with its ``Content-Length``, its body sent in these pieces."""
    length = sum(map(len, pieces))
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
    return [head % length, *pieces]


@pytest.mark.parametrize("framing", [_sized, _chunked], ids=["content-length", "chunked"])
@pytest.mark.parametrize("case", ["chat", "anthropic"])
async def test_a_whole_body_in_pieces_with_a_bom_reads_as_without(
    case: str, framing: Callable[[list[bytes]], list[bytes]], wire: Wire
) -> None:
    body = orjson.dumps(REPLIES[b"/v1/messages" if case == "anthropic" else b"/chat/completions"])
    wire.replies = [framing([body[:7], body[7:]]), framing([BOM[:1], BOM[1:] + body[:5], body[5:]])]
    make, _ = CASES[case]
    await _two_calls(make(wire.url))  # each answer read whole: "ok"
    assert len(wire.heads) == 2


@pytest.mark.parametrize("framing", [_sized, _chunked], ids=["content-length", "chunked"])
@pytest.mark.parametrize("case", ["chat", "anthropic"])
async def test_a_whole_body_past_the_cap_stops_the_read(
    case: str,
    framing: Callable[[list[bytes]], list[bytes]],
    wire: Wire,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("exo.models._transport.MAX_BODY_BYTES", 3 * 2**20)
    wire.replies = [framing([b'{"pad": "' + b"x" * 2**20] * 4 + [b'"}'])]
    make, _ = CASES[case]
    provider = make(wire.url)
    try:
        with pytest.raises(ModelError) as caught:
            await provider.complete(ModelRequest(messages=[UserMessage(content="hi")]))
    finally:
        await provider.aclose()
    assert "the response is larger than 3 MiB; reading stopped" in caught.value.detail
    assert not caught.value.retryable  # the same server would send the same again
