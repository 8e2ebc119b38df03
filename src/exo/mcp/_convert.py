"""MCP tool results → what exo's tools return: text, content blocks, or a ToolError.

Text stays text; images become :class:`~exo.types.ImageBlock`; an embedded resource becomes
its text, or an image or PDF block for such binary data; audio and other binary data, which
no model API takes in a tool result, become a short note. Structured content is sent as its
JSON text (servers also put it in a text block, so the text blocks are left out then). An
``isError`` result raises :class:`~exo.errors.ToolError` with the server's text, which the
model reads as an error result.

A result larger than the server's ``max_result_chars`` is cut there, with a note saying so:
no model reads millions of characters, and each copy of such a result (the transcript, the
run's artifact store, a saved run) would cost that much memory again. An image or document
larger than that becomes a note (no model API takes one that big).
"""

from __future__ import annotations

import json
from typing import Any

from exo.errors import ToolError
from exo.types import DocumentBlock, ImageBlock, TextBlock

__all__ = ["convert_result"]

Block = TextBlock | ImageBlock | DocumentBlock


DEFAULT_MAX_RESULT_CHARS = 1_000_000
"""Characters of one tool result kept by default (about 250k tokens: more than a context)."""


def convert_result(
    result: Any, *, tool: str, max_chars: int = DEFAULT_MAX_RESULT_CHARS
) -> str | list[Block]:
    """Return the exo result of an MCP ``CallToolResult``, cut to ``max_chars``.

    Raises:
        ToolError: the server marked the result as an error.
    """
    structured = getattr(result, "structured_content", None)
    blocks = _capped([_block(item) for item in result.content], max_chars)
    if result.is_error:
        text = "\n".join(b.text for b in blocks if isinstance(b, TextBlock)).strip()
        if not text and structured is not None:
            text = json.dumps(structured, ensure_ascii=False, default=str)
        raise ToolError(text or f"tool {tool!r} failed (the MCP server gave no message)")
    if structured is not None:
        blocks = _capped(
            [
                TextBlock(text=json.dumps(structured, ensure_ascii=False, default=str)),
                *(b for b in blocks if not isinstance(b, TextBlock)),
            ],
            max_chars,
        )
    if all(isinstance(b, TextBlock) for b in blocks):
        return "\n".join(b.text for b in blocks if isinstance(b, TextBlock))
    return blocks


def _capped(blocks: list[Block], max_chars: int) -> list[Block]:
    """``blocks`` with at most ``max_chars`` characters of text and data in all."""
    left, kept = max_chars, []
    for block in blocks:
        size = len(block.text) if isinstance(block, TextBlock) else len(block.data or "")
        if size <= left:
            left -= size
            kept.append(block)
        elif isinstance(block, TextBlock):
            kept.append(TextBlock(text=block.text[:left] + _cut(size, max_chars)))
            left = 0
        else:
            kept.append(
                TextBlock(text=f"[{block.media_type} data not shown: {_cut(size, max_chars)}]")
            )
    return kept


def _cut(size: int, max_chars: int) -> str:
    return (
        f"\n[cut: this part of the result has {size:,} characters; the MCP server's "
        f"max_result_chars keeps {max_chars:,} for the whole result]"
    )


def _block(item: Any) -> Block:
    kind = getattr(item, "type", None)
    if kind == "text":
        return TextBlock(text=item.text)
    if kind == "image":
        return ImageBlock(data=item.data, media_type=item.mime_type)
    if kind == "resource":
        return _resource(item.resource)
    if kind == "resource_link":
        title = f" ({item.name})" if getattr(item, "name", None) else ""
        return TextBlock(text=f"[resource link: {item.uri}{title}]")
    if kind == "audio":
        return TextBlock(text=f"[audio ({item.mime_type}) not shown: the model cannot hear it]")
    return TextBlock(text=f"[{kind or 'unknown'} content not shown]")


def _resource(resource: Any) -> Block:
    text = getattr(resource, "text", None)
    if isinstance(text, str):
        return TextBlock(text=text)
    mime = getattr(resource, "mime_type", None) or "application/octet-stream"
    blob = getattr(resource, "blob", "")
    if mime.startswith("image/"):
        return ImageBlock(data=blob, media_type=mime)
    if mime == "application/pdf":
        return DocumentBlock(data=blob, media_type=mime)
    return TextBlock(text=f"[resource {resource.uri} ({mime}, binary) not shown]")
