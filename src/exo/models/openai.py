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
  transformation and pydantic response models. Kept as the reference and for comparison
  (see ``benchmarks/provider_overhead.py``).
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
    finish_reason,
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
from exo.models._transport import guard
from exo.models.base import (
    ModelChunk,
    ModelRequest,
    ModelResponse,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
)
from exo.types import AssistantMessage, ReasoningBlock, ToolCall, Usage

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
        max_tokens_param: MaxTokensParam | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        super().__init__(model, backend=backend, **options)
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
        )

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """Make one Chat Completions call and return the whole response."""
        watch = self._watch(request)
        body = self._body(request, stream=False)
        try:
            if not self.raw:
                completion = await watch.wait(
                    self._client.chat.completions.create(**body, timeout=watch.timeout),
                    idle=False,
                )
                return self._from_sdk(completion)
            response = await self._post_raw(_PATH, body, watch, stream=False)
            data = await self._read(response, watch)
            return parse_completion(self._json(data), backend=self._backend, model=self._model)
        except ModelError as error:
            failure = error
        except ERRORS as exc:
            failure = self._error(exc)
        raise self._redact(failure)  # outside the except block: see OpenAIBase._error

    def stream(self, request: ModelRequest) -> AsyncGenerator[ModelChunk, None]:
        """Make one streamed call: text and tool-call deltas, then the assembled response."""
        return self._stream_raw(request) if self.raw else self._stream_sdk(request)

    # ------------------------------------------------------------------- raw path

    async def _stream_raw(self, request: ModelRequest) -> AsyncGenerator[ModelChunk, None]:
        watch = self._watch(request)
        body = self._body(request, stream=True)
        response: httpx2.Response | None = None
        failure: ModelError | None = None
        try:
            response = await self._post_raw(_PATH, body, watch, stream=True)
            if self._check_stream_type(response):
                # a server that ignored stream=true and answered in one piece
                for item in self._replay(await self._read(response, watch)):
                    yield item
                return
            assembler = ChatAssembler(backend=self._backend, model=self._model)
            reader = SSEReader(response, watch)
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
            if not reader.done and assembler.finish is None:
                raise self._protocol_error(
                    "the stream ended before the response was complete", retryable=True
                )
            yield assembler.result()
        except ModelError as error:
            failure = error
        except ERRORS as exc:
            failure = self._error(exc)
        finally:
            if response is not None:
                await close_quietly(response)
        if failure is not None:
            raise self._redact(failure)

    def _replay(self, content: bytes) -> list[ModelChunk]:
        final = parse_completion(self._json(content), backend=self._backend, model=self._model)
        items: list[ModelChunk] = []
        if final.message.content:
            items.append(TextDelta(text=final.message.content))
        for i, call in enumerate(final.message.tool_calls):
            items.append(
                ToolCallDelta(index=i, id=call.id, name=call.name, arguments=call.arguments)
            )
        items.append(final)
        return items

    # ------------------------------------------------------------------- SDK path

    def _from_sdk(self, completion: Any) -> ModelResponse:
        if not completion.choices:
            raise self._protocol_error("the response has no choices")
        choice = completion.choices[0]
        msg = choice.message
        calls = [
            ToolCall(id=c.id, name=fn.name, arguments=fn.arguments or "{}")
            for c in msg.tool_calls or ()
            if (fn := getattr(c, "function", None)) is not None
        ]
        thought = getattr(msg, "reasoning_content", None) or getattr(msg, "reasoning", None)
        reasoning: list[ReasoningBlock] = []
        if isinstance(thought, str) and thought:
            reasoning.append(ReasoningBlock(text=thought, provider=self._backend))
        return ModelResponse(
            message=AssistantMessage(
                content=msg.content or msg.refusal or "", tool_calls=calls, reasoning=reasoning
            ),
            usage=_sdk_usage(completion.usage),
            finish_reason=finish_reason(choice.finish_reason, bool(calls)),
            model=completion.model or self._model,
            id=completion.id,
        )

    async def _stream_sdk(self, request: ModelRequest) -> AsyncGenerator[ModelChunk, None]:
        watch = self._watch(request)
        body = self._body(request, stream=True)
        assembler = ChatAssembler(backend=self._backend, model=self._model)
        stream: Any = None
        out: list[Delta] = []
        failure: ModelError | None = None
        try:
            stream = await watch.wait(
                self._client.chat.completions.create(**body, timeout=watch.timeout)
            )
            guard(stream.response)
            while True:
                try:
                    chunk = await watch.wait(anext(stream))
                except StopAsyncIteration:
                    break
                watch.progress()
                _feed_sdk(chunk, assembler, out)
                for delta in out:
                    yield delta
                out.clear()
            if assembler.finish is None:
                raise self._protocol_error(
                    "the stream ended before the response was complete", retryable=True
                )
            yield assembler.result()
        except ModelError as error:
            failure = error
        except ERRORS as exc:
            failure = self._error(exc)
        finally:
            if stream is not None:
                await close_quietly(stream)
        if failure is not None:
            raise self._redact(failure)


def _feed_sdk(chunk: Any, assembler: ChatAssembler, out: list[Delta]) -> None:
    """Feed one SDK ``ChatCompletionChunk`` (typed attributes) to the assembler."""
    if assembler.id is None:
        assembler.id = chunk.id
        assembler.model = chunk.model or assembler.model
    if chunk.usage is not None:
        assembler.usage = _sdk_usage(chunk.usage)
    for choice in chunk.choices:
        if choice.index != 0:
            continue
        delta = choice.delta
        if delta.content:
            assembler.text.append(delta.content)
            out.append(TextDelta(text=delta.content))
        thought = getattr(delta, "reasoning_content", None) or getattr(delta, "reasoning", None)
        if isinstance(thought, str) and thought:
            assembler.reasoning.append(thought)
            out.append(ReasoningDelta(text=thought))
        if delta.refusal:
            assembler.refusal.append(delta.refusal)
        for call in delta.tool_calls or ():
            fn = call.function
            assembler.tool_piece(
                call.index, call.id, fn.name if fn else None, fn.arguments if fn else None, out
            )
        if choice.finish_reason:
            assembler.finish = choice.finish_reason


def _sdk_usage(usage: Any) -> Usage:
    if usage is None:
        return Usage(requests=1)
    prompt, completion = usage.prompt_tokens_details, usage.completion_tokens_details
    return Usage(
        requests=1,
        input_tokens=usage.prompt_tokens or 0,
        output_tokens=usage.completion_tokens or 0,
        cache_read_tokens=(prompt.cached_tokens or 0) if prompt else 0,
        reasoning_tokens=(completion.reasoning_tokens or 0) if completion else 0,
    )


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
