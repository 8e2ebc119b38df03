"""OpenAI Chat Completions through the official SDK, and the OpenAI-compatible presets.

``openai:gpt-4o`` builds an :class:`OpenAIProvider` from ``OPENAI_API_KEY`` (and
``OPENAI_BASE_URL``, if set). The presets (``ollama:``, ``vllm:``, ``lmstudio:``,
``openrouter:``, ``deepseek:``, ``groq:``, ``together:``) are the same class pointed at
another server: each reads its own ``{NAME}_API_KEY`` and ``{NAME}_BASE_URL`` and reports its
own backend name. Local servers need no key.

Two request paths, both through the official SDK client (``raw=`` picks one):

* raw (default): the body is serialized once with orjson and sent over exo's own aiohttp
  session (:mod:`exo.models._lane`) with the SDK's URL and headers for the path, prepared
  once without importing the SDK (:mod:`exo.models._sdk_headers`, checked against the SDK's
  own request builder by the tests); the JSON or SSE body is parsed straight into exo types.
  The SDK still defines auth, headers and the base URL, and its exception classes carry
  error statuses (the SDK is imported for the first error status). With
  ``http_client=`` or ``client=``, or without aiohttp, the body goes through
  ``AsyncOpenAI.post(..., cast_to=httpx2.Response)`` instead.
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
from exo.models import BUILTIN_BACKENDS
from exo.models._openai_chat import (
    ChatAssembler,
    Delta,
    chat_body,
    parse_completion,
)
from exo.models._openai_common import (
    ClientOptions,
    OpenAIBase,
    ProviderOptions,
    errors,
)
from exo.models._transport import sdk_stream
from exo.models._wire import sdk_dict
from exo.models.base import (
    ModelChunk,
    ModelRequest,
    ModelResponse,
)

PRESETS = {name: b for name, b in BUILTIN_BACKENDS.items() if b.default_base_url is not None}
"""The OpenAI-compatible presets (ollama, vllm, …): their entries of the one backend table,
:data:`exo.models.BUILTIN_BACKENDS`."""

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
_OPENAI_HOSTS = ("api.openai.com", ".openai.azure.com", ".cognitiveservices.azure.com")

MaxTokensParam = Literal["max_completion_tokens", "max_tokens", "both"]


def _is_openai(base_url: str) -> bool:
    """Whether ``base_url`` is OpenAI's own API (or Azure OpenAI), which reject ``max_tokens``
    for reasoning models; other servers get both fields (many ignore the newer one)."""
    host = httpx2.URL(base_url).host
    return host == _OPENAI_HOSTS[0] or host.endswith(_OPENAI_HOSTS[1:])


class OpenAIProvider(OpenAIBase):
    """A model behind the OpenAI Chat Completions API (or an OpenAI-compatible server).

    Args:
        model: The model name (``"gpt-4o"``).
        backend: The backend name it reports (``"openai"``, or a preset's name).
        max_tokens_param: The body field ``max_tokens`` goes to: ``"max_completion_tokens"``
            (what OpenAI wants, and its reasoning models require), ``"max_tokens"`` (what
            most OpenAI-compatible servers read, some ignoring the other) or ``"both"``.
            ``None`` (the default) picks by base URL: ``max_completion_tokens`` for OpenAI
            (and Azure OpenAI), both fields for any other server.
        output_mode: How a typed answer (``Agent(output_type=...)``) is asked for:
            ``"native"`` (a ``response_format`` JSON schema, strict when the schema allows)
            or ``"tool"`` (a ``final_result`` tool the model must call). ``None`` (the
            default) picks by base URL: native for OpenAI, the tool for any other server
            (OpenAI-compatible servers support tools more widely than JSON schemas).
        **options: ``api_key``, ``base_url``, ``http_client``, ``client``, ``timeout``,
            ``raw``, ``extra_body``, ``key_env``, ``base_url_env``, ``default_base_url``,
            ``key_required`` (see :class:`~exo.models._openai_common.OpenAIBase`).

    Raises:
        ModelError: no API key was found (the message names the variable to set).
    """

    _path = _PATH

    def __init__(
        self,
        model: str,
        *,
        backend: str = "openai",
        max_tokens_param: MaxTokensParam | None = None,
        output_mode: Literal["native", "tool"] | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        super().__init__(model, backend=backend, **options)
        if output_mode is None:
            output_mode = "native" if _is_openai(self.base_url) else "tool"
        self.output_mode: Literal["native", "tool"] = output_mode
        if max_tokens_param is None:
            max_tokens_param = "max_completion_tokens" if _is_openai(self.base_url) else "both"
        self.max_tokens_param = max_tokens_param
        self._max_tokens_fields: tuple[str, ...] = (
            ("max_completion_tokens", "max_tokens")
            if max_tokens_param == "both"
            else (max_tokens_param,)
        )

    def _body(self, request: ModelRequest, *, stream: bool) -> dict[str, Any]:
        return chat_body(
            request,
            self._model,
            backend=self._backend,
            stream=stream,
            max_tokens_fields=self._max_tokens_fields,
            extra=self.extra_body,
            output_mode=self.output_mode,
        )

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """Make one Chat Completions call and return the whole response."""
        watch = self._watch(request)
        body = self._body(request, stream=False)
        try:
            if self.raw:
                data = self._json(await self._fetch(_PATH, body, watch))
            else:
                completion = await watch.wait(
                    self._client.chat.completions.create(**body, timeout=watch.timeout),
                    idle=False,
                )
                data = sdk_dict(completion)
            return parse_completion(data, backend=self._backend, model=self._model)
        except ModelError as error:
            failure = error
        except errors() as exc:
            failure = self._error(exc)
        raise self._redact(failure)  # outside the except block: see OpenAIBase._error

    def _parse(self, content: bytes) -> ModelResponse:
        return parse_completion(self._json(content), backend=self._backend, model=self._model)

    def stream(self, request: ModelRequest) -> AsyncGenerator[ModelChunk, None]:
        """Make one streamed call: text and tool-call deltas, then the assembled response."""
        return self._stream_raw(request) if self.raw else self._stream_sdk(request)

    # ------------------------------------------------------------------- streaming

    async def _stream_sdk(self, request: ModelRequest) -> AsyncGenerator[ModelChunk, None]:
        # The SDK builds and sends the request; its event models are skipped, as they cannot
        # tell a stream that ended with [DONE] from one cut short (the raw body can).
        watch = self._watch(request)
        body = self._body(request, stream=True)
        failure: ModelError | None = None
        try:
            create = self._client.chat.completions.with_streaming_response.create
            manager = create(**body, timeout=watch.timeout)
            async with (
                sdk_stream(manager, watch) as http_response,
                aclosing(self._read_stream(http_response, watch)) as items,
            ):
                async for item in items:
                    yield item
        except ModelError as error:
            failure = error
        except errors() as exc:
            failure = self._error(exc)
        finally:
            watch.close()  # the stream's timer (Watch.read)
        if failure is not None:
            raise self._redact(failure)

    def _stream_state(self) -> _ChatStream:
        return _ChatStream(self)

    def _whole_answer(self, content: bytes) -> ModelResponse:
        return self._parse(content)


class _ChatStream:
    """Chat Completions stream events into deltas and the assembled response."""

    __slots__ = ("assembler", "out", "provider")

    def __init__(self, provider: OpenAIProvider) -> None:
        self.provider = provider
        self.assembler = ChatAssembler(backend=provider.backend, model=provider.model)
        self.out: list[Delta] = []

    def feed(self, name: str | None, data: bytes) -> None:
        """Consume one event; its deltas go to :attr:`out`."""
        provider = self.provider
        chunk = provider._json(data)
        if chunk.get("error") or name == "error":
            raise provider._event_error(chunk.get("error") or chunk)
        self.assembler.feed(chunk, self.out)

    def result(self, done: bool) -> ModelResponse:
        """The assembled response; ``done``: the stream ended with ``[DONE]``."""
        assembler = self.assembler
        if assembler.finish is None:
            if not done:
                raise self.provider._protocol_error(
                    "the stream ended before the response was complete", retryable=True
                )
            # [DONE] without a finish_reason (OpenRouter sends this): the server says the
            # answer is whole, so it ended normally
            assembler.finish = "stop"
        return assembler.result()


# --------------------------------------------------------------------------- factories


def openai_provider(model: str, **options: Unpack[ProviderOptions]) -> OpenAIProvider:
    """Build the ``openai:`` provider (``OPENAI_API_KEY``, ``OPENAI_BASE_URL``)."""
    return OpenAIProvider(model, **options)


def preset_provider(name: str, model: str, **options: Unpack[ProviderOptions]) -> OpenAIProvider:
    """Build an OpenAI-compatible preset provider by name (see :data:`PRESETS`).

    A preset reads only its own settings (``{NAME}_API_KEY``, ``{NAME}_BASE_URL``): none of
    the OpenAI-only ones (``OPENAI_ORG_ID``, ``OPENAI_PROJECT_ID``, ``OPENAI_CUSTOM_HEADERS``)
    reach its server.
    """
    info = PRESETS[name]
    key_env, url_env = info.env_vars
    return OpenAIProvider(
        model,
        backend=name,
        key_env=key_env,
        base_url_env=url_env,
        default_base_url=info.default_base_url,
        key_required=info.needs_key,
        isolated=True,
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
