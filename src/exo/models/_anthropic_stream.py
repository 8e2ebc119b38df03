"""Fold an Anthropic Messages stream into exo chunks and the final :class:`ModelResponse`.

One state machine, :class:`StreamAssembler`, takes plain values; two thin readers feed it:
:func:`feed_dict` for events parsed straight from the SSE bytes (the lean path, read with
``exo.models._openai_sse.SSEReader`` like every raw stream) and :func:`feed_event` for the
SDK's typed stream events.

The stream is ``message_start`` (id, model, prompt usage), then per content block
``content_block_start`` / ``content_block_delta``… / ``content_block_stop``, then
``message_delta`` (stop reason, cumulative usage) and ``message_stop``. ``ping`` events may
come anywhere; an ``error`` event ends the stream with a :class:`ModelError`.
"""

from __future__ import annotations

from typing import Any

from exo.errors import ModelError
from exo.models._anthropic_convert import (
    BACKEND,
    arguments_text,
    finish_reason,
    make_usage,
    redacted_block,
    thinking_block,
)
from exo.models._anthropic_errors import from_stream_error
from exo.models.base import ModelResponse, ReasoningDelta, TextDelta, ToolCallDelta
from exo.types import AssistantMessage, ReasoningBlock, ToolCall

__all__ = ["StreamAssembler", "feed_dict", "feed_event"]

Chunk = TextDelta | ReasoningDelta | ToolCallDelta


class _Block:
    """A content block being streamed (thinking or tool use; text goes straight out)."""

    __slots__ = ("call_id", "index", "kind", "name", "parts", "signature")

    def __init__(self, kind: str, *, call_id: str = "", name: str = "", index: int = 0) -> None:
        self.kind = kind
        self.parts: list[str] = []
        self.signature = ""
        self.call_id = call_id
        self.name = name
        self.index = index  # the tool call's position among this turn's calls


class StreamAssembler:
    """The state of one streamed response: what was said so far, and how it ends."""

    __slots__ = (
        "_blocks",
        "_calls",
        "_reasoning",
        "_text",
        "_usage",
        "done",
        "id",
        "model",
        "stop_reason",
    )

    def __init__(self, model: str) -> None:
        self.model = model
        self.id: str | None = None
        self.stop_reason: str | None = None
        self.done = False
        self._text: list[str] = []
        self._blocks: dict[int, _Block] = {}
        self._calls: list[ToolCall] = []
        self._reasoning: list[ReasoningBlock] = []
        self._usage: list[int | None] = [None, None, None, None]  # in, out, read, write

    @property
    def text(self) -> str:
        """The answer text streamed so far."""
        return "".join(self._text)

    def begin(self, message_id: str | None, model: str | None) -> None:
        """Handle ``message_start``."""
        self.id = message_id
        if model:
            self.model = model

    def usage(
        self,
        input_tokens: int | None,
        output_tokens: int | None,
        cache_read: int | None,
        cache_write: int | None,
    ) -> None:
        """Record usage; later values win (``message_delta`` usage is cumulative)."""
        for slot, value in enumerate((input_tokens, output_tokens, cache_read, cache_write)):
            if value is not None:
                self._usage[slot] = value

    def start_text(self, text: str) -> TextDelta | None:
        """Handle the start of a text block (usually empty)."""
        return self.add_text(text)

    def add_text(self, text: str) -> TextDelta | None:
        """Handle a ``text_delta``."""
        if not text:
            return None
        self._text.append(text)
        return TextDelta(text=text)

    def start_thinking(self, index: int, text: str, signature: str) -> ReasoningDelta | None:
        """Handle the start of a thinking block."""
        block = self._blocks[index] = _Block("thinking")
        block.signature = signature
        return self.add_thinking(index, text)

    def add_thinking(self, index: int, text: str) -> ReasoningDelta | None:
        """Handle a ``thinking_delta``."""
        if not text:
            return None
        self._blocks[index].parts.append(text)
        return ReasoningDelta(text=text)

    def add_signature(self, index: int, signature: str) -> None:
        """Handle a ``signature_delta`` (kept verbatim)."""
        self._blocks[index].signature += signature

    def redacted(self, data: str | None) -> None:
        """Handle a ``redacted_thinking`` block (it arrives whole at its start)."""
        self._reasoning.append(redacted_block(data))

    def start_tool(self, index: int, call_id: str, name: str, initial: Any) -> ToolCallDelta:
        """Handle the start of a ``tool_use`` block: its id and name arrive once."""
        block = _Block("tool", call_id=call_id, name=name, index=len(self._calls))
        self._blocks[index] = block
        if initial:  # normally ``{}``, with the arguments streamed as JSON text
            block.parts.append(arguments_text(initial))
        return ToolCallDelta(
            index=block.index, id=call_id, name=name, arguments="".join(block.parts)
        )

    def add_json(self, index: int, piece: str) -> ToolCallDelta | None:
        """Handle an ``input_json_delta``: a piece of the arguments' JSON text."""
        if not piece:
            return None
        block = self._blocks[index]
        block.parts.append(piece)
        return ToolCallDelta(index=block.index, arguments=piece)

    def stop_block(self, index: int) -> ToolCallDelta | None:
        """Handle ``content_block_stop``: finish a thinking or tool block."""
        block = self._blocks.pop(index, None)
        if block is None:
            return None
        if block.kind == "thinking":
            self._reasoning.append(thinking_block("".join(block.parts), block.signature))
            return None
        arguments = "".join(block.parts)
        self._calls.append(ToolCall(id=block.call_id, name=block.name, arguments=arguments or "{}"))
        # No arguments at all means an empty object; say so, so the deltas add up.
        return None if arguments else ToolCallDelta(index=block.index, arguments="{}")

    def error(self, body: object) -> ModelError:
        """Build the error for an ``error`` event, keeping the text streamed before it."""
        return from_stream_error(body, self.model, partial_text=self.text)

    def response(self) -> ModelResponse:
        """The assembled response; raises if the stream ended before ``message_stop``."""
        if not self.done:
            raise ModelError(
                "the response stream ended before message_stop",
                backend=BACKEND,
                model=self.model,
                retryable=True,
                partial_text=self.text,
            )
        message = AssistantMessage(
            content="".join(self._text), tool_calls=self._calls, reasoning=self._reasoning
        )
        return ModelResponse(
            message=message,
            usage=make_usage(*self._usage),
            finish_reason=finish_reason(self.stop_reason),
            model=self.model,
            id=self.id,
        )


def feed_dict(asm: StreamAssembler, event: dict[str, Any]) -> Chunk | None:
    """Apply one parsed stream event (a JSON object) to ``asm``; return its chunk, if any."""
    kind = event.get("type")
    if kind == "content_block_delta":  # by far the most frequent: checked first
        delta = event["delta"]
        dkind = delta.get("type")
        if dkind == "text_delta":
            return asm.add_text(delta["text"])
        if dkind == "input_json_delta":
            return asm.add_json(event["index"], delta["partial_json"])
        if dkind == "thinking_delta":
            return asm.add_thinking(event["index"], delta["thinking"])
        if dkind == "signature_delta":
            asm.add_signature(event["index"], delta["signature"])
        return None
    if kind == "content_block_start":
        return _start_dict(asm, event["index"], event["content_block"])
    if kind == "content_block_stop":
        return asm.stop_block(event["index"])
    if kind == "message_start":
        message = event.get("message") or {}
        asm.begin(message.get("id"), message.get("model"))
        _usage_dict(asm, message.get("usage"))
    elif kind == "message_delta":
        asm.stop_reason = (event.get("delta") or {}).get("stop_reason") or asm.stop_reason
        _usage_dict(asm, event.get("usage"))
    elif kind == "message_stop":
        asm.done = True
    elif kind == "error":
        raise asm.error(event)
    return None  # ping, and event types added after this code was written


def _start_dict(asm: StreamAssembler, index: int, block: dict[str, Any]) -> Chunk | None:
    kind = block.get("type")
    if kind == "text":
        return asm.start_text(block.get("text") or "")
    if kind == "tool_use":
        return asm.start_tool(index, block["id"], block["name"], block.get("input"))
    if kind == "thinking":
        return asm.start_thinking(index, block.get("thinking") or "", block.get("signature") or "")
    if kind == "redacted_thinking":
        asm.redacted(block.get("data"))
    return None


def _usage_dict(asm: StreamAssembler, usage: dict[str, Any] | None) -> None:
    if usage:
        asm.usage(
            usage.get("input_tokens"),
            usage.get("output_tokens"),
            usage.get("cache_read_input_tokens"),
            usage.get("cache_creation_input_tokens"),
        )


def feed_event(asm: StreamAssembler, event: Any) -> Chunk | None:
    """Apply one of the SDK's typed stream events to ``asm``; return its chunk, if any."""
    kind = event.type
    if kind == "content_block_delta":
        delta = event.delta
        dkind = delta.type
        if dkind == "text_delta":
            return asm.add_text(delta.text)
        if dkind == "input_json_delta":
            return asm.add_json(event.index, delta.partial_json)
        if dkind == "thinking_delta":
            return asm.add_thinking(event.index, delta.thinking)
        if dkind == "signature_delta":
            asm.add_signature(event.index, delta.signature)
        return None
    if kind == "content_block_start":
        return _start_event(asm, event.index, event.content_block)
    if kind == "content_block_stop":
        return asm.stop_block(event.index)
    if kind == "message_start":
        asm.begin(event.message.id, event.message.model)
        _usage_event(asm, event.message.usage)
    elif kind == "message_delta":
        asm.stop_reason = event.delta.stop_reason or asm.stop_reason
        _usage_event(asm, event.usage)
    elif kind == "message_stop":
        asm.done = True
    return None


def _start_event(asm: StreamAssembler, index: int, block: Any) -> Chunk | None:
    kind = block.type
    if kind == "text":
        return asm.start_text(block.text or "")
    if kind == "tool_use":
        return asm.start_tool(index, block.id, block.name, block.input)
    if kind == "thinking":
        return asm.start_thinking(index, block.thinking or "", block.signature or "")
    if kind == "redacted_thinking":
        asm.redacted(block.data)
    return None


def _usage_event(asm: StreamAssembler, usage: Any) -> None:
    if usage is not None:
        asm.usage(
            getattr(usage, "input_tokens", None),
            getattr(usage, "output_tokens", None),
            getattr(usage, "cache_read_input_tokens", None),
            getattr(usage, "cache_creation_input_tokens", None),
        )
