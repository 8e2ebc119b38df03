"""Read untrusted response JSON: one set of checked accessors every backend's parser shares.

A server's JSON is data from outside: any field may be missing, ``null``, of another type, or
an extra key. The parsers read it only through these helpers, which tolerate the variants
real servers send (``content`` as a list of text parts, a tool-call ``index`` as a string,
tool ``arguments`` as an object) and raise :class:`WireError` for the rest, so that every
outcome of parsing is a well-typed value or one error the provider turns into a
non-retryable :class:`~exo.errors.ModelError` (the same bytes would fail again).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from exo.models.base import ModelChunk, ModelResponse, TextDelta, ToolCallDelta

__all__ = [
    "REFUSED",
    "WireError",
    "arguments",
    "count",
    "describe",
    "index",
    "items",
    "obj",
    "opt_obj",
    "opt_str",
    "replay",
    "required_items",
    "sdk_dict",
    "text",
]

_EMPTY: Mapping[str, Any] = {}

REFUSED = "the model declined to answer and gave no reason"
"""``refusal`` of a response that refused without saying why (Anthropic sends no text)."""


class WireError(ValueError):
    """A response or stream event is not in the shape its protocol documents."""


def describe(value: object) -> str:
    """Name the JSON type of ``value`` for an error message (``"a list"``, ``"null"``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object" if isinstance(value, Mapping) else type(value).__name__


def obj(value: object, what: str) -> Mapping[str, Any]:
    """``value`` as a JSON object; anything else is a :class:`WireError` naming ``what``."""
    if type(value) is dict or isinstance(value, Mapping):  # a parsed body's: no ABC check
        return value
    raise WireError(f"{what} is {describe(value)}, not an object")


def opt_obj(value: object, what: str) -> Mapping[str, Any]:
    """Like :func:`obj`, but a missing (``null``) object reads as an empty one."""
    if value is None:
        return _EMPTY
    return obj(value, what)


def items(value: object, what: str) -> list[Any]:
    """``value`` as a JSON list (``null`` reads as empty); anything else is a WireError."""
    if isinstance(value, list):
        return value
    if value is None:
        return []
    raise WireError(f"{what} is {describe(value)}, not a list")


def required_items(data: Mapping[str, Any], key: str, what: str) -> list[Any]:
    """``data[key]`` as a JSON list that must be there: the field that makes a body a response.

    A body without it is no answer at all (``{}``, a proxy's own JSON, an error object sent
    with status 200 as some gateways do), not an empty one: a :class:`WireError` that quotes
    the server's error message when the body carries one.
    """
    value = data.get(key)
    if isinstance(value, list):
        return value
    error = data.get("error")
    message = error.get("message") if isinstance(error, Mapping) else error
    if isinstance(message, str) and message:
        raise WireError(f"the server sent an error instead of a response: {message}")
    raise WireError(f"{what} is {'missing' if key not in data else describe(value)}, not a list")


def opt_str(value: object) -> str | None:
    """``value`` if it is a string, else ``None`` (for ids, names of models, reasons)."""
    return value if isinstance(value, str) else None


def count(value: object) -> int | None:
    """A token count: a non-negative integer, else ``None`` (not reported)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def index(value: object) -> int | None:
    """A position: an integer, or a string of digits (some servers send ``"0"``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def text(value: object, what: str) -> str:
    """Message text: a string, or a list of text parts joined (``null`` reads as ``""``).

    Several OpenAI-compatible servers send ``content`` as ``[{"type": "text", "text": …}]``.
    Parts that carry no text (an image, an annotation) are skipped; a part that is neither
    a string nor an object, or content of any other type, is a :class:`WireError`.
    """
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if not isinstance(value, list):
        raise WireError(f"{what} is {describe(value)}, not text")
    out: list[str] = []
    for part in value:
        if isinstance(part, str):
            out.append(part)
            continue
        piece = obj(part, f"a part of {what}").get("text")
        if isinstance(piece, str):
            out.append(piece)
        elif piece is not None:
            raise WireError(f"the text of a part of {what} is {describe(piece)}, not a string")
    return "".join(out)


def arguments(value: object, what: str) -> str:
    """Tool-call arguments as JSON text: a string as sent, an object serialized, ``null`` ``{}``."""
    if isinstance(value, str):
        return value or "{}"
    if value is None:
        return "{}"
    if isinstance(value, Mapping):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    raise WireError(f"{what} is {describe(value)}, not JSON text")


def sdk_dict(model: Any) -> dict[str, Any]:
    """The JSON object an SDK response model was built from.

    The SDKs build their models without validation, so a typed attribute may hold anything
    the server sent: both request paths parse the same checked dict instead.
    """
    # warnings=False: pydantic would warn about every field that holds an unexpected type
    data = model.to_dict(warnings=False) if hasattr(model, "to_dict") else model
    if not isinstance(data, dict):
        raise WireError(f"the server sent {describe(data)}, not a JSON object")
    return data


def replay(final: ModelResponse) -> list[ModelChunk]:
    """The deltas a stream would have carried for ``final``, then ``final`` itself.

    For a server that answers a streaming request with one JSON body: the caller still sees
    the text (and tool calls) arrive as deltas, as from any stream.
    """
    message = final.message
    out: list[ModelChunk] = [TextDelta(text=message.content)] if message.content else []
    out += [
        ToolCallDelta(index=i, id=c.id, name=c.name, arguments=c.arguments)
        for i, c in enumerate(message.tool_calls)
    ]
    out.append(final)
    return out
