"""What the OpenAI providers share: credentials, the SDK client, raw requests, error mapping.

Both OpenAI backends (Chat Completions and Responses) and the OpenAI-compatible presets talk
through one ``openai.AsyncOpenAI`` client per provider, built with ``max_retries=0`` (the
run's retry layer owns retries) and, when aiohttp is installed, the SDK's aiohttp transport.
Every failure the SDK or the transport raises becomes an :class:`~exo.errors.ModelError`
with ``status``, ``retryable`` and ``retry_after`` set, and a message from the provider's own
error body.
"""

from __future__ import annotations

import copy
import email.utils
import json
import os
import time
from collections.abc import Mapping
from typing import Any, Self, TypedDict, Unpack

import anyio
import httpx2

try:
    import openai
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "the OpenAI backends need the official 'openai' package: pip install 'exo-agents[openai]'"
    ) from exc

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
from exo.models._common import transport_reason
from exo.models._wire import WireError

__all__ = [
    "ERRORS",
    "PLACEHOLDER_KEY",
    "ClientOptions",
    "OpenAIBase",
    "ProviderOptions",
    "close_quietly",
    "dumps",
    "loads",
    "parse_retry_after",
    "to_model_error",
]

PLACEHOLDER_KEY = "exo-no-key"
"""The key sent to servers that need none (the SDK refuses to run without one)."""

ERRORS = (
    openai.OpenAIError,
    httpx2.HTTPError,
    httpx2.StreamError,
    json.JSONDecodeError,
    WireError,
)
"""What the SDK and its transport raise; every one becomes a ModelError."""

_RETRYABLE_STATUS = frozenset({408, 409, 429})
_RETRYABLE_TYPES = frozenset({"server_error", "rate_limit_exceeded", "overloaded_error", "timeout"})


class ProviderOptions(TypedDict, total=False):
    """Keyword options every OpenAI provider factory accepts (see :class:`OpenAIBase`)."""

    api_key: str | None
    base_url: str | None
    http_client: httpx2.AsyncClient | None
    client: openai.AsyncOpenAI | None
    timeout: float | None
    raw: bool
    extra_body: Mapping[str, Any] | None


class ClientOptions(ProviderOptions, total=False):
    """All keyword options of :class:`OpenAIBase`, including a backend's own defaults."""

    key_env: str
    base_url_env: str
    default_base_url: str | None
    key_required: bool


class OpenAIBase:
    """Client, credentials and settings shared by the OpenAI provider classes.

    Args:
        model: The model name.
        backend: The backend name this provider reports (``"openai"``, ``"ollama"``, …).
        api_key: The API key; defaults to the ``key_env`` environment variable.
        base_url: The API base URL; defaults to ``base_url_env``, then ``default_base_url``.
        http_client: An ``httpx2.AsyncClient`` for the SDK to use (tests pass a mock one).
        client: A ready ``openai.AsyncOpenAI``; it is used as is and never closed by us.
        timeout: Request timeout in seconds (the SDK's default when ``None``).
        key_env: The environment variable holding the API key.
        base_url_env: The environment variable overriding the base URL.
        default_base_url: The base URL when neither argument nor variable gives one
            (``None``: the SDK's default, ``https://api.openai.com/v1``).
        key_required: Whether a missing key is an error (local servers need none).
        raw: Send pre-serialized JSON with ``AsyncOpenAI.post`` and parse the raw body with
            orjson (the default), instead of the SDK's typed ``create()`` and pydantic models.
        extra_body: Extra fields merged into every request body (``{"reasoning":
            {"effort": "low"}}``, ``{"service_tier": "flex"}``, a compat server's options).

    Raises:
        ModelError: no API key was given or found (the message names the variable to set).
        ConfigError: ``client=`` was combined with options it already fixes.
    """

    def __init__(self, model: str, *, backend: str = "openai", **options: Unpack[ClientOptions]):
        self._backend = backend
        self._model = model
        self._key_env = key_env = options.get("key_env", "OPENAI_API_KEY")
        self.raw = options.get("raw", True)
        self.extra_body = options.get("extra_body")
        client = options.get("client")
        if client is not None:
            _check_no_client_conflict(options)
            # retries belong to the run's retry layer; a copy shares the HTTP client
            self._client = client if client.max_retries == 0 else client.with_options(max_retries=0)
            self._owns_client = False
            self._secret: str = client.api_key or ""
            return
        self._secret = _resolve_key(
            options.get("api_key"), key_env, options.get("key_required", True), backend, model
        )
        url = (
            options.get("base_url")
            or os.environ.get(options.get("base_url_env", "OPENAI_BASE_URL"))
            or options.get("default_base_url")
        )
        http_client = options.get("http_client") or _default_http_client()
        timeout = options.get("timeout")
        self._client = openai.AsyncOpenAI(
            api_key=self._secret,
            base_url=url,
            max_retries=0,
            timeout=timeout if timeout is not None else openai.NOT_GIVEN,
            http_client=http_client,
        )
        self._owns_client = True

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
        return str(self._client.base_url)

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
        if self._owns_client:
            await self._client.close()

    def __repr__(self) -> str:
        raw = "" if self.raw else ", raw=False"
        return (
            f"{type(self).__name__}(backend={self._backend!r}, model={self._model!r}, "
            f"base_url={self.base_url!r}{raw})"
        )

    async def _post_raw(
        self, path: str, body: Mapping[str, Any], *, stream: bool
    ) -> httpx2.Response:
        """POST pre-serialized JSON through the SDK client; return the raw HTTP response.

        The SDK still builds the request (auth, headers, timeouts) and turns an error status
        into its exception; only its parameter transformation and response models are skipped.
        A streamed response is returned unread: the caller must close it.
        """
        return await self._client.post(
            path, cast_to=httpx2.Response, content=dumps(body), stream=stream
        )

    def _error(self, exc: BaseException) -> ModelError:
        """The ModelError for ``exc``, chained to it unless its text holds the API key.

        Raise the result outside the ``except`` block, so a cause that holds the key (a
        server that echoes it) is not reachable as ``__context__`` either.
        """
        error = to_model_error(
            exc,
            backend=self._backend,
            model=self._model,
            key_env=self._key_env,
            secret=self._secret,
        )
        error.__cause__ = None if _mentions(exc, self._secret) else exc
        error.__suppress_context__ = True
        return error

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

    def _check_stream_type(self, response: httpx2.Response) -> bool:
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


async def close_quietly(response: Any) -> None:
    """Close a response or SDK stream, even inside a cancelled scope."""
    with anyio.CancelScope(shield=True):
        await response.aclose()


def _mentions(exc: BaseException, secret: str) -> bool:
    """Whether ``secret`` appears anywhere in ``exc`` or the exceptions chained to it."""
    if not secret or secret == PLACEHOLDER_KEY:
        return False
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        text = f"{current}{current.args!r}{getattr(current, '__dict__', '')!r}"
        if secret in text:
            return True
        todo += [e for e in (current.__cause__, current.__context__) if e is not None]
    return False


def _check_no_client_conflict(options: ClientOptions) -> None:
    given = [
        name
        for name in ("api_key", "base_url", "http_client", "timeout")
        if options.get(name) is not None
    ]
    if given:
        raise ConfigError(
            f"client= already fixes {', '.join(given)}; pass one or the other",
            parameter=given[0],
        )


def _resolve_key(api_key: str | None, env: str, required: bool, backend: str, model: str) -> str:
    if api_key:
        return api_key
    value = os.environ.get(env)
    if value:
        return value
    if not required:
        return PLACEHOLDER_KEY
    raise ModelError(
        f"no API key: set the {env} environment variable",
        backend=backend,
        model=model,
        hint=f"export {env}=<your key>, or pass api_key= to the provider",
    )


def _default_http_client() -> httpx2.AsyncClient | None:
    """The SDK's aiohttp-based client when aiohttp is installed, else the SDK's default."""
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        return None
    try:
        return openai.DefaultAioHttpClient()
    except RuntimeError:  # the SDK was installed without its aiohttp extra
        return None


# --------------------------------------------------------------------------- errors


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000.0)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


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


def to_model_error(
    exc: BaseException, *, backend: str, model: str, key_env: str, secret: str = ""
) -> ModelError:
    """Translate an SDK or transport exception into a :class:`ModelError`."""
    status: int | None = None
    retryable = False
    retry_after: float | None = None
    hint: str | None = None
    if isinstance(exc, openai.APIStatusError):
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
    elif isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException):
        # the SDK's aiohttp transport reports a dropped connection as a timeout too
        reason = transport_reason(exc)
        message, code, retryable = f"timed out or lost the connection ({reason})", None, True
    elif isinstance(exc, openai.APIConnectionError | httpx2.TransportError):
        message, code, retryable = f"connection failed: {transport_reason(exc)}", None, True
    elif isinstance(exc, WireError):  # a 200 in the wrong shape: the same bytes would fail again
        message, code = f"malformed response from the server: {exc}", None
    elif isinstance(exc, ValueError):  # the SDK path met an event that is not JSON
        message, code = f"malformed data from the server (not JSON): {exc}", None
    elif isinstance(exc, openai.APIError):  # an error event inside a stream
        message, code, kind = _body_message(exc.body, exc.message)
        retryable = kind in _RETRYABLE_TYPES or code in _RETRYABLE_TYPES
    else:
        message, code = f"{type(exc).__name__}: {exc}", None
    if code and code not in message:
        message = f"{message} (code: {code})"
    if secret and secret != PLACEHOLDER_KEY and secret in message:
        message = message.replace(secret, "***")
    return ModelError(
        message,
        backend=backend,
        model=model,
        status=status,
        retryable=retryable,
        retry_after=retry_after,
        hint=hint,
    )
