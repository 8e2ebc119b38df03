"""Message content in the GenAI conventions' JSON shapes (recorded only when opted in).

``gen_ai.input.messages`` / ``gen_ai.output.messages`` are lists of ``{"role", "parts"}``
objects whose parts are typed (``text``, ``reasoning``, ``tool_call``, ``tool_call_response``,
``uri`` / ``blob`` for media). OpenTelemetry's Python API takes no nested values as
attributes, so they are recorded as JSON strings, which the conventions allow on spans.
Inline media is never copied into a span: a data block is recorded by its media type only.

Each text is made encodable (a lone surrogate, e.g. from a model's broken escape, would make
the OTLP encoder drop the attribute with a traceback) and cut at :data:`MAX_PART_CHARS`
with a note: a ``chat`` span records the whole transcript sent, so a long document in it
would be copied into every later span, past what exporters and collectors accept (a batch
over the limit is dropped whole, the spans without content too).
"""

from __future__ import annotations

import json
import os
from typing import Any

from exo._text import encodable
from exo.messages import (
    AssistantMessage,
    DocumentBlock,
    ImageBlock,
    Message,
    MessageContent,
    SystemMessage,
    TextBlock,
    ToolResult,
)

__all__ = [
    "CAPTURE_CONTENT_ENV",
    "capture_from_env",
    "input_messages",
    "output_message",
    "text_messages",
    "tool_arguments",
    "tool_result",
]

CAPTURE_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
"""The standard opt-in for message content on GenAI spans."""

# "true" is the classic value; newer GenAI instrumentations accept where content goes.
_YES = frozenset({"true", "1", "yes", "span_only", "span_and_event"})


def capture_from_env() -> bool:
    """Whether :data:`CAPTURE_CONTENT_ENV` asks for message content on spans."""
    return os.environ.get(CAPTURE_CONTENT_ENV, "").strip().lower() in _YES


MAX_PART_CHARS = 32_000
"""Characters of one text (a message part, tool arguments, a result) recorded on a span."""


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _text(text: str) -> str:
    """``text`` fit for a span: encodable, and cut at :data:`MAX_PART_CHARS` with a note."""
    if len(text) > MAX_PART_CHARS:
        text = f"{text[:MAX_PART_CHARS]}…[cut: {len(text):,} characters]"
    return encodable(text)


def _parts(content: MessageContent) -> list[dict[str, Any]]:
    """Text and media blocks as parts (media by reference or type, never inline data)."""
    if isinstance(content, str):
        return [{"type": "text", "content": _text(content)}] if content else []
    parts: list[dict[str, Any]] = []
    for block in content:
        if isinstance(block, TextBlock):
            parts.append({"type": "text", "content": _text(block.text)})
        elif isinstance(block, ImageBlock | DocumentBlock):
            modality = "image" if isinstance(block, ImageBlock) else "document"
            if block.url is not None and not block.url.startswith("data:"):
                parts.append({"type": "uri", "modality": modality, "uri": block.url})
            else:
                parts.append({"type": "blob", "modality": modality, "mime_type": block.media_type})
    return parts


def _arguments(raw: str) -> Any:
    """A tool call's arguments as JSON when they parse (the conventions' shape), else as sent."""
    if len(raw) > MAX_PART_CHARS:
        return _text(raw)  # recorded as the (cut) text sent, not parsed
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return _text(raw)


def _message(message: Message) -> dict[str, Any]:
    if isinstance(message, SystemMessage):
        return {"role": "system", "parts": _parts(message.content)}
    if isinstance(message, ToolResult):
        part = {"type": "tool_call_response", "id": message.tool_call_id}
        return {"role": "tool", "parts": [{**part, "result": _tool_text(message.content)}]}
    if isinstance(message, AssistantMessage):
        parts = [
            {"type": "reasoning", "content": _text(r.text)} for r in message.reasoning if r.text
        ]
        parts += _parts(message.content)
        parts += [
            {"type": "tool_call", "id": c.id, "name": c.name, "arguments": _arguments(c.arguments)}
            for c in message.tool_calls
        ]
        return {"role": "assistant", "parts": parts}
    return {"role": "user", "parts": _parts(message.content)}


def _tool_text(content: MessageContent) -> str:
    if isinstance(content, str):
        return _text(content)
    return _text("".join(b.text for b in content if isinstance(b, TextBlock)))


def input_messages(messages: list[Message]) -> str:
    """``gen_ai.input.messages``: the messages sent, in order, system messages included."""
    return _dump([_message(m) for m in messages])


def output_message(message: AssistantMessage, finish_reason: str) -> str:
    """``gen_ai.output.messages``: the model's one answer, with why it stopped."""
    return _dump([{**_message(message), "finish_reason": finish_reason}])


def text_messages(role: str, text: MessageContent, finish_reason: str | None = None) -> str:
    """One message of ``role`` with ``text`` (a run's task, its answer, a plan)."""
    message: dict[str, Any] = {"role": role, "parts": _parts(text)}
    if finish_reason is not None:
        message["finish_reason"] = finish_reason
    return _dump([message])


def tool_arguments(raw: str) -> str:
    """``gen_ai.tool.call.arguments``: the JSON text the model sent (cut when huge)."""
    return _text(raw)


def tool_result(content: MessageContent) -> str:
    """``gen_ai.tool.call.result``: the text the model reads back."""
    return _tool_text(content)
