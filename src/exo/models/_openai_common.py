"""What the OpenAI providers share: credentials, the SDK client, raw requests, error mapping.

Both OpenAI backends (Chat Completions and Responses) and the OpenAI-compatible presets talk
through one ``openai.AsyncOpenAI`` client per provider (``max_retries=0``: the run's retry
layer owns retries). On the raw path over exo's own lane it (and ``import openai``) is built
only when first needed: the lane sends the SDK's URL and headers prepared without it
(:mod:`exo.models._sdk_headers`); an error status builds it to raise the SDK's exception.
Every failure the SDK or the transport raises becomes an :class:`~exo.errors.ModelError`
with ``status``, ``retryable`` and ``retry_after`` set, and a message from the provider's own
error body. Every call runs within a :class:`~exo.models._transport.Watch` (deadline, idle
timeout) and under the size caps, and every error leaves through :meth:`OpenAIBase._redact`.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import sys
from collections.abc import AsyncGenerator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Self, TypedDict, Unpack

import anyio
import httpx2

if TYPE_CHECKING:
    import openai


try:
    import orjson

    def dumps(obj: Any) -> bytes:
        """Serialize ``obj`` to compact JSON bytes."""
        return orjson.dumps(obj)

    loads = orjson.loads
except ImportError:  # pragma: no cover - orjson is an optional speed-up

    def dumps(obj: Any) -> bytes:
        """Serialize ``obj`` to compact JSON bytes."""
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()

    def loads(data: bytes | bytearray | memoryview | str) -> Any:
        """Parse JSON text."""
        return json.loads(bytes(data) if isinstance(data, memoryview) else data)


from exo.errors import ConfigError, ModelError
from exo.models import _openai_stream
from exo.models._common import (
    PLACEHOLDER_KEY,
    check_client_conflict,
    parse_retry_after,
    redact,
    resolve_key,
    transport_reason,
    without_sdk_retries,
)
from exo.models._lane import Lane, LaneReply, lazy_lane
from exo.models._sdk_headers import LazyClient, loaded_sdk, openai_recipe
from exo.models._sdk_headers import base_url as sdk_base_url
from exo.models._transport import (
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_TIMEOUT,
    Reply,
    Watch,
    guard,
    guard_client,
    too_large,
)
from exo.models._wire import WireError
from exo.models.base import ModelChunk, ModelRequest, ModelResponse

# the SDK is imported when first needed (_openai), but its absence is told at once
_INSTALL_HINT = (
    "the OpenAI backends need the official 'openai' package: pip install 'exo-agents[openai]'"
)
if importlib.util.find_spec("openai") is None:  # pragma: no cover - depends on the environment
    raise ImportError(_INSTALL_HINT, name="openai")

__all__ = [
    "ERRORS",
    "PLACEHOLDER_KEY",
    "ClientOptions",
    "OpenAIBase",
    "ProviderOptions",
    "close_quietly",
    "dumps",
    "errors",
    "loads",
    "parse_retry_after",
    "to_model_error",
]

_DEFAULT_URL = "https://api.openai.com/v1"
_OPENAI_HEADERS = ("OpenAI-Organization", "OpenAI-Project")
"""Headers the SDK fills from ``OPENAI_ORG_ID`` / ``OPENAI_PROJECT_ID``: OpenAI's own."""


def _aiohttp_errors() -> tuple[type[Exception], ...]:
    """aiohttp's own error base, when aiohttp is installed (the SDK's aiohttp transport)."""
    try:
        import aiohttp
    except ImportError:  # pragma: no cover - aiohttp is optional
        return ()
    return (aiohttp.ClientError,)


_CLIENT_ERRORS = _aiohttp_errors()
"""Errors the SDK's aiohttp transport lets through unmapped: it maps only some aiohttp
errors to httpx ones, and a reply that is not valid HTTP (a header block past aiohttp's
limit, a bad status line) reaches the caller as aiohttp's ``ClientResponseError``."""

ERRORS: tuple[type[Exception], ...] = (
    httpx2.HTTPError,
    httpx2.StreamError,
    json.JSONDecodeError,
    WireError,
    *_CLIENT_ERRORS,
)
"""What the transport raises; with the SDK's own errors (:func:`errors`), every one becomes a
ModelError."""


def errors() -> tuple[type[Exception], ...]:
    """:data:`ERRORS` and, once the ``openai`` package is imported, its ``OpenAIError``.

    Evaluated in the ``except`` clause, so only when something was raised: until the SDK is
    imported nothing can raise its errors.
    """
    sdk = sys.modules.get("openai")
    return ERRORS if sdk is None else (sdk.OpenAIError, *ERRORS)


def _openai() -> Any:
    """The ``openai`` package, imported now (0.3-0.5 s the first time)."""
    import openai

    return openai


_RETRYABLE_STATUS = frozenset({408, 409, 429})
_RETRYABLE_TYPES = frozenset({"server_error", "rate_limit_exceeded", "overloaded_error", "timeout"})


class ProviderOptions(TypedDict, total=False):
    """Keyword options every OpenAI provider factory accepts (see :class:`OpenAIBase`)."""

    api_key: str | None
    base_url: str | None
    http_client: httpx2.AsyncClient | None
    client: openai.AsyncOpenAI | None
    timeout: float | None
    idle_timeout: float | None
    raw: bool
    extra_body: Mapping[str, Any] | None


class ClientOptions(ProviderOptions, total=False):
    """All keyword options of :class:`OpenAIBase`, including a backend's own defaults."""

    key_env: str
    base_url_env: str
    default_base_url: str | None
    key_required: bool
    isolated: bool


class OpenAIBase:
    """Client, credentials and settings shared by the OpenAI provider classes.

    Args:
        model: The model name.
        backend: The backend name this provider reports (``"openai"``, ``"ollama"``, …).
        api_key: The API key; defaults to the ``key_env`` environment variable.
        base_url: The API base URL; defaults to ``base_url_env``, then ``default_base_url``.
        http_client: An ``httpx2.AsyncClient`` for the SDK to use (tests pass a mock one).
            exo adds a response hook to it that enforces the size caps.
        client: A ready ``openai.AsyncOpenAI``, used as is (a copy with its own retries
            off: exo's retry layer owns retries) and never closed by us.
        timeout: Seconds one model call may spend waiting on the server in all (default
            :data:`~exo.models._transport.DEFAULT_TIMEOUT`); ``Agent(model_timeout=...)``
            overrides it per agent.
        idle_timeout: Seconds a stream may go without data (default
            :data:`~exo.models._transport.DEFAULT_IDLE_TIMEOUT`).
        key_env: The environment variable holding the API key.
        base_url_env: The environment variable overriding the base URL.
        default_base_url: The base URL when neither argument nor variable gives one
            (``None``: the SDK's default, ``https://api.openai.com/v1``).
        key_required: Whether a missing key is an error (local servers need none).
        isolated: Send none of the OpenAI-only settings the SDK reads from the environment
            (``OPENAI_ORG_ID``, ``OPENAI_PROJECT_ID``, ``OPENAI_CUSTOM_HEADERS``): set for
            the presets, whose servers are not OpenAI's.
        raw: Send pre-serialized JSON with ``AsyncOpenAI.post`` and parse the raw body with
            orjson (the default), instead of the SDK's typed ``create()`` and pydantic models.
        extra_body: Extra fields merged into every request body (``{"reasoning":
            {"effort": "low"}}``, ``{"service_tier": "flex"}``, a compat server's options).

    Raises:
        ModelError: no API key was given or found (the message names the variable to set).
        ConfigError: ``client=`` was combined with options it already fixes, or the base
            URL carries credentials (``user:password@``).
    """

    _path: ClassVar[str] = ""
    """The API path the provider posts to (``/chat/completions``, ``/responses``)."""

    def __init__(self, model: str, *, backend: str = "openai", **options: Unpack[ClientOptions]):
        self._backend = backend
        self._model = model
        self._key_env = key_env = options.get("key_env", "OPENAI_API_KEY")
        self.raw = options.get("raw", True)
        self.extra_body = options.get("extra_body")
        self._timeout = options.get("timeout") or DEFAULT_TIMEOUT
        self._idle_timeout = options.get("idle_timeout") or DEFAULT_IDLE_TIMEOUT
        self._lane: Lane | None = None
        client = options.get("client")
        if client is not None:
            check_client_conflict(
                api_key=options.get("api_key"),
                base_url=options.get("base_url"),
                http_client=options.get("http_client"),
                timeout=options.get("timeout"),
            )
            self._sdk = LazyClient(client=without_sdk_retries(client))
            self._owns_client = False
            self._secret: str = client.api_key or ""
            return
        self._secret = resolve_key(
            options.get("api_key"),
            key_env,
            required=options.get("key_required", True),
            backend=backend,
            model=model,
        )
        url = (
            options.get("base_url")
            or os.environ.get(options.get("base_url_env", "OPENAI_BASE_URL"))
            or options.get("default_base_url")
        )
        if url:
            _refuse_credentials(url)
        http_client = options.get("http_client")
        isolated = options.get("isolated", False)
        self._url = url
        self._sdk = LazyClient(lambda: self._build_client(url, http_client, isolated))
        self._owns_client = True
        if http_client is None:
            recipe = openai_recipe(
                api_key=self._secret, base_url_=url, isolated=isolated, timeout=self._timeout
            )
            self._lane = lazy_lane(self._sdk.get, recipe)
        if self._lane is None:  # the SDK's own path: the client is needed at once
            self._sdk.get()

    def _build_client(
        self, url: str | None, http_client: httpx2.AsyncClient | None, isolated: bool
    ) -> openai.AsyncOpenAI:
        """The SDK client for this provider's settings (imports the SDK)."""
        sdk = _openai()
        client: openai.AsyncOpenAI = sdk.AsyncOpenAI(
            api_key=self._secret,
            base_url=url,
            max_retries=0,
            timeout=self._timeout,
            http_client=guard_client(http_client or _default_http_client()),
            default_headers=_isolation_headers() if isolated else None,
        )
        return client

    @property
    def _client(self) -> openai.AsyncOpenAI:
        """The SDK client, built (and the SDK imported) on first use."""
        client: openai.AsyncOpenAI = self._sdk.get()
        return client

    @property
    def backend(self) -> str:
        """The backend name, as in ``"backend:model"``."""
        return self._backend

    @property
    def model(self) -> str:
        """The model name, as in ``"backend:model"``."""
        return self._model

    @property
    def base_url(self) -> str:
        """The API base URL requests go to."""
        client = self._sdk.built
        if client is None:  # as the SDK would set it, without building the client
            return str(sdk_base_url(self._url or os.environ.get("OPENAI_BASE_URL"), _DEFAULT_URL))
        return str(client.base_url)

    @property
    def client(self) -> openai.AsyncOpenAI:
        """The shared ``openai.AsyncOpenAI`` client."""
        return self._client

    def with_model(self, model: str) -> Self:
        """Return a provider for another model, sharing this one's client and settings."""
        twin = copy.copy(self)
        twin._model = model
        return twin

    async def aclose(self) -> None:
        """Close the HTTP client (shared with the copies made by :meth:`with_model`).

        A client handed in with ``client=`` belongs to the caller and stays open.
        """
        if self._lane is not None:
            await self._lane.aclose()
        client = self._sdk.built
        if self._owns_client and client is not None:
            await client.close()

    def __repr__(self) -> str:
        raw = "" if self.raw else ", raw=False"
        return (
            f"{type(self).__name__}(backend={self._backend!r}, model={self._model!r}, "
            f"base_url={self.base_url!r}{raw})"
        )

    def _watch(self, request: ModelRequest) -> Watch:
        """The time budget of one call: the request's settings, else this provider's."""
        settings = request.settings
        return Watch(
            settings.timeout or self._timeout,
            settings.idle_timeout or self._idle_timeout,
            backend=self._backend,
            model=self._model,
        )

    async def _send(self, path: str, body: Mapping[str, Any], seconds: float) -> Reply:
        """POST pre-serialized JSON; return the unread response, its body under the size caps.

        Over exo's own lane when there is one (the SDK's URL and headers); else through the
        SDK client, which still builds the request (auth, headers) and turns an error status
        into its exception: only its parameter transformation and response models are skipped.
        """
        if self._lane is not None:
            return await self._lane.post(path, dumps(body))
        response = await self._client.post(
            path,
            cast_to=httpx2.Response,
            content=dumps(body),
            stream=True,
            options={"timeout": seconds},
        )
        return guard(response)

    async def _fetch(self, path: str, body: Mapping[str, Any], watch: Watch) -> bytes:
        """POST and read a whole (non-streamed) body: one wait within the call's deadline."""
        return await watch.wait(self._send_and_read(path, body, watch.timeout), idle=False)

    async def _send_and_read(self, path: str, body: Mapping[str, Any], seconds: float) -> bytes:
        response = await self._send(path, body, seconds)
        try:
            return await response.aread()
        except BaseException:
            await close_quietly(response)
            raise

    async def _read(self, response: Reply, watch: Watch) -> bytes:
        """Read a whole (non-streamed) body within the call's deadline and the size caps."""
        try:
            return await watch.wait(response.aread(), idle=False)
        except BaseException:
            await close_quietly(response)
            raise

    def _error(self, exc: BaseException) -> ModelError:
        """The ModelError for a failure the SDK or the transport raised, chained to it.

        Raise the result outside the ``except`` block (so that it carries no
        ``__context__`` besides its cause), through :meth:`_redact` like every error.
        """
        error = to_model_error(exc, backend=self._backend, model=self._model, key_env=self._key_env)
        error.__cause__ = exc
        error.__suppress_context__ = True
        return error

    def _redact(self, error: ModelError) -> ModelError:
        """Cut the API key out of ``error`` and its chain (every error leaves through here)."""
        client = self._sdk.built
        return redact(error, (self._secret, client.api_key if client is not None else ""))

    def _event_error(self, body: object) -> ModelError:
        """The error an ``error`` event (or a failed response) inside a stream reports."""
        message, code, kind = _body_message(body, "the server reported an error mid-stream")
        if code and code not in message:
            message = f"{message} (code: {code})"
        return ModelError(
            message,
            backend=self._backend,
            model=self._model,
            retryable=kind in _RETRYABLE_TYPES or code in _RETRYABLE_TYPES,
        )

    def _protocol_error(
        self, message: str, *, retryable: bool = False, hint: str | None = None
    ) -> ModelError:
        return ModelError(
            message, backend=self._backend, model=self._model, retryable=retryable, hint=hint
        )

    def _check_stream_type(self, response: Reply) -> bool:
        """Whether a streamed call got JSON instead of events; refuse a web page outright."""
        kind = response.headers.get("content-type", "")
        if "html" in kind:
            raise self._protocol_error(
                f"expected an event stream, got a web page ({kind})",
                hint=f"check the base URL ({self.base_url}): it should be the API's, ending in /v1",
            )
        return "json" in kind

    def _json(self, data: bytes) -> dict[str, Any]:
        """Parse one JSON object from the server; anything else is a ModelError that says so."""
        try:
            value = loads(data)
        except ValueError:
            raise self._protocol_error(
                f"malformed data from the server (not JSON): {data[:200]!r}",
            ) from None
        if not isinstance(value, dict):
            raise self._protocol_error(f"malformed data from the server: {data[:200]!r}")
        return value

    def _body(self, request: ModelRequest, *, stream: bool) -> dict[str, Any]:
        """The request body for ``request`` (each API's own)."""
        raise NotImplementedError

    def _stream_state(self) -> _openai_stream.StreamState:
        """A new reader of this API's stream events (each API's own)."""
        raise NotImplementedError

    def _whole_answer(self, content: bytes) -> ModelResponse:
        """The response of a streamed call answered with one JSON body (each API's own)."""
        raise NotImplementedError

    def _read_stream(self, response: Reply, watch: Watch) -> AsyncGenerator[ModelChunk, None]:
        """Read a streamed response: deltas as they come, then the whole response."""
        return _openai_stream.read_stream(self, response, watch)

    def _stream_raw(self, request: ModelRequest) -> AsyncGenerator[ModelChunk, None]:
        """A streamed call on the raw path: POST, then read the events with exo's reader."""
        return _openai_stream.stream_raw(self, request)


async def close_quietly(response: Any) -> None:
    """Close a response or SDK stream, even inside a cancelled scope."""
    if type(response) is LaneReply:
        response.close()  # never waits: nothing to shield
        return
    with anyio.CancelScope(shield=True):
        await response.aclose()


def _isolation_headers() -> Mapping[str, str]:
    """Default headers that drop what the SDK took from OpenAI-only environment variables.

    The SDK fills ``OpenAI-Organization`` / ``OpenAI-Project`` from ``OPENAI_ORG_ID`` /
    ``OPENAI_PROJECT_ID`` and adds the headers of ``OPENAI_CUSTOM_HEADERS``, whatever the base
    URL; an omitted default header is not sent. Authorization stays ours.
    """
    names = list(_OPENAI_HEADERS)
    for line in os.environ.get("OPENAI_CUSTOM_HEADERS", "").split("\n"):
        name = line.partition(":")[0].strip()
        if name and ":" in line and name.lower() != "authorization":
            names.append(name)
    omitted: dict[str, Any] = dict.fromkeys(names, _openai().Omit())
    return omitted


def _refuse_credentials(url: str) -> None:
    """Refuse a base URL carrying ``user:password@``, without repeating the password.

    The key goes out as ``Authorization: Bearer``: aiohttp refuses to combine that header
    with URL credentials (a raw ``ValueError`` at the first call), and httpx would replace
    the key with Basic auth (every call refused as unauthenticated).
    """
    parsed = httpx2.URL(url)
    if parsed.userinfo:
        shown = parsed.copy_with(userinfo=b"")
        raise ConfigError(
            f"the base URL {shown} carries credentials (user:password@), which cannot be "
            "sent together with the API key",
            parameter="base_url",
            hint="remove the credentials from the URL (and OPENAI_BASE_URL or the preset's "
            "*_BASE_URL variable); a gateway's token goes in api_key=",
        )


def _default_http_client() -> httpx2.AsyncClient:
    """The SDK's aiohttp-based client when aiohttp is installed, else its httpx one."""
    sdk = _openai()
    try:
        import aiohttp  # noqa: F401

        client: httpx2.AsyncClient = sdk.DefaultAioHttpClient()
    except (ImportError, RuntimeError):  # no aiohttp, or the SDK lacks its aiohttp extra
        client = sdk.DefaultAsyncHttpxClient()
    return client


# --------------------------------------------------------------------------- errors


def _body_message(body: object, fallback: str) -> tuple[str, str | None, str | None]:
    """Message, code and type from an OpenAI error body (``{message, type, code, param}``)."""
    if isinstance(body, Mapping):
        message = body.get("message")
        code, kind = body.get("code"), body.get("type")
        text = message if isinstance(message, str) and message else fallback
        return text.strip(), str(code) if code else None, str(kind) if kind else None
    if isinstance(body, str) and body.strip():
        return body.strip()[:500], None, None
    return fallback, None, None


def _status_hint(status: int, code: str | None, key_env: str) -> str | None:
    if status == 401:
        return f"check {key_env}: set it to a valid API key for this server"
    if status == 403:
        return "the key has no access to this model or endpoint"
    if status == 404:
        return "check the model name and the base URL"
    if status == 429 and code == "insufficient_quota":
        return "the account is out of quota: check your plan and billing details"
    return None


def to_model_error(exc: BaseException, *, backend: str, model: str, key_env: str) -> ModelError:
    """Translate an SDK or transport exception into a :class:`ModelError`."""
    limit = too_large(exc)
    if limit is not None:  # not retried: the same server would send the same again
        return ModelError(str(limit), backend=backend, model=model)
    sdk = loaded_sdk("openai")  # an SDK error exists only once the SDK is imported
    status: int | None = None
    retryable = False
    retry_after: float | None = None
    hint: str | None = None
    if isinstance(exc, sdk.APIStatusError):
        status = exc.status_code
        message, code, kind = _body_message(exc.body, exc.message)
        headers = exc.response.headers
        retryable = status in _RETRYABLE_STATUS or status >= 500
        if code == "insufficient_quota":
            retryable = False
        should_retry = headers.get("x-should-retry")
        if should_retry in ("true", "false"):
            retryable = should_retry == "true"
        retry_after = parse_retry_after(headers)
        hint = _status_hint(status, code, key_env)
    elif isinstance(exc, sdk.APITimeoutError | httpx2.TimeoutException):
        # the SDK's aiohttp transport reports a dropped connection as a timeout too
        reason = transport_reason(exc)
        message, code, retryable = f"timed out or lost the connection ({reason})", None, True
    elif isinstance(exc, (sdk.APIConnectionError, httpx2.TransportError, *_CLIENT_ERRORS)):
        message, code, retryable = f"connection failed: {transport_reason(exc)}", None, True
    elif isinstance(exc, WireError):  # a 200 in the wrong shape: the same bytes would fail again
        message, code = f"malformed response from the server: {exc}", None
    elif isinstance(exc, ValueError):  # the SDK path met an event that is not JSON
        message, code = f"malformed data from the server (not JSON): {exc}", None
    elif isinstance(exc, sdk.APIError):  # an error event inside a stream
        message, code, kind = _body_message(exc.body, exc.message)
        retryable = kind in _RETRYABLE_TYPES or code in _RETRYABLE_TYPES
    else:
        message, code = f"{type(exc).__name__}: {exc}", None
    if code and code not in message:
        message = f"{message} (code: {code})"
    return ModelError(
        message,
        backend=backend,
        model=model,
        status=status,
        retryable=retryable,
        retry_after=retry_after,
        hint=hint,
    )
