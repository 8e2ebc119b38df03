"""Provider logic every backend shares, each piece in one place.

* :func:`resolve_key`: the API key from the argument or the environment; a missing one is a
  :class:`~exo.errors.ModelError` naming the variable to set, on every backend.
* :func:`check_client_conflict` and :func:`without_sdk_retries`: what ``client=`` means on
  every backend (it fixes key, URL, HTTP client and timeout; its own retries are turned off,
  since exo's retry layer owns retries).
* :func:`parse_retry_after`: ``retry-after-ms`` / ``retry-after`` headers.
* :func:`redact`: the one place every provider error passes on its way out, which cuts the
  API key out of the error and out of every exception chained to it.
* :func:`transport_reason`: the innermost cause of a connection failure, for messages.
"""

from __future__ import annotations

import email.utils
import os
import time
from collections.abc import Mapping
from typing import Any, Protocol, Self, TypeVar

from exo.errors import ConfigError, ModelError

__all__ = [
    "PLACEHOLDER_KEY",
    "REDACTED",
    "check_client_conflict",
    "parse_retry_after",
    "redact",
    "resolve_key",
    "transport_reason",
    "without_sdk_retries",
]

PLACEHOLDER_KEY = "exo-no-key"
"""The key sent to servers that need none (the SDKs refuse to run without one)."""

REDACTED = "[redacted API key]"
"""What replaces an API key in error text."""


def transport_reason(exc: BaseException) -> str:
    """Describe a transport failure by its innermost cause.

    SDK connection errors often wrap the real reason (a reset, a refused connection) and
    have empty text themselves; this walks ``__cause__`` to the bottom and names the type
    when the text is empty.
    """
    inner = exc
    seen = {id(inner)}
    while inner.__cause__ is not None and id(inner.__cause__) not in seen:
        inner = inner.__cause__
        seen.add(id(inner))
    text = str(inner).strip()
    return f"{type(inner).__name__}: {text}" if text else type(inner).__name__


# --------------------------------------------------------------------------- credentials


def resolve_key(api_key: str | None, env: str, *, required: bool, backend: str, model: str) -> str:
    """The API key: ``api_key``, else the ``env`` variable, else the placeholder if optional.

    Raises:
        ModelError: the key is required and neither given nor set (the message names ``env``).
    """
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


def check_client_conflict(**options: object) -> None:
    """Refuse options that a ready SDK client passed with ``client=`` already fixes.

    Raises:
        ConfigError: one of ``options`` is set.
    """
    given = [name for name, value in options.items() if value is not None]
    if given:
        raise ConfigError(
            f"client= already fixes {', '.join(given)}; pass one or the other",
            parameter=given[0],
        )


class _SDKClient(Protocol):
    @property
    def max_retries(self) -> int: ...

    def with_options(self, *, max_retries: int) -> Self: ...


Client = TypeVar("Client", bound=_SDKClient)


def without_sdk_retries(client: Client) -> Client:
    """The caller's SDK client with its own retries off (a copy sharing its HTTP pool).

    exo's retry layer owns retries; a client retrying on its own would multiply the attempts
    and hide failures from it. The caller's client object itself is left unchanged.
    """
    return client if client.max_retries == 0 else client.with_options(max_retries=0)


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


# --------------------------------------------------------------------------- redaction


def redact(error: ModelError, secrets: tuple[str, ...]) -> ModelError:
    """Cut ``secrets`` out of ``error`` and every exception chained to it; return ``error``.

    Every provider passes each error it raises through here (at the boundary of ``complete``
    and ``stream``), so no message exo builds, whatever it quotes from the server, can carry
    the key. The chain (``__cause__`` and ``__context__``) is cleaned in place: the text of
    ``args`` and of string, bytes and container attributes (a JSON decoder's ``.doc``, an SDK
    error's ``.body`` and ``.message``). A chained exception whose key cannot be cut out (an
    HTTP response body it holds) is unlinked from the chain.
    """
    keys = tuple(s for s in secrets if s and s != PLACEHOLDER_KEY)
    if not keys:
        return error
    _scrub_exception(error, keys)
    error.message, error.detail = _scrub(error.message, keys), _scrub(error.detail, keys)
    error.hint = _scrub(error.hint, keys)
    error.partial_text = _scrub(error.partial_text, keys)
    _scrub_chain(error, keys)
    return error


def _scrub_chain(error: BaseException, keys: tuple[str, ...]) -> None:
    """Clean every exception reachable through ``__cause__`` / ``__context__``, in place."""
    seen = {id(error)}
    todo = [error]
    while todo:
        parent = todo.pop()
        for child in (parent.__cause__, parent.__context__):
            if child is None or id(child) in seen:
                continue
            seen.add(id(child))
            _scrub_exception(child, keys)
            if _holds(child, keys):
                _unlink(parent, child)
            else:
                todo.append(child)


def _unlink(parent: BaseException, child: BaseException) -> None:
    if parent.__cause__ is child:
        parent.__cause__ = None
    if parent.__context__ is child:
        parent.__context__ = None
    parent.__suppress_context__ = True


def _scrub_exception(exc: BaseException, keys: tuple[str, ...]) -> None:
    exc.args = tuple(_scrub(a, keys) for a in exc.args)
    attributes = getattr(exc, "__dict__", None)
    if attributes is None:
        return
    for name, value in list(attributes.items()):
        cleaned = _scrub(value, keys)
        if cleaned is not value:
            attributes[name] = cleaned


def _scrub(value: Any, keys: tuple[str, ...], depth: int = 0) -> Any:
    """``value`` with every key replaced; the same object when there was nothing to cut."""
    if isinstance(value, str):
        return _replace(value, keys) if any(k in value for k in keys) else value
    if isinstance(value, bytes | bytearray):
        if not any(k.encode() in value for k in keys):
            return value
        return _replace(bytes(value).decode("utf-8", "replace"), keys).encode()
    if depth > 8:
        return value
    if isinstance(value, dict):
        items = {k: _scrub(v, keys, depth + 1) for k, v in value.items()}
        return items if any(items[k] is not value[k] for k in value) else value
    if isinstance(value, list | tuple):
        parts = [_scrub(v, keys, depth + 1) for v in value]
        if all(p is v for p, v in zip(parts, value, strict=True)):
            return value
        return parts if isinstance(value, list) else tuple(parts)
    return value


def _replace(text: str, keys: tuple[str, ...]) -> str:
    for key in keys:
        text = text.replace(key, REDACTED)
    return text


def _holds(exc: BaseException, keys: tuple[str, ...]) -> bool:
    """Whether ``exc`` still shows a key: in its text, or in an HTTP response body it holds."""
    text = f"{exc}{exc.args!r}{getattr(exc, '__dict__', '')!r}"
    if any(k in text for k in keys):
        return True
    for value in getattr(exc, "__dict__", {}).values():
        body = _response_body(value)
        if body and any(k.encode() in body for k in keys):
            return True
    return False


def _response_body(value: object) -> bytes:
    """The body of an already read HTTP response (httpx-style), else nothing."""
    if not (hasattr(value, "status_code") and hasattr(value, "headers")):
        return b""
    try:
        content = value.content  # type: ignore[attr-defined]
    except Exception:  # not read (a stream): nothing of it is in memory to leak
        return b""
    return content if isinstance(content, bytes) else b""
