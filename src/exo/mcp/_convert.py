"""MCP tool results → what exo's tools return: text, content blocks, or a ToolError.

Text stays text; images become :class:`~exo.types.ImageBlock`; an embedded resource becomes
its text, or an image or PDF block for such binary data; audio and other binary data, which
no model API takes in a tool result, become a short note. Structured content is sent as its
JSON text (servers also put it in a text block, so the text blocks are left out then). An
``isError`` result raises :class:`~exo.errors.ToolError` with the server's text, which the
model reads as an error result.
"""

from __future__ import annotations

import json
from typing import Any

from exo.errors import ToolError
from exo.types import DocumentBlock, ImageBlock, TextBlock

__all__ = ["convert_result"]

Block = TextBlock | ImageBlock | DocumentBlock


def convert_result(result: Any, *, tool: str) -> str | list[Block]:
    """Return the exo result of an MCP ``CallToolResult``.

    Raises:
        ToolError: the server marked the result as an error.
    """
    structured = getattr(result, "structured_content", None)
    blocks = [_block(item) for item in result.content]
    if result.is_error:
        text = "\n".join(b.text for b in blocks if isinstance(b, TextBlock)).strip()
        if not text and structured is not None:
            text = json.dumps(structured, ensure_ascii=False, default=str)
        raise ToolError(text or f"tool {tool!r} failed (the MCP server gave no message)")
    if structured is not None:
        blocks = [
            TextBlock(text=json.dumps(structured, ensure_ascii=False, default=str)),
            *(b for b in blocks if not isinstance(b, TextBlock)),
        ]
    if all(isinstance(b, TextBlock) for b in blocks):
        return "\n".join(b.text for b in blocks if isinstance(b, TextBlock))
    return blocks


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
