"""OpenAI Chat Completions through the official SDK, and the OpenAI-compatible presets.

``openai:gpt-4o`` builds an :class:`OpenAIProvider` from ``OPENAI_API_KEY`` (and
``OPENAI_BASE_URL``, if set). The presets (``ollama:``, ``vllm:``, ``lmstudio:``,
``openrouter:``, ``deepseek:``, ``groq:``, ``together:``) are the same class pointed at
another server: each reads its own ``{NAME}_API_KEY`` and ``{NAME}_BASE_URL`` and reports its
own backend name. Local servers need no key.

Two request paths, both through the official SDK client (``raw=`` picks one):

* raw (default): the body is serialized once with orjson and sent with
  ``AsyncOpenAI.post(..., cast_to=httpx2.Response)``; the JSON or SSE body is parsed straight
  into exo types. The SDK still owns auth, headers, timeouts and error statuses.
* SDK (``raw=False``): ``client.chat.completions.create(...)`` with the SDK's parameter
  transformation. Kept as the reference and for comparison (see
  ``benchmarks/provider_overhead.py``). Its answers go through the same checked parser as
  the raw path (the SDK's models are built without validation, so their typed attributes
  may hold anything a server sent); a stream is read from the SDK's own HTTP response
  (``with_streaming_response``), as only the raw body tells ``[DONE]`` from a cut stream.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any, Literal, Unpack

import httpx2

from exo.errors import ModelError
from exo.models._openai_chat import (
    ChatAssembler,
    Delta,
    chat_body,
    parse_completion,
)
from exo.models._openai_common import (
    ERRORS,
    ClientOptions,
    OpenAIBase,
    ProviderOptions,
    close_quietly,
)
from exo.models._openai_sse import SSEReader
from exo.models._wire import replay, sdk_dict
from exo.models.base import (
    ModelChunk,
    ModelRequest,
    ModelResponse,
)

__all__ = [
    "PRESETS",
    "OpenAIProvider",
    "ProviderOptions",
    "deepseek_provider",
    "groq_provider",
    "lmstudio_provider",
    "ollama_provider",
    "openai_provider",
    "openrouter_provider",
    "preset_provider",
    "together_provider",
    "vllm_provider",
]

_PATH = "/chat/completions"


class OpenAIProvider(OpenAIBase):
    """A model behind the OpenAI Chat Completions API (or an OpenAI-compatible server).

    Args:
        model: The model name (``"gpt-4o"``).
        backend: The backend name it reports (``"openai"``, or a preset's name).
        max_tokens_param: The body field ``max_tokens`` goes to: ``"max_completion_tokens"``
            (what OpenAI wants, and its reasoning models require) or ``"max_tokens"`` (what
            OpenAI-compatible servers read).
        **options: ``api_key``, ``base_url``, ``http_client``, ``client``, ``timeout``,
            ``raw``, ``extra_body``, ``key_env``, ``base_url_env``, ``default_base_url``,
            ``key_required`` (see :class:`~exo.models._openai_common.OpenAIBase`).

    Raises:
        ModelError: no API key was found (the message names the variable to set).
    """

    def __init__(
        self,
        model: str,
        *,
        backend: str = "openai",
        max_tokens_param: Literal["max_completion_tokens", "max_tokens"] = "max_completion_tokens",
        **options: Unpack[ClientOptions],
    ) -> None:
        super().__init__(model, backend=backend, **options)
        self.max_tokens_param = max_tokens_param

    def _body(self, request: ModelRequest, *, stream: bool) -> dict[str, Any]:
        return chat_body(
            request,
            self._model,
            backend=self._backend,
            stream=stream,
            max_tokens_param=self.max_tokens_param,
            extra=self.extra_body,
        )

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """Make one Chat Completions call and return the whole response."""
        body = self._body(request, stream=False)
        try:
            if self.raw:
                data = self._json((await self._post_raw(_PATH, body, stream=False)).content)
            else:
                data = sdk_dict(await self._client.chat.completions.create(**body))
            return parse_completion(data, backend=self._backend, model=self._model)
        except ERRORS as exc:
            failure = self._error(exc)
        raise failure  # outside the except block: see OpenAIBase._error

    def _parse(self, content: bytes) -> ModelResponse:
        return parse_completion(self._json(content), backend=self._backend, model=self._model)

    def stream(self, request: ModelRequest) -> AsyncGenerator[ModelChunk, None]:
        """Make one streamed call: text and tool-call deltas, then the assembled response."""
        return self._stream_raw(request) if self.raw else self._stream_sdk(request)

    # ------------------------------------------------------------------- streaming

    async def _stream_raw(self, request: ModelRequest) -> AsyncGenerator[ModelChunk, None]:
        body = self._body(request, stream=True)
        response: httpx2.Response | None = None
        failure: ModelError | None = None
        try:
            response = await self._post_raw(_PATH, body, stream=True)
            async with aclosing(self._read(response)) as items:
                async for item in items:
                    yield item
        except ERRORS as exc:
            failure = self._error(exc)
        finally:
            if response is not None:
                await close_quietly(response)
        if failure is not None:
            raise failure

    async def _stream_sdk(self, request: ModelRequest) -> AsyncGenerator[ModelChunk, None]:
        # The SDK builds and sends the request; its event models are skipped, as they cannot
        # tell a stream that ended with [DONE] from one cut short (the raw body can).
        body = self._body(request, stream=True)
        failure: ModelError | None = None
        try:
            create = self._client.chat.completions.with_streaming_response.create
            async with (
                create(**body) as api_response,
                aclosing(self._read(api_response.http_response)) as items,
            ):
                async for item in items:
                    yield item
        except ERRORS as exc:
            failure = self._error(exc)
        if failure is not None:
            raise failure

    async def _read(self, response: httpx2.Response) -> AsyncGenerator[ModelChunk, None]:
        """Read a streamed response: deltas as they come, then the assembled response."""
        if self._check_stream_type(response):
            # a server that ignored stream=true and answered in one piece
            for item in replay(self._parse(await response.aread())):
                yield item
            return
        assembler = ChatAssembler(backend=self._backend, model=self._model)
        reader = SSEReader(response)
        out: list[Delta] = []
        async with aclosing(reader.batches()) as batches:
            async for events in batches:
                for _, data in events:
                    chunk = self._json(data)
                    if chunk.get("error"):
                        raise self._event_error(chunk["error"])
                    assembler.feed(chunk, out)
                    if out:
                        for delta in out:
                            yield delta
                        out.clear()
        if assembler.finish is None:
            if not reader.done:
                raise self._protocol_error(
                    "the stream ended before the response was complete", retryable=True
                )
            # [DONE] without a finish_reason (OpenRouter sends this): the server says the
            # answer is whole, so it ended normally
            assembler.finish = "stop"
        yield assembler.result()


# --------------------------------------------------------------------------- factories

PRESETS: dict[str, tuple[str, str, bool]] = {
    "ollama": ("http://localhost:11434/v1", "OLLAMA_API_KEY", False),
    "vllm": ("http://localhost:8000/v1", "VLLM_API_KEY", False),
    "lmstudio": ("http://localhost:1234/v1", "LMSTUDIO_API_KEY", False),
    "openrouter": ("https://openrouter.ai/api/v1", "OPENROUTER_API_KEY", True),
    "deepseek": ("https://api.deepseek.com/v1", "DEEPSEEK_API_KEY", True),
    "groq": ("https://api.groq.com/openai/v1", "GROQ_API_KEY", True),
    "together": ("https://api.together.xyz/v1", "TOGETHER_API_KEY", True),
}
"""OpenAI-compatible presets: name -> (default base URL, API key variable, key required)."""


def openai_provider(model: str, **options: Unpack[ProviderOptions]) -> OpenAIProvider:
    """Build the ``openai:`` provider (``OPENAI_API_KEY``, ``OPENAI_BASE_URL``)."""
    return OpenAIProvider(model, **options)


def preset_provider(name: str, model: str, **options: Unpack[ProviderOptions]) -> OpenAIProvider:
    """Build an OpenAI-compatible preset provider by name (a key of :data:`PRESETS`)."""
    base_url, key_env, required = PRESETS[name]
    return OpenAIProvider(
        model,
        backend=name,
        key_env=key_env,
        base_url_env=f"{name.upper()}_BASE_URL",
        default_base_url=base_url,
        key_required=required,
        max_tokens_param="max_tokens",
        **options,
    )


def ollama_provider(model: str, **options: Unpack[ProviderOptions]) -> OpenAIProvider:
    """Build an ``ollama:`` provider (``OLLAMA_BASE_URL``; no key needed)."""
    return preset_provider("ollama", model, **options)


def vllm_provider(model: str, **options: Unpack[ProviderOptions]) -> OpenAIProvider:
    """Build a ``vllm:`` provider (``VLLM_BASE_URL``; ``VLLM_API_KEY`` if the server wants one)."""
    return preset_provider("vllm", model, **options)


def lmstudio_provider(model: str, **options: Unpack[ProviderOptions]) -> OpenAIProvider:
    """Build an ``lmstudio:`` provider (``LMSTUDIO_BASE_URL``; no key needed)."""
    return preset_provider("lmstudio", model, **options)


def openrouter_provider(model: str, **options: Unpack[ProviderOptions]) -> OpenAIProvider:
    """Build an ``openrouter:`` provider (``OPENROUTER_API_KEY``)."""
    return preset_provider("openrouter", model, **options)


def deepseek_provider(model: str, **options: Unpack[ProviderOptions]) -> OpenAIProvider:
    """Build a ``deepseek:`` provider (``DEEPSEEK_API_KEY``)."""
    return preset_provider("deepseek", model, **options)


def groq_provider(model: str, **options: Unpack[ProviderOptions]) -> OpenAIProvider:
    """Build a ``groq:`` provider (``GROQ_API_KEY``)."""
    return preset_provider("groq", model, **options)


def together_provider(model: str, **options: Unpack[ProviderOptions]) -> OpenAIProvider:
    """Build a ``together:`` provider (``TOGETHER_API_KEY``)."""
    return preset_provider("together", model, **options)
