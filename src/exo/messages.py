"""Messages and content blocks: the transcript's vocabulary, shared by every backend.

Frozen, keyword-only dataclasses with a literal tag (``role`` for messages, ``type`` for
blocks), so unions discriminate on it and pydantic validates and serializes them
(:data:`MESSAGES_ADAPTER`). ``exo.types`` re-exports every name here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field

from exo._lazy import lazy_adapter

if TYPE_CHECKING:
    from pydantic import TypeAdapter

__all__ = [
    "MESSAGES_ADAPTER",
    "AssistantMessage",
    "ContentBlock",
    "DocumentBlock",
    "ImageBlock",
    "Message",
    "MessageContent",
    "ReasoningBlock",
    "SystemMessage",
    "TextBlock",
    "ToolCall",
    "ToolResult",
    "UserMessage",
    "text_of",
]


# --------------------------------------------------------------------------- content blocks


@dataclass(frozen=True, slots=True, kw_only=True)
class TextBlock:
    """A piece of text inside multi-part content."""

    text: str
    type: Literal["text"] = "text"


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageBlock:
    """An image, by URL or as base64 data (exactly one of the two)."""

    url: str | None = None
    data: str | None = None
    media_type: str = "image/png"
    detail: Literal["auto", "low", "high"] = "auto"
    type: Literal["image"] = "image"

    def __post_init__(self) -> None:
        if (self.url is None) == (self.data is None):
            raise ValueError("ImageBlock takes exactly one of url= or data= (base64 text)")


@dataclass(frozen=True, slots=True, kw_only=True)
class DocumentBlock:
    """A document (PDF by default), by URL or as base64 data (exactly one of the two)."""

    url: str | None = None
    data: str | None = None
    media_type: str = "application/pdf"
    title: str | None = None
    type: Literal["document"] = "document"

    def __post_init__(self) -> None:
        if (self.url is None) == (self.data is None):
            raise ValueError("DocumentBlock takes exactly one of url= or data= (base64 text)")


ContentBlock = Annotated[TextBlock | ImageBlock | DocumentBlock, Field(discriminator="type")]
"""One part of multi-part message content."""

MessageContent = str | list[ContentBlock]
"""Message content: plain text, or a list of content blocks."""


def text_of(content: MessageContent) -> str:
    """Return the text of message content, joining text blocks and skipping media."""
    if isinstance(content, str):
        return content
    return "".join(b.text for b in content if isinstance(b, TextBlock))


# --------------------------------------------------------------------------- messages


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCall:
    """A tool call the model asked for.

    ``arguments`` is the raw JSON text exactly as the model sent it (it may be malformed: the
    loop reports that back to the model as a tool error rather than guessing).
    """

    id: str
    name: str
    arguments: str = "{}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ReasoningBlock:
    """Model reasoning kept so it can be sent back on the next turn, verbatim.

    ``signature`` (Anthropic thinking) and ``encrypted`` (OpenAI Responses
    ``encrypted_content``) are opaque; ``provider`` names the backend that produced it, since
    reasoning only travels back to the backend it came from.
    """

    text: str = ""
    signature: str | None = None
    encrypted: str | None = None
    id: str | None = None
    redacted: bool = False
    provider: str = ""
    type: Literal["reasoning"] = "reasoning"


@dataclass(frozen=True, slots=True, kw_only=True)
class SystemMessage:
    """System instructions (the agent's instructions, or an injected plan)."""

    content: str
    role: Literal["system"] = "system"


@dataclass(frozen=True, slots=True, kw_only=True)
class UserMessage:
    """A user turn: text or content blocks."""

    content: MessageContent
    role: Literal["user"] = "user"


@dataclass(frozen=True, slots=True, kw_only=True)
class AssistantMessage:
    """A model turn: text, tool calls and any reasoning to carry to the next turn."""

    content: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    reasoning: list[ReasoningBlock] = field(default_factory=list)
    role: Literal["assistant"] = "assistant"


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolResult:
    """The result of one tool call, sent back to the model."""

    tool_call_id: str
    tool_name: str
    content: MessageContent = ""
    is_error: bool = False
    role: Literal["tool"] = "tool"


Message = Annotated[
    SystemMessage | UserMessage | AssistantMessage | ToolResult, Field(discriminator="role")
]
"""Any message of a transcript."""

MESSAGES_ADAPTER: TypeAdapter[list[Message]] = lazy_adapter(list[Message])
"""Validates and serializes transcripts: ``MESSAGES_ADAPTER.dump_json(messages)`` (a
``TypeAdapter`` built on first use)."""
