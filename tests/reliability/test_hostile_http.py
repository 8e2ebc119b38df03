"""Hostile HTTP from the fake server: what the HTTP client itself refuses is a ModelError.

Found by the outside test: a response whose header block is larger than the HTTP client
accepts (aiohttp's 8 KiB line limit) made the OpenAI backends raise aiohttp's own
``ClientResponseError``, on both request paths: the SDK's aiohttp transport maps only some
aiohttp errors to httpx ones, and exo did not catch the rest. The Anthropic SDK wraps any
transport error, so it already said so. Every backend and path must end in a ModelError.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from exo.errors import ConfigError, ModelError
from exo.models.base import ModelRequest, Provider
from exo.types import UserMessage
from reliability.fakeserver import FakeServer, answer
from reliability.support import BACKENDS

ProviderFactory = Callable[..., Provider]
REQUEST = ModelRequest(messages=[UserMessage(content="hi")])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("raw", [True, False], ids=["raw", "sdk"])
@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
async def test_a_header_too_large_for_the_http_client_is_a_model_error(
    server: FakeServer, providers: ProviderFactory, backend: str, raw: bool, stream: bool
) -> None:
    server.script(answer("hi", headers={"x-padding": "a" * 100_000}))
    provider = providers(backend, raw=raw)
    with pytest.raises(ModelError) as caught:
        if stream:
            _ = [chunk async for chunk in provider.stream(REQUEST)]
        else:
            await provider.complete(REQUEST)
    assert "8190 bytes" in caught.value.detail


@pytest.mark.parametrize("backend", ["openai", "openai-responses"])
@pytest.mark.parametrize("where", ["argument", "environment"])
def test_a_base_url_with_credentials_is_refused_at_construction_without_quoting_them(
    backend: str, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``https://user:password@proxy/v1`` cannot work with a Bearer key: aiohttp raised a raw
    ``ValueError`` at the first call, and httpx would silently send Basic auth instead of
    the key. The error comes before any call, and does not repeat the password."""
    from exo.models.openai import OpenAIProvider
    from exo.models.openai_responses import OpenAIResponsesProvider

    url = "http://bob:PWSECRET@127.0.0.1:9/v1"
    options: dict[str, str] = {"api_key": "sk-test"}
    if where == "argument":
        options["base_url"] = url
    else:
        monkeypatch.setenv("OPENAI_BASE_URL", url)
    cls = OpenAIProvider if backend == "openai" else OpenAIResponsesProvider
    with pytest.raises(ConfigError) as caught:
        cls("gpt-4o", **options)  # type: ignore[arg-type]
    text = f"{caught.value} {caught.value.hint}"
    assert "PWSECRET" not in text and "bob" not in text
    assert "http://127.0.0.1:9/v1" in text and "credentials" in text
