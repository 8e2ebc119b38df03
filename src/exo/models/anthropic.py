"""The Anthropic backend: the Messages API through the official ``anthropic`` SDK.

``"anthropic:claude-sonnet-4-6"`` resolves to :func:`anthropic_provider`, which reads
``ANTHROPIC_API_KEY`` (required) and ``ANTHROPIC_BASE_URL`` (optional). Build
:class:`AnthropicProvider` yourself for anything else: an explicit key or base URL, your own
``httpx2.AsyncClient`` or ``AsyncAnthropic``, a timeout, a default ``max_tokens``, extended
thinking, or extra request fields.

Every call goes through the SDK client (auth, headers, base URL, error types), built with
``max_retries=0`` (a ``client=`` of yours is used as a copy with its retries off): retries
belong to the run (``exo._retry``). Every call is bounded by a deadline, an idle timeout and
size caps (``exo.models._transport``), and every error passes through one redaction of the
API key (``exo.models._common.redact``). Two call paths exist:

* ``raw=True`` (the default): the body is serialized with orjson and posted over exo's own
  aiohttp session with the SDK's URL and headers, prepared once without importing the SDK
  (:mod:`exo.models._lane`, :mod:`exo.models._sdk_headers`; the SDK is imported for the
  first error status, to raise its own exception;
  ``client.post(..., cast_to=httpx2.Response)`` with ``http_client=`` or ``client=``); the
  JSON or SSE bytes are parsed with
  orjson straight into exo types. This skips the SDK's request walk and its pydantic
  response models, whose cost grows with the conversation.
* ``raw=False``: ``client.messages.create(...)``, whose response is read as the JSON object
  the SDK's (unvalidated) model holds, by the same checked parser as the lean path; streams
  are sent by the SDK (``with_streaming_response``) and read by the lean path's event reader,
  so both paths see the same events (an ``error:`` line, an error told by its event name
  or its type) without an SDK model per event.

Both pass every recorded cassette; ``benchmarks/anthropic_overhead.py`` measures them.
"""

from __future__ import annotations

import copy
import importlib.util
import os
from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

try:
    import httpx2
    import orjson

    # the SDK itself is imported only when first needed (see _build_client)
    if importlib.util.find_spec("anthropic") is None:
        raise ImportError("anthropic", name="anthropic")
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        f"the anthropic backend needs {exc.name or 'the anthropic SDK'}: "
        "pip install 'exo-agents[anthropic]'",
        name=exc.name,
    ) from exc

if TYPE_CHECKING:
    import anthropic

from exo.errors import ConfigError, ModelError
from exo.models._anthropic_convert import (
    BACKEND,
    build_body,
    response_from_dict,
)
from exo.models._anthropic_errors import from_exception, from_stream_error, sdk_errors
from exo.models._anthropic_stream import StreamAssembler, feed_dict
from exo.models._common import check_client_conflict, redact, resolve_key, without_sdk_retries
from exo.models._lane import Lane, lazy_lane
from exo.models._openai_sse import SSEReader
from exo.models._sdk_headers import LazyClient, anthropic_recipe
from exo.models._sdk_headers import base_url as sdk_base_url
from exo.models._transport import (
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_TIMEOUT,
    Reply,
    Watch,
    guard,
    guard_client,
    sdk_stream,
)
from exo.models._wire import WireError, describe, replay, sdk_dict
from exo.models.base import ModelChunk, ModelRequest, ModelResponse, Provider

__all__ = ["DEFAULT_MAX_TOKENS", "DEFAULT_TIMEOUT", "AnthropicProvider", "anthropic_provider"]

DEFAULT_MAX_TOKENS = 8192
"""``max_tokens`` sent when neither the agent nor the provider sets one.

The Messages API requires the field. 8192 is accepted by every current Claude model (the
legacy Claude 3 Haiku/Opus/Sonnet cap at 4096 and get 4096), leaves room for long answers
and tool arguments, and stays far below the size past which the SDK insists on streaming.
"""

_PATH = "/v1/messages"
_DEFAULT_URL = "https://api.anthropic.com"
_LEGACY_4096 = ("claude-3-haiku", "claude-3-opus", "claude-3-sonnet")


def default_max_tokens(model: str) -> int:
    """The ``max_tokens`` used for ``model`` when nothing else sets it."""
    return 4096 if model.startswith(_LEGACY_4096) else DEFAULT_MAX_TOKENS


class AnthropicProvider:
    """A :class:`~exo.models.base.Provider` for one Claude model.

    Args:
        model: The model name, e.g. ``"claude-sonnet-4-6"``.
        api_key: The API key; defaults to ``ANTHROPIC_API_KEY``. Never shown by ``repr()``.
        base_url: The API base URL; defaults to ``ANTHROPIC_BASE_URL``, then the SDK's.
        http_client: An ``httpx2.AsyncClient`` for the SDK to use. By default the SDK's
            aiohttp client when ``aiohttp`` is installed (faster under concurrency), else
            the SDK's default httpx client.
        client: A ready ``anthropic.AsyncAnthropic``; excludes the four options above. It is
            used as a copy with its own retries off (exo's retry layer owns retries), and
            ``aclose()`` leaves it open: it is yours.
        timeout: Seconds one call may spend waiting on the server in all (default
            :data:`~exo.models._transport.DEFAULT_TIMEOUT`); ``Agent(model_timeout=...)``
            overrides it per agent.
        idle_timeout: Seconds a stream may go without data (default
            :data:`~exo.models._transport.DEFAULT_IDLE_TIMEOUT`).
        max_tokens: ``max_tokens`` when the agent sets none (see :data:`DEFAULT_MAX_TOKENS`).
        thinking: Extended thinking configuration sent with every request, e.g.
            ``{"type": "enabled", "budget_tokens": 2048}`` or ``{"type": "adaptive"}``.
        extra_body: Further top-level request fields (``tool_choice``, ``metadata``,
            ``output_config``, ``cache_control``…), sent as given.
        raw: Use the lean path (orjson in and out) rather than the SDK's typed models.

    Raises:
        ModelError: no API key was given and ``ANTHROPIC_API_KEY`` is not set.
        ConfigError: ``client=`` was combined with options it already fixes.
    """

    __slots__ = (
        "_extra",
        "_idle_timeout",
        "_lane",
        "_max_tokens",
        "_max_tokens_option",
        "_model",
        "_owns_client",
        "_raw",
        "_sdk",
        "_secrets",
        "_thinking",
        "_timeout",
        "_url",
    )

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        http_client: httpx2.AsyncClient | None = None,
        client: anthropic.AsyncAnthropic | None = None,
        timeout: float | None = None,
        idle_timeout: float | None = None,
        max_tokens: int | None = None,
        thinking: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        raw: bool = True,
    ) -> None:
        if max_tokens is not None and max_tokens < 1:
            raise ConfigError(
                f"max_tokens must be at least 1, got {max_tokens}", parameter="max_tokens"
            )
        self._model = model
        self._max_tokens_option = max_tokens
        self._max_tokens = max_tokens or default_max_tokens(model)
        self._thinking = dict(thinking) if thinking is not None else None
        self._extra = dict(extra_body) if extra_body else None
        self._raw = raw
        self._timeout = timeout or DEFAULT_TIMEOUT
        self._idle_timeout = idle_timeout or DEFAULT_IDLE_TIMEOUT
        if client is not None:
            check_client_conflict(
                api_key=api_key, base_url=base_url, http_client=http_client, timeout=timeout
            )
            self._sdk = LazyClient(client=without_sdk_retries(client))
            self._secrets = tuple(s for s in (client.api_key, client.auth_token) if s)
            self._owns_client = False
            self._lane: Lane | None = None
            self._url = None
        else:
            key = resolve_key(
                api_key, "ANTHROPIC_API_KEY", required=True, backend=BACKEND, model=model
            )
            url = self._url = base_url or os.environ.get("ANTHROPIC_BASE_URL") or None
            timeout_ = self._timeout
            self._sdk = LazyClient(lambda: _build_client(key, url, http_client, timeout_))
            self._secrets = (key,)
            self._owns_client = True
            self._lane = None
            if http_client is None:
                recipe = anthropic_recipe(api_key=key, base_url_=url, timeout=self._timeout)
                self._lane = lazy_lane(self._sdk.get, recipe)
            if self._lane is None:  # the SDK's own path: the client is needed at once
                self._sdk.get()

    @property
    def backend(self) -> str:
        """``"anthropic"``."""
        return BACKEND

    @property
    def model(self) -> str:
        """The model name."""
        return self._model

    @property
    def client(self) -> anthropic.AsyncAnthropic:
        """The SDK client (shared with the copies made by :meth:`with_model`)."""
        return self._client

    @property
    def _client(self) -> anthropic.AsyncAnthropic:
        """The SDK client, built (and the SDK imported) on first use."""
        client: anthropic.AsyncAnthropic = self._sdk.get()
        return client

    def __repr__(self) -> str:
        path = "raw" if self._raw else "sdk"
        url = self._public_url()
        return f"AnthropicProvider(model={self._model!r}, base_url={url!r}, path={path!r})"

    @property
    def base_url(self) -> str:
        """The API base URL (without any user:password part)."""
        return self._public_url()

    def _public_url(self) -> str:
        """The base URL without any user:password part, fit for logs and messages."""
        client = self._sdk.built
        url = client.base_url if client is not None else sdk_base_url(self._url, _DEFAULT_URL)
        return str(url.copy_with(userinfo=b"") if url.userinfo else url)

    def with_model(self, model: str) -> AnthropicProvider:
        """Return a provider for ``model`` sharing this one's client, key, URL and settings."""
        clone = copy.copy(self)
        clone._model = model
        clone._max_tokens = self._max_tokens_option or default_max_tokens(model)
        return clone

    async def aclose(self) -> None:
        """Close the SDK client and its HTTP connections (unless it was passed in)."""
        if self._lane is not None:
            await self._lane.aclose()
        client = self._sdk.built
        if self._owns_client and client is not None:
            await client.close()

    def _body(self, request: ModelRequest) -> dict[str, Any]:
        return build_body(
            request,
            model=self._model,
            max_tokens=self._max_tokens,
            thinking=self._thinking,
            extra=self._extra,
        )

    def _watch(self, request: ModelRequest) -> Watch:
        settings = request.settings
        return Watch(
            settings.timeout or self._timeout,
            settings.idle_timeout or self._idle_timeout,
            backend=BACKEND,
            model=self._model,
        )

    def _fail(self, exc: BaseException, partial_text: str = "") -> ModelError:
        """The ModelError for a failure the SDK or the transport raised, chained to it."""
        error = from_exception(
            exc, self._model, base_url=self._public_url(), partial_text=partial_text
        )
        error.__cause__, error.__suppress_context__ = exc, True
        return error

    def _redact(self, error: ModelError) -> ModelError:
        """Cut the API key out of ``error`` and its chain (every error leaves through here)."""
        return redact(error, self._secrets)

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """Make one Messages API call and return the whole response.

        Raises:
            ModelError: the call failed (``retryable`` and ``retry_after`` set).
        """
        watch = self._watch(request)
        body = self._body(request)
        try:
            if self._raw:
                return self._whole(await self._post_and_read(body, watch))
            message = await watch.wait(self._sdk_create(body, watch, stream=False), idle=False)
            return self._whole(sdk_dict(message))
        except ModelError as error:
            failure = error
        # ValueError: the SDK refuses non-streamed calls it expects to outlast its timeout,
        # and WireError (a ValueError) is a response in the wrong shape.
        except sdk_errors(httpx2.HTTPError, ValueError) as exc:
            failure = self._fail(exc)
        # raised outside the except block: it carries its cause and nothing else
        raise self._redact(failure)

    def _whole(self, body: bytes | dict[str, Any]) -> ModelResponse:
        """The response a whole JSON body holds (also a streaming request's, answered so)."""
        data = _object(body) if isinstance(body, bytes) else body
        if data.get("type") == "error":
            raise from_stream_error(data, self._model)
        return response_from_dict(data, self._model)

    async def _post_and_read(self, body: dict[str, Any], watch: Watch) -> bytes:
        """POST and read a whole body: one wait within the call's deadline."""
        return await watch.wait(self._send_and_read(body, watch.timeout), idle=False)

    async def _send_and_read(self, body: dict[str, Any], seconds: float) -> bytes:
        response = await self._send(body, seconds)
        try:
            return await response.aread()
        except BaseException:
            await response.aclose()
            raise

    async def _send(self, body: dict[str, Any], seconds: float) -> Reply:
        """POST the body (orjson); return the unread response, under the size caps."""
        if self._lane is not None:  # exo's own session, the SDK's URL and headers
            return await self._lane.post(_PATH, orjson.dumps(body))
        sent: httpx2.Response = await self._client.post(
            _PATH,
            cast_to=httpx2.Response,
            content=orjson.dumps(body),
            stream=True,
            options={"timeout": seconds},
        )
        return guard(sent)

    def stream(self, request: ModelRequest) -> AsyncGenerator[ModelChunk, None]:
        """Make one streamed call: text, reasoning and tool-call deltas, then the response.

        Closing the generator early (or cancelling its task) closes the HTTP response.

        Raises:
            ModelError: the call or the stream failed; ``partial_text`` keeps what streamed.
        """
        # One generator per path, so that each chunk crosses a single generator frame.
        return self._stream_raw(request) if self._raw else self._stream_sdk(request)

    def _answered_whole(self, response: Reply) -> bool:
        """Whether a streamed call got one JSON body; a web page is refused outright.

        A web page means the base URL points at a site, not at the API: the same page would
        come again, so it is not retried (read as events, it was a retried "stream ended").
        """
        kind = response.headers.get("content-type", "")
        if "html" in kind:
            raise ModelError(
                f"expected an event stream, got a web page ({kind})",
                backend=BACKEND,
                model=self._model,
                hint=f"check the base URL ({self._public_url()}): it should be the API's, "
                "without /v1",
            )
        return "json" in kind

    async def _stream_raw(self, request: ModelRequest) -> AsyncGenerator[ModelChunk, None]:
        # the read loop of _read_stream, inlined: a delta crosses this generator frame only
        watch = self._watch(request)
        body = self._body(request)
        body["stream"] = True
        asm = StreamAssembler(self._model)
        failure: ModelError | None = None
        response: Reply | None = None
        try:
            response = await watch.read(self._send(body, watch.timeout))
            if self._answered_whole(response):
                # a server that ignored stream=true and answered in one piece
                whole = self._whole(await watch.wait(response.aread(), idle=False))
                for item in replay(whole):
                    yield item
            else:
                reader = SSEReader(response, watch)
                try:
                    while (events := await reader.next()) is not None:
                        for name, data in events:
                            chunk = self._event(asm, name, data)
                            if chunk is not None:
                                yield chunk
                finally:
                    await reader.aclose()
                yield asm.response()
        except ModelError as error:
            failure = error
        except sdk_errors(httpx2.HTTPError, WireError) as exc:
            failure = self._fail(exc, asm.text)
        finally:
            watch.close()
            if response is not None:
                await response.aclose()
        if failure is not None:
            raise self._redact(failure)  # outside the except block: see complete()

    async def _stream_sdk(self, request: ModelRequest) -> AsyncGenerator[ModelChunk, None]:
        # The SDK builds and sends the request; its events are read by exo's reader, as on
        # the OpenAI backends: one reader for both paths (an `error:` line, an error event
        # told by its name or its type), and no SDK event model per event.
        watch = self._watch(request)
        asm = StreamAssembler(self._model)
        failure: ModelError | None = None
        try:
            arguments = self._sdk_arguments(self._body(request), watch, stream=True)
            manager = self._client.messages.with_streaming_response.create(**arguments)
            async with (
                sdk_stream(manager, watch) as http_response,
                aclosing(self._read_stream(http_response, watch, asm)) as items,
            ):
                async for item in items:
                    yield item
        except ModelError as error:
            failure = error
        # ValueError: the SDK refuses calls it expects to outlast its timeout
        except sdk_errors(httpx2.HTTPError, ValueError) as exc:
            failure = self._fail(exc, asm.text)
        finally:
            watch.close()  # the stream's timer (Watch.read)
        if failure is not None:
            raise self._redact(failure)  # outside the except block: see complete()

    async def _read_stream(
        self, response: Reply, watch: Watch, asm: StreamAssembler
    ) -> AsyncGenerator[ModelChunk, None]:
        """Read a streamed response into ``asm``: its chunks as they come, then the response."""
        if self._answered_whole(response):
            # a server that ignored stream=true and answered in one piece
            whole = self._whole(await watch.wait(response.aread(), idle=False))
            for item in replay(whole):
                yield item
            return
        reader = SSEReader(response, watch)
        try:
            while (events := await reader.next()) is not None:
                for name, data in events:
                    chunk = self._event(asm, name, data)
                    if chunk is not None:
                        yield chunk
        finally:
            await reader.aclose()
        yield asm.response()

    def _event(self, asm: StreamAssembler, name: str | None, data: bytes) -> ModelChunk | None:
        """Feed one stream event to ``asm``; return its chunk, if any."""
        event = _object(data)
        if name == "error":  # whatever its data's type says
            raise from_stream_error(event, self._model, partial_text=asm.text)
        return feed_dict(asm, event)

    async def _sdk_create(self, body: dict[str, Any], watch: Watch, *, stream: bool) -> Any:
        """Call ``messages.create`` with :meth:`_sdk_arguments`."""
        return await self._client.messages.create(**self._sdk_arguments(body, watch, stream=stream))

    @staticmethod
    def _sdk_arguments(body: dict[str, Any], watch: Watch, *, stream: bool) -> dict[str, Any]:
        """``messages.create``'s arguments; fields its signature lacks go in ``extra_body``."""
        rest = dict(body)
        typed: dict[str, Any] = {
            k: rest.pop(k) for k in ("system", "tools", "thinking", "tool_choice") if k in rest
        }
        return {
            "model": rest.pop("model"),
            "max_tokens": rest.pop("max_tokens"),
            "messages": rest.pop("messages"),
            "stream": stream,
            "timeout": watch.timeout,
            "extra_body": rest or None,
            **typed,
        }


def _object(data: bytes) -> dict[str, Any]:
    """Parse one JSON object the server sent (WireError for anything else)."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise WireError(f"the server sent data that is not JSON: {data[:200]!r}") from None
    if not isinstance(value, dict):
        raise WireError(f"the server sent {describe(value)}, not a JSON object")
    return value


def _build_client(
    key: str, base_url: str | None, http_client: httpx2.AsyncClient | None, timeout: float
) -> anthropic.AsyncAnthropic:
    """The SDK client for these settings (imports the SDK: 0.3-0.5 s the first time)."""
    import anthropic

    if http_client is None:
        try:
            http_client = anthropic.DefaultAioHttpClient()
        except RuntimeError:  # aiohttp is not installed: the SDK's httpx client will do
            http_client = anthropic.DefaultAsyncHttpxClient()
    return anthropic.AsyncAnthropic(
        api_key=key,
        base_url=base_url,
        http_client=guard_client(http_client),
        timeout=timeout,
        max_retries=0,
    )


def anthropic_provider(model: str) -> Provider:
    """Build the provider for ``"anthropic:<model>"`` from the environment.

    Raises:
        ModelError: ``ANTHROPIC_API_KEY`` is not set.
    """
    return AnthropicProvider(model)
