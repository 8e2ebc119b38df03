"""The lane without the SDK sends what the SDK's own request builder produces.

exo's lane prepares the URL and headers of the official SDKs without importing them
(``exo.models._sdk_headers``). These tests are what keeps that honest: for each backend and
configuration, a real call goes over the lane to a local server that records it, the
provider's SDK client is checked to have never been built (so the SDK had no part in it),
and the recorded request (method, URL, headers, body) is compared with the request the SDK's
own builder (``_prepare_options`` / ``_build_request`` / ``_prepare_request``) makes for the
same configuration and the same body. An SDK upgrade that changes a header, the user agent,
the API version or the URL rules fails here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import anthropic
import openai
import pytest
from aiohttp import web

from exo.models._sdk_headers import anthropic_recipe, openai_recipe
from exo.models.anthropic import AnthropicProvider
from exo.models.base import ModelRequest
from exo.models.openai import OpenAIProvider, preset_provider
from exo.models.openai_responses import OpenAIResponsesProvider
from exo.types import UserMessage

KEY = "sk-test-headers"
# set per request by the SDK (the retry count) or by the HTTP client (the body's length)
PER_REQUEST = {"content-length", "x-stainless-retry-count"}

CHAT = {
    "id": "c1",
    "object": "chat.completion",
    "created": 1,
    "model": "m",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
    ],
}
RESPONSES = {
    "id": "r1",
    "object": "response",
    "created_at": 1,
    "model": "m",
    "status": "completed",
    "output": [
        {
            "type": "message",
            "id": "m1",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": "ok", "annotations": []}],
        }
    ],
}
MESSAGES = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-x",
    "content": [{"type": "text", "text": "ok"}],
    "stop_reason": "end_turn",
    "usage": {"input_tokens": 1, "output_tokens": 1},
}


@dataclass
class Seen:
    """One request the server received."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Recorder:
    """A local server answering each API with one fixed reply; it records every request."""

    url: str = ""
    seen: list[Seen] = field(default_factory=list)


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    rec = Recorder()

    def route(reply: dict[str, Any]) -> Callable[[web.Request], Any]:
        async def handle(request: web.Request) -> web.Response:
            headers = {k.lower(): v for k, v in request.headers.items()}
            rec.seen.append(Seen(request.method, str(request.url), headers, await request.read()))
            return web.json_response(reply)

        return handle

    app = web.Application()
    for prefix in ("", "/v1"):
        app.router.add_post(f"{prefix}/chat/completions", route(CHAT))
        app.router.add_post(f"{prefix}/responses", route(RESPONSES))
    app.router.add_post("/v1/messages", route(MESSAGES))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    rec.url = f"http://127.0.0.1:{port}"
    yield rec
    await runner.cleanup()


async def sdk_request(client: Any, path: str, body: bytes) -> Any:
    """The request the SDK client itself builds for a POST of ``body`` to ``path``."""
    models = openai if isinstance(client, openai.AsyncOpenAI) else anthropic
    options = models._models.FinalRequestOptions.construct(
        method="post", url=path, content=body, timeout=client.timeout
    )
    options = await client._prepare_options(options)
    request = client._build_request(options, retries_taken=0)
    await client._prepare_request(request)
    return request


def _headers(headers: Any) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items() if k.lower() not in PER_REQUEST}


Make = Callable[[str], Any]
CASES: dict[str, tuple[Make, str]] = {
    "chat": (
        lambda url: OpenAIProvider("m", api_key=KEY, base_url=f"{url}/v1"),
        "/chat/completions",
    ),
    "chat-env-url": (lambda url: OpenAIProvider("m", api_key=KEY), "/chat/completions"),
    "responses": (
        lambda url: OpenAIResponsesProvider("m", api_key=KEY, base_url=f"{url}/v1/"),
        "/responses",
    ),
    "anthropic": (
        lambda url: AnthropicProvider("claude-x", api_key=KEY, base_url=url),
        "/v1/messages",
    ),
    "anthropic-env-url": (lambda url: AnthropicProvider("claude-x", api_key=KEY), "/v1/messages"),
    "preset-no-key": (lambda url: preset_provider("vllm", "m"), "/chat/completions"),
    "preset-key": (lambda url: preset_provider("groq", "m", api_key=KEY), "/chat/completions"),
}


@pytest.mark.parametrize("org", [False, True], ids=["plain", "org-project-env"])
@pytest.mark.parametrize("case", list(CASES))
async def test_the_lane_sends_what_the_sdk_builds_without_the_sdk(
    case: str, org: bool, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = recorder.url
    monkeypatch.setenv("OPENAI_BASE_URL", f"{url}/v1")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", url)
    monkeypatch.setenv("VLLM_BASE_URL", f"{url}/v1")
    monkeypatch.setenv("GROQ_BASE_URL", url)
    monkeypatch.delenv("VLLM_API_KEY", raising=False)
    if org:  # OpenAI's own settings: sent by the openai: backends, never by a preset
        monkeypatch.setenv("OPENAI_ORG_ID", "org-exo")
        monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-exo")
    make, path = CASES[case]
    provider = make(url)
    try:
        answer = await provider.complete(ModelRequest(messages=[UserMessage(content="hi")]))
        assert answer.message.content == "ok"
        assert provider._sdk.built is None  # the SDK client was never built: no SDK involved
        [seen] = recorder.seen
        expected = await sdk_request(provider.client, path, seen.body)
    finally:
        await provider.aclose()
    assert seen.method == expected.method == "POST"
    assert seen.url == str(expected.url)
    assert _headers(seen.headers) == _headers(expected.headers)
    assert expected.content == seen.body
    openai_only = {"openai-organization", "openai-project"} & set(seen.headers)
    assert bool(openai_only) == (org and case.startswith(("chat", "responses")))


@pytest.mark.parametrize(
    ("variable", "recipe"),
    [
        (
            "OPENAI_CUSTOM_HEADERS",
            lambda: openai_recipe(api_key=KEY, base_url_=None, isolated=False, timeout=1),
        ),
        (
            "OPENAI_ADMIN_KEY",
            lambda: openai_recipe(api_key=KEY, base_url_=None, isolated=True, timeout=1),
        ),
        (
            "ANTHROPIC_CUSTOM_HEADERS",
            lambda: anthropic_recipe(api_key=KEY, base_url_=None, timeout=1),
        ),
    ],
)
def test_settings_only_the_sdk_applies_leave_the_request_to_the_sdk(
    variable: str, recipe: Callable[[], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, "X-Team: exo")
    assert recipe() is None


async def test_custom_headers_from_the_environment_go_through_the_sdk(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_CUSTOM_HEADERS", "X-Team: exo")
    provider = OpenAIProvider("m", api_key=KEY, base_url=f"{recorder.url}/v1")
    try:
        await provider.complete(ModelRequest(messages=[UserMessage(content="hi")]))
        assert provider._sdk.built is not None  # the SDK built the request this time
    finally:
        await provider.aclose()
    [seen] = recorder.seen
    assert seen.headers["x-team"] == "exo"
    assert seen.headers["authorization"] == f"Bearer {KEY}"
