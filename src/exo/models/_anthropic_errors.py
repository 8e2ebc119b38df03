"""Turn whatever the Anthropic SDK or the HTTP layer raises into one :class:`ModelError`.

Whether a failure is worth retrying is decided here, once, from what the server said:
``x-should-retry`` when present, else the status (408, 409, 429, 5xx and 529 are
retryable), and connection failures and timeouts are always retryable; a response past the
size caps is not. ``retry_after`` comes from ``retry-after-ms`` or ``retry-after``. The retry
itself belongs to ``exo._retry``; cutting the API key out of the result, to the provider's
boundary (``exo.models._common.redact``).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import httpx2

from exo.errors import ModelError
from exo.models._anthropic_convert import BACKEND
from exo.models._common import parse_retry_after, transport_reason
from exo.models._sdk_headers import loaded_sdk
from exo.models._transport import too_large
from exo.models._wire import WireError

if TYPE_CHECKING:
    import anthropic

__all__ = ["from_exception", "from_stream_error", "sdk_errors"]


def sdk_errors(*others: type[Exception]) -> tuple[type[Exception], ...]:
    """``others`` and, once the ``anthropic`` package is imported, its ``AnthropicError``.

    Evaluated in ``except`` clauses, so only when something was raised: until the SDK is
    imported nothing can raise its errors.
    """
    sdk = sys.modules.get("anthropic")
    return others if sdk is None else (sdk.AnthropicError, *others)


# Error types of the API's ``{"type": "error", "error": {"type": ...}}`` body, with the
# status each one comes with; used for errors that arrive inside a 200 stream.
_TYPE_STATUS: dict[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


def from_exception(
    exc: BaseException,
    model: str,
    *,
    base_url: str = "",
    partial_text: str = "",
) -> ModelError:
    """Map an SDK or transport exception to a :class:`ModelError` (chain it with ``from``)."""
    where = base_url or "the Anthropic API"
    limit = too_large(exc)
    if limit is not None:  # not retried: the same server would send the same again
        return _error(str(limit), model, partial_text=partial_text)
    sdk = loaded_sdk("anthropic")  # an SDK error exists only once the SDK is imported
    if isinstance(exc, sdk.APIStatusError):
        if exc.status_code < 400:  # an ``event: error`` inside a successful stream
            return from_stream_error(exc.body, model, partial_text=partial_text)
        return _from_status(exc, model, partial_text)
    if isinstance(exc, WireError):  # a 200 in the wrong shape: the same bytes would fail again
        return _error(f"malformed response from {where}: {exc}", model, partial_text=partial_text)
    if isinstance(exc, sdk.APITimeoutError | httpx2.TimeoutException):
        reason = transport_reason(exc)
        message = f"the request to {where} timed out or lost the connection ({reason})"
        hint = "raise the provider's timeout= if long answers are expected"
    elif isinstance(exc, sdk.APIConnectionError | httpx2.TransportError):
        message = f"could not reach {where}: {transport_reason(exc)}"
        hint = "check the network, and ANTHROPIC_BASE_URL if you set it"
    else:
        message = f"unexpected failure talking to the Anthropic API: {type(exc).__name__}: {exc}"
        return _error(message, model, partial_text=partial_text)
    return _error(message, model, retryable=True, hint=hint, partial_text=partial_text)


def from_stream_error(body: object, model: str, *, partial_text: str = "") -> ModelError:
    """Map the body of a mid-stream ``event: error`` to a :class:`ModelError`."""
    kind, message = _error_fields(body)
    code = body.get("code") if isinstance(body, Mapping) else None
    if not (isinstance(code, int) and 400 <= code < 600):  # a compatible server's status
        code = 500
    status = _TYPE_STATUS.get(kind or "", code)
    detail = f"{kind}: {message}" if kind else message
    return _error(
        f"the response stream failed: {detail}",
        model,
        retryable=_retryable_status(status),
        partial_text=partial_text,
    )


def _error(message: str, model: str, **fields: Any) -> ModelError:
    return ModelError(message, backend=BACKEND, model=model, **fields)


def _from_status(exc: anthropic.APIStatusError, model: str, partial_text: str) -> ModelError:
    status = exc.status_code
    headers = exc.response.headers
    should_retry = headers.get("x-should-retry")
    if should_retry in ("true", "false"):
        retryable = should_retry == "true"
    else:
        retryable = _retryable_status(status)
    kind, message = _error_fields(exc.body)
    detail = f"{kind}: {message}" if kind else message
    return _error(
        detail or f"HTTP {status}",
        model,
        status=status,
        retryable=retryable,
        retry_after=parse_retry_after(headers),
        hint=_hint(status, message, model),
        partial_text=partial_text,
    )


def _retryable_status(status: int) -> bool:
    return status in (408, 409, 429) or status >= 500


def _error_fields(body: object) -> tuple[str | None, str]:
    """Return ``(error.type, error.message)`` from an Anthropic error body."""
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping):
            kind = error.get("type")
            return (str(kind) if kind else None), str(error.get("message") or "")
        message = body.get("message")
        if isinstance(message, str):  # a compatible server's flat {"type", "message"}
            kind = body.get("type")
            return (kind if isinstance(kind, str) and kind else None), message
        return None, str(body)
    return None, "" if body is None else str(body)


def _hint(status: int, message: str, model: str) -> str | None:
    if status == 401:
        return "check ANTHROPIC_API_KEY (or the api_key= you passed): the API rejected the key"
    if status == 403:
        return "the API key has no access to this resource; check its workspace and permissions"
    if status == 404:
        return f"check the model name {model!r} (e.g. 'anthropic:claude-sonnet-4-6')"
    if status == 400 and "temperature" in message:
        return "newer Claude models reject temperature: leave the agent's temperature unset"
    if status == 429:
        return "rate limited: lower concurrency or wait; exo retries with backoff"
    return None
