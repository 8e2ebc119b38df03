"""Turn whatever the Anthropic SDK or the HTTP layer raises into one :class:`ModelError`.

Whether a failure is worth retrying is decided here, once, from what the server said:
``x-should-retry`` when present, else the status (408, 409, 429, 5xx and 529 are
retryable), and connection failures and timeouts are always retryable. ``retry_after`` comes
from ``retry-after-ms`` or ``retry-after``. The retry itself belongs to ``exo._retry``.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping, Sequence
from typing import Any

import anthropic
import httpx2

from exo.errors import ModelError
from exo.models._anthropic_convert import BACKEND
from exo.models._common import transport_reason
from exo.models._wire import WireError

__all__ = ["from_exception", "from_stream_error", "mentions", "retry_after"]

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
    secrets: Sequence[str] = (),
    partial_text: str = "",
) -> ModelError:
    """Map an SDK or transport exception to a :class:`ModelError` (chain it with ``from``).

    ``secrets`` (the API key) are cut out of the message, should the server echo them.
    """
    where = base_url or "the Anthropic API"
    if isinstance(exc, anthropic.APIStatusError):
        if exc.status_code < 400:  # an ``event: error`` inside a successful stream
            return from_stream_error(exc.body, model, partial_text=partial_text, secrets=secrets)
        return _from_status(exc, model, secrets, partial_text)
    if isinstance(exc, WireError):  # a 200 in the wrong shape: the same bytes would fail again
        message = f"malformed response from {where}: {exc}"
        return _error(message, model, secrets, partial_text=partial_text)
    if isinstance(exc, anthropic.APITimeoutError | httpx2.TimeoutException):
        reason = transport_reason(exc)
        message = f"the request to {where} timed out or lost the connection ({reason})"
        hint = "raise the provider's timeout= if long answers are expected"
    elif isinstance(exc, anthropic.APIConnectionError | httpx2.TransportError):
        message = f"could not reach {where}: {transport_reason(exc)}"
        hint = "check the network, and ANTHROPIC_BASE_URL if you set it"
    else:
        message = f"unexpected failure talking to the Anthropic API: {type(exc).__name__}: {exc}"
        return _error(message, model, secrets, partial_text=partial_text)
    return _error(message, model, secrets, retryable=True, hint=hint, partial_text=partial_text)


def from_stream_error(
    body: object, model: str, *, partial_text: str = "", secrets: Sequence[str] = ()
) -> ModelError:
    """Map the body of a mid-stream ``event: error`` to a :class:`ModelError`."""
    kind, message = _error_fields(body)
    status = _TYPE_STATUS.get(kind or "", 500)
    detail = f"{kind}: {message}" if kind else message
    return _error(
        f"the response stream failed: {detail}",
        model,
        secrets,
        retryable=_retryable_status(status),
        partial_text=partial_text,
    )


def mentions(exc: BaseException, secrets: Sequence[str]) -> bool:
    """Whether the text of ``exc`` holds one of ``secrets`` (then do not chain it)."""
    text = str(exc)
    return any(secret and secret in text for secret in secrets)


def _error(message: str, model: str, secrets: Sequence[str], **fields: Any) -> ModelError:
    for secret in secrets:
        if secret and secret in message:
            message = message.replace(secret, "[redacted API key]")
    return ModelError(message, backend=BACKEND, model=model, **fields)


def _from_status(
    exc: anthropic.APIStatusError, model: str, secrets: Sequence[str], partial_text: str
) -> ModelError:
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
        secrets,
        status=status,
        retryable=retryable,
        retry_after=retry_after(headers),
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
        return None, str(body)
    return None, "" if body is None else str(body)


def _hint(status: int, message: str, model: str) -> str | None:
    if status == 401:
        return "check ANTHROPIC_API_KEY (or the api_key= you passed): the API rejected the key"
    if status == 403:
        return "the API key has no access to this resource; check its workspace and permissions"
    if status == 404:
        return f"check the model name {model!r} (e.g. 'anthropic:claude-sonnet-4-5')"
    if status == 400 and "temperature" in message:
        return "newer Claude models reject temperature: leave the agent's temperature unset"
    if status == 429:
        return "rate limited: lower concurrency or wait; exo retries with backoff"
    return None


def retry_after(headers: Mapping[str, Any]) -> float | None:
    """Seconds the server asked us to wait (``retry-after-ms``, then ``retry-after``)."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
