"""Text that can always be sent: the one place strings are made encodable.

Python strings may hold lone surrogates (``os.listdir`` of a file name that is not UTF-8,
``json.loads('"\\ud800"')``); no JSON encoder or HTTP client can send them as UTF-8. Text is
made encodable once, where it enters a run's transcript (the user's input, history and
instructions, and every tool result), so the wire and memory never see a lone surrogate.
"""

from __future__ import annotations

from typing import Any

from exo.types import (
    AssistantMessage,
    Message,
    MessageContent,
    SystemMessage,
    TextBlock,
    ToolResult,
    UserMessage,
)

__all__ = ["describe", "encodable", "encodable_content", "encodable_json", "encodable_message"]


def encodable(text: str) -> str:
    """Return ``text`` with every lone surrogate written as an escape (``\\udcff``).

    A surrogate pair written as two code points is joined into its character first. ASCII
    and well-formed text come back as the same object (the common case costs one check).
    """
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    joined = text.encode("utf-16", "surrogatepass").decode("utf-16", "surrogatepass")
    return joined.encode("utf-8", "backslashreplace").decode("utf-8")


def encodable_json(value: Any) -> Any:
    """Return a JSON value (a tool's schema) with every string in it made encodable.

    The same object when nothing needed escaping. Tool descriptions and schemas are built
    from docstrings and signatures, which may be generated from data (file names): they are
    made encodable once, when the tool is built, not on every call.
    """
    if isinstance(value, str):
        return encodable(value)
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        changed = False
        for key, item in value.items():
            new_key, new_item = encodable_json(key), encodable_json(item)
            changed = changed or new_key is not key or new_item is not item
            out[new_key] = new_item
        return out if changed else value
    if isinstance(value, list):
        items = [encodable_json(v) for v in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    return value


def encodable_content(content: MessageContent) -> MessageContent:
    """Return message content with its text made encodable (the same object if it was)."""
    if isinstance(content, str):
        return encodable(content)
    if all(not isinstance(b, TextBlock) or encodable(b.text) is b.text for b in content):
        return content
    return [TextBlock(text=encodable(b.text)) if isinstance(b, TextBlock) else b for b in content]


def encodable_message(message: Message) -> Message:
    """Return ``message`` with its text made encodable (the same object if it was)."""
    if isinstance(message, SystemMessage):
        text = encodable(message.content)
        return message if text is message.content else SystemMessage(content=text)
    if isinstance(message, UserMessage):
        content = encodable_content(message.content)
        return message if content is message.content else UserMessage(content=content)
    if isinstance(message, ToolResult):
        content = encodable_content(message.content)
        if content is message.content:
            return message
        return ToolResult(
            tool_call_id=message.tool_call_id,
            tool_name=message.tool_name,
            content=content,
            is_error=message.is_error,
        )
    text = encodable(message.content)
    if text is message.content:
        return message
    return AssistantMessage(
        content=text, tool_calls=message.tool_calls, reasoning=message.reasoning
    )


def describe(value: object) -> str:
    """``str(value)``, made encodable, or a description when ``str()`` itself fails."""
    try:
        text = str(value)
        if not isinstance(text, str):  # a __str__ returning a non-str raises TypeError anyway
            raise TypeError(f"__str__ returned {type(text).__name__}")
    except Exception as exc:
        return f"<{type(value).__name__} object: str() raised {type(exc).__name__}>"
    return encodable(text)
