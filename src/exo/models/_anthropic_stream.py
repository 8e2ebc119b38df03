"""Fold an Anthropic Messages stream into exo chunks and the final :class:`ModelResponse`.

One state machine, :class:`StreamAssembler`, takes plain values; :func:`feed_dict` feeds it
one event as a JSON object, checked field by field: parsed straight from the SSE bytes on the
lean path (read with ``exo.models._openai_sse.SSEReader`` like every raw stream), or taken
from the SDK's unvalidated event models.

The stream is ``message_start`` (id, model, prompt usage), then per content block
``content_block_start`` / ``content_block_delta``… / ``content_block_stop``, then
``message_delta`` (stop reason, cumulative usage) and ``message_stop``. ``ping`` events may
come anywhere; an ``error`` event ends the stream with a :class:`ModelError`. Blocks of the
server's own tools (``server_tool_use`` with its ``input_json_delta`` pieces, the
``*_tool_result`` blocks) are not registered, and deltas for a block never registered are
skipped: the tools ran on Anthropic's side and their outcome is in the answer text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exo.errors import ModelError
from exo.models._anthropic_convert import (
    BACKEND,
    arguments_text,
    finish_reason,
    make_usage,
    redacted_block,
    refusal_of,
    thinking_block,
    tool_call,
    usage_counts,
)
from exo.models._anthropic_errors import from_stream_error
from exo.models._wire import index, obj, opt_obj, opt_str, text
from exo.models.base import ModelResponse, ReasoningDelta, TextDelta, ToolCallDelta
from exo.types import AssistantMessage, ReasoningBlock, ToolCall

__all__ = ["StreamAssembler", "feed_dict"]

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
        self._blocks: dict[int | None, _Block] = {}
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

    def start_thinking(self, index: int | None, text: str, signature: str) -> ReasoningDelta | None:
        """Handle the start of a thinking block."""
        block = self._blocks[index] = _Block("thinking")
        block.signature = signature
        return self.add_thinking(index, text)

    def add_thinking(self, index: int | None, text: str) -> ReasoningDelta | None:
        """Handle a ``thinking_delta`` (of a block never started: skipped)."""
        block = self._blocks.get(index)
        if not text or block is None or block.kind != "thinking":
            return None
        block.parts.append(text)
        return ReasoningDelta(text=text)

    def add_signature(self, index: int | None, signature: str) -> None:
        """Handle a ``signature_delta`` (kept verbatim)."""
        block = self._blocks.get(index)
        if block is not None and block.kind == "thinking":
            block.signature += signature

    def redacted(self, data: str | None) -> None:
        """Handle a ``redacted_thinking`` block (it arrives whole at its start)."""
        self._reasoning.append(redacted_block(data))

    def start_tool(self, index: int | None, call_id: str, name: str, initial: Any) -> ToolCallDelta:
        """Handle the start of a ``tool_use`` block: its id and name arrive once."""
        block = _Block("tool", call_id=call_id, name=name, index=len(self._calls))
        self._blocks[index] = block
        if initial:  # normally ``{}``, with the arguments streamed as JSON text
            block.parts.append(arguments_text(initial))
        return ToolCallDelta(
            index=block.index, id=call_id, name=name, arguments="".join(block.parts)
        )

    def add_json(self, index: int | None, piece: str) -> ToolCallDelta | None:
        """Handle an ``input_json_delta``: a piece of the arguments' JSON text.

        Pieces for a block exo did not register (a ``server_tool_use`` block) are skipped.
        """
        block = self._blocks.get(index)
        if not piece or block is None or block.kind != "tool":
            return None
        block.parts.append(piece)
        return ToolCallDelta(index=block.index, arguments=piece)

    def stop_block(self, index: int | None) -> ToolCallDelta | None:
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
        for at in list(self._blocks):  # a block the server never closed still counts
            self.stop_block(at)
        content = "".join(self._text)
        message = AssistantMessage(
            content=content, tool_calls=self._calls, reasoning=self._reasoning
        )
        finish = finish_reason(self.stop_reason)
        return ModelResponse(
            message=message,
            usage=make_usage(*self._usage),
            finish_reason=finish,
            model=self.model,
            id=self.id,
            refusal=refusal_of(finish, content),
        )


def feed_dict(asm: StreamAssembler, event: Mapping[str, Any]) -> Chunk | None:
    """Apply one parsed stream event (a JSON object) to ``asm``; return its chunk, if any.

    Raises:
        WireError: a part of the event has the wrong type.
        ModelError: the event is an ``error`` event.
    """
    kind = event.get("type")
    if kind == "content_block_delta":  # by far the most frequent: checked first
        delta = obj(event.get("delta"), "a content_block_delta's delta")
        dkind = delta.get("type")
        if dkind == "text_delta":
            return asm.add_text(text(delta.get("text"), "a text_delta's text"))
        at = index(event.get("index"))
        if dkind == "input_json_delta":
            return asm.add_json(at, text(delta.get("partial_json"), "an input_json_delta"))
        if dkind == "thinking_delta":
            return asm.add_thinking(at, text(delta.get("thinking"), "a thinking_delta"))
        if dkind == "signature_delta":
            asm.add_signature(at, text(delta.get("signature"), "a signature_delta"))
        return None  # citations_delta and delta types added after this code was written
    if kind == "content_block_start":
        block = obj(event.get("content_block"), "a content_block_start's block")
        return _start_dict(asm, index(event.get("index")), block)
    if kind == "content_block_stop":
        return asm.stop_block(index(event.get("index")))
    if kind == "message_start":
        message = opt_obj(event.get("message"), "a message_start's message")
        asm.begin(opt_str(message.get("id")), opt_str(message.get("model")))
        asm.usage(*usage_counts(message.get("usage")))
    elif kind == "message_delta":
        reason = opt_obj(event.get("delta"), "a message_delta's delta").get("stop_reason")
        asm.stop_reason = opt_str(reason) or asm.stop_reason
        asm.usage(*usage_counts(event.get("usage")))
    elif kind == "message_stop":
        asm.done = True
    elif kind == "error":
        raise asm.error(event)
    return None  # ping, and event types added after this code was written


def _start_dict(asm: StreamAssembler, at: int | None, block: Mapping[str, Any]) -> Chunk | None:
    kind = block.get("type")
    if kind == "text":
        return asm.start_text(text(block.get("text"), "a text block's text"))
    if kind == "tool_use":
        call = tool_call(block)
        initial = block.get("input")
        return asm.start_tool(at, call.id, call.name, initial)
    if kind == "thinking":
        thought, signature = opt_str(block.get("thinking")), opt_str(block.get("signature"))
        return asm.start_thinking(at, thought or "", signature or "")
    if kind == "redacted_thinking":
        asm.redacted(opt_str(block.get("data")))
    return None  # server_tool_use, *_tool_result: the server's own tools (see the module doc)
