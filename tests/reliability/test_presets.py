"""Only a preset's own settings go to its server; OpenAI's own go to OpenAI's backends only.

The official SDK fills ``OpenAI-Organization`` / ``OpenAI-Project`` from ``OPENAI_ORG_ID`` /
``OPENAI_PROJECT_ID`` and adds ``OPENAI_CUSTOM_HEADERS`` to every request, whatever the base
URL. Checked at the HTTP boundary (the fake server records the headers) for every preset.
"""

from __future__ import annotations

from typing import Any

import pytest

from exo import ModelError
from exo.cli import exit_code
from exo.models import BUILTIN_BACKENDS, get_provider
from exo.models.base import ModelRequest
from exo.models.openai import PRESETS
from exo.types import UserMessage
from reliability.fakeserver import FakeServer, answer, fail

OPENAI_ONLY = {
    "OPENAI_ORG_ID": "org-must-stay-with-openai",
    "OPENAI_PROJECT_ID": "proj-must-stay-with-openai",
    "OPENAI_CUSTOM_HEADERS": "X-Openai-Gateway: secret-gateway-token",
    "OPENAI_API_KEY": "sk-must-stay-with-openai",
}
LEAKS = ("openai-organization", "openai-project", "x-openai-gateway")


async def _headers(server: FakeServer, model: str) -> dict[str, str]:
    server.script(answer("hi"))
    provider = get_provider(model, cached=False)
    try:
        await provider.complete(ModelRequest(messages=[UserMessage(content="hi")]))
    finally:
        await provider.aclose()
    return server.attempts[-1].headers


@pytest.mark.parametrize("name", sorted(PRESETS))
async def test_a_preset_sends_none_of_openais_settings(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    for var, value in OPENAI_ONLY.items():
        monkeypatch.setenv(var, value)
    key_env, url_env = PRESETS[name].env_vars
    monkeypatch.setenv(url_env, f"{server.url}/v1")
    monkeypatch.setenv(key_env, f"{name}-own-key")
    headers = await _headers(server, f"{name}:m")
    assert headers["authorization"] == f"Bearer {name}-own-key"
    assert [h for h in LEAKS if h in headers] == []
    assert not any(v in str(headers) for v in OPENAI_ONLY.values())


@pytest.mark.parametrize("backend", ["openai", "openai-responses"])
async def test_openais_own_backends_still_send_them(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    """The control: the same variables do reach OpenAI's backends (so the test can fail)."""
    for var, value in OPENAI_ONLY.items():
        monkeypatch.setenv(var, value)
    monkeypatch.setenv("OPENAI_BASE_URL", f"{server.url}/v1")
    headers = await _headers(server, f"{backend}:gpt-4o")
    assert headers["openai-organization"] == OPENAI_ONLY["OPENAI_ORG_ID"]
    assert headers["openai-project"] == OPENAI_ONLY["OPENAI_PROJECT_ID"]
    assert headers["x-openai-gateway"] == "secret-gateway-token"


NEEDS_KEY = [n for n, b in BUILTIN_BACKENDS.items() if b.needs_key and b.env_vars]


@pytest.mark.parametrize("name", NEEDS_KEY)
def test_a_missing_key_is_a_model_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """One behaviour on every backend: a ModelError (exit 3 in the CLI), never AgentError."""
    env = BUILTIN_BACKENDS[name].env_vars[0]
    monkeypatch.delenv(env, raising=False)
    with pytest.raises(ModelError) as caught:
        get_provider(f"{name}:m", cached=False)
    assert type(caught.value) is ModelError and env in str(caught.value)
    assert caught.value.backend == name and exit_code(caught.value) == 3


@pytest.mark.parametrize("backend", ["openai", "anthropic"])
async def test_a_client_of_yours_is_used_without_its_own_retries(
    server: FakeServer, backend: str
) -> None:
    """exo's retry layer is the only one: a user's SDK client retrying on its own is copied
    with ``max_retries=0`` (one attempt reaches the server), and left unchanged itself."""
    if backend == "openai":
        import openai

        from exo.models.openai import OpenAIProvider

        mine: Any = openai.AsyncOpenAI(api_key="k", base_url=f"{server.url}/v1", max_retries=3)
        provider: Any = OpenAIProvider("gpt-4o", client=mine)
    else:
        import anthropic

        from exo.models.anthropic import AnthropicProvider

        mine = anthropic.AsyncAnthropic(api_key="k", base_url=server.url, max_retries=3)
        provider = AnthropicProvider("claude-sonnet-4-6", client=mine)
    server.script(fail(503), fail(503), fail(503), fail(503))
    with pytest.raises(ModelError) as caught:
        await provider.complete(ModelRequest(messages=[UserMessage(content="hi")]))
    assert caught.value.status == 503 and caught.value.retryable
    assert server.count() == 1
    assert mine.max_retries == 3 and provider.client.max_retries == 0
    await mine.close()
