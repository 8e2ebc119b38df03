"""A rough, provider-independent token estimate, shared by memory loading and windowing."""

from __future__ import annotations

import math
from collections.abc import Iterable

from exo.types import (
    AssistantMessage,
    DocumentBlock,
    ImageBlock,
    Message,
    MessageContent,
    ToolResult,
)

__all__ = ["estimate_tokens"]

_MESSAGE_OVERHEAD_TOKENS = 4
_MEDIA_TOKENS = 1_000


def estimate_tokens(messages: Iterable[Message]) -> int:
    """Estimate the prompt tokens of messages: about one token per 4 characters.

    Text, tool names and arguments and reasoning text count by length; an image (and a document
    given by URL) counts as a flat 1,000 tokens; each message adds 4 tokens of overhead. It is
    a rough, provider-independent estimate meant for trimming history, not for billing.
    """
    total = 0
    for message in messages:
        chars, media = 0, 0
        if isinstance(message, AssistantMessage):
            chars = len(message.content)
            chars += sum(len(c.name) + len(c.arguments) for c in message.tool_calls)
            chars += sum(len(r.text) for r in message.reasoning)
        else:
            chars, media = _content_size(message.content)
            if isinstance(message, ToolResult):
                chars += len(message.tool_name)
        total += _MESSAGE_OVERHEAD_TOKENS + math.ceil(chars / 4) + media
    return total


def _content_size(content: MessageContent) -> tuple[int, int]:
    """Return (characters of text, tokens of media) of message content."""
    if isinstance(content, str):
        return len(content), 0
    chars, media = 0, 0
    for block in content:
        if isinstance(block, ImageBlock):
            media += _MEDIA_TOKENS
        elif isinstance(block, DocumentBlock):
            media += len(block.data) // 4 if block.data is not None else _MEDIA_TOKENS
        else:
            chars += len(block.text)
    return chars, media
