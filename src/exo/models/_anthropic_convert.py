"""Translate exo requests to Anthropic Messages API bodies, and whole responses back.

The request side builds plain JSON-ready dicts (the wire format), shared by both call paths
of :class:`~exo.models.anthropic.AnthropicProvider`. The response side has one reader,
:func:`response_from_dict`, of the JSON object both paths hand it (the lean path parses it
with orjson, the SDK path takes it from the SDK's unvalidated model): every field is checked,
as a server may send anything.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from exo.models._wire import (
    REFUSED,
    WireError,
    count,
    obj,
    opt_str,
    required_items,
    text,
)
from exo.models.base import FINAL_RESULT, ModelRequest, ModelResponse, ToolSpec, output_tool
from exo.types import (
    AssistantMessage,
    DocumentBlock,
    FinishReason,
    ImageBlock,
    Message,
    MessageContent,
    ReasoningBlock,
    TextBlock,
    ToolCall,
    ToolResult,
    Usage,
)

__all__ = [
    "BACKEND",
    "arguments_text",
    "build_body",
    "convert_messages",
    "finish_reason",
    "make_usage",
    "redacted_block",
    "refusal_of",
    "response_from_dict",
    "thinking_block",
    "tool_call",
    "usage_counts",
]

BACKEND = "anthropic"

Block = dict[str, Any]
"""One content block of the wire format."""

_STOP_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "refusal": "refusal",
}


# --------------------------------------------------------------------------- request


def build_body(
    request: ModelRequest,
    *,
    model: str,
    max_tokens: int,
    thinking: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Build the Messages API body for ``request`` (without ``stream``).

    Args:
        request: The exo request.
        model: The model name.
        max_tokens: Used when the request's settings leave ``max_tokens`` unset.
        thinking: The ``thinking`` configuration to send, if any.
        extra: Further top-level fields, sent as given (they win over ours).
    """
    system, messages = convert_messages(request.messages)
    settings = request.settings
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": settings.max_tokens or max_tokens,
        "messages": messages,
    }
    tools = request.tools
    if request.output is not None:
        tools = [*tools, output_tool(request.output)]
        if thinking is None:
            body["tool_choice"] = _output_choice(request)
        if thinking is not None or request.tools:
            # Beside other tools (or with thinking on, where the API refuses a forced tool),
            # say in words how to answer; appended, so the leading system prompt (and its
            # cached prefix) stays as it was.
            system = [*system, {"type": "text", "text": _ANSWER_BY_TOOL}]
    if system:
        body["system"] = system
    if tools:
        body["tools"] = [_tool(spec) for spec in tools]
    if settings.temperature is not None:
        body["temperature"] = settings.temperature
    if thinking is not None:
        body["thinking"] = thinking
    if extra:
        body.update(extra)
    return body


_ANSWER_BY_TOOL = (
    f"Use the other tools as you need, then give your final answer by calling the "
    f"{FINAL_RESULT} tool: its input is the answer."
)


def _output_choice(request: ModelRequest) -> dict[str, Any]:
    """Force the typed answer: the ``final_result`` tool itself when it is the only tool,
    else any tool (the model may still call its other tools first, then ``final_result``)."""
    if request.tools:
        return {"type": "any"}
    return {"type": "tool", "name": FINAL_RESULT}


def convert_messages(messages: Sequence[Message]) -> tuple[list[Block], list[dict[str, Any]]]:
    """Split exo messages into the ``system`` blocks and the alternating ``messages`` list.

    Every system message, wherever it sits, becomes a ``system`` text block, in order (the
    leading system prompt stays first and byte-identical, which keeps prompt caching
    working). Consecutive messages of one wire role are merged into one message, as the API
    requires: tool results travel as ``tool_result`` blocks of a single user message.
    """
    system: list[Block] = []
    out: list[dict[str, Any]] = []
    for message in messages:
        content: str | list[Block]
        if message.role == "system":
            if message.content:
                system.append({"type": "text", "text": message.content})
            continue
        if message.role == "user":
            role, content = "user", _user_content(message.content)
        elif message.role == "tool":
            role, content = "user", [_tool_result(message)]
        else:
            role, content = "assistant", _assistant_content(message)
            if not content:
                continue  # the API rejects an empty turn; there is nothing to replay
        if out and out[-1]["role"] == role:
            _merge_into(out[-1], content)
        else:
            out.append({"role": role, "content": content})
    return system, out


def _merge_into(previous: dict[str, Any], content: str | list[Block]) -> None:
    blocks = previous["content"]
    if isinstance(blocks, str):
        blocks = previous["content"] = _text_blocks(blocks)
    blocks.extend(_text_blocks(content) if isinstance(content, str) else content)


def _text_blocks(text: str) -> list[Block]:
    return [{"type": "text", "text": text}] if text else []


def _user_content(content: MessageContent) -> str | list[Block]:
    if isinstance(content, str):
        return content
    return _blocks(content)


def _blocks(content: Sequence[TextBlock | ImageBlock | DocumentBlock]) -> list[Block]:
    out: list[Block] = []
    for block in content:
        if isinstance(block, TextBlock):
            if block.text:
                out.append({"type": "text", "text": block.text})
        elif isinstance(block, ImageBlock):
            out.append(
                {"type": "image", "source": _source(block.url, block.data, block.media_type)}
            )
        else:
            out.append(_document(block))
    return out


def _source(url: str | None, data: str | None, media_type: str) -> Block:
    if url is not None:
        return {"type": "url", "url": url}
    return {"type": "base64", "media_type": media_type, "data": data}


def _document(block: DocumentBlock) -> Block:
    if block.data is not None and block.media_type == "text/plain":
        # Plain-text documents travel as text, not base64.
        source: Block = {"type": "text", "media_type": "text/plain", "data": _unbase64(block.data)}
    else:
        source = _source(block.url, block.data, block.media_type)
    out: Block = {"type": "document", "source": source}
    if block.title:
        out["title"] = block.title
    return out


def _unbase64(data: str) -> str:
    try:
        return base64.b64decode(data, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return data  # already plain text


def _tool_result(message: ToolResult) -> Block:
    content = message.content
    block: Block = {
        "type": "tool_result",
        "tool_use_id": message.tool_call_id,
        "content": content if isinstance(content, str) else _blocks(content),
    }
    if message.is_error:
        block["is_error"] = True
    return block


def _assistant_content(message: AssistantMessage) -> list[Block]:
    out: list[Block] = []
    for reasoning in message.reasoning:
        # Reasoning only goes back to the backend that produced it, and only verbatim.
        if reasoning.provider != BACKEND:
            continue
        if reasoning.redacted:
            if reasoning.encrypted:
                out.append({"type": "redacted_thinking", "data": reasoning.encrypted})
        elif reasoning.signature:
            out.append(
                {"type": "thinking", "thinking": reasoning.text, "signature": reasoning.signature}
            )
    if message.content:
        out.append({"type": "text", "text": message.content})
    for call in message.tool_calls:
        out.append(
            {"type": "tool_use", "id": call.id, "name": call.name, "input": _arguments(call)}
        )
    return out


def _arguments(call: ToolCall) -> Any:
    # The loop has already told the model its malformed arguments failed; the API only
    # accepts an object here, so a bad value must not fail the whole request.
    try:
        value = orjson.loads(call.arguments)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _tool(spec: ToolSpec) -> Block:
    return {"name": spec.name, "description": spec.description, "input_schema": spec.parameters}


# --------------------------------------------------------------------------- response


def finish_reason(stop_reason: object) -> FinishReason:
    """Map an Anthropic ``stop_reason`` to exo's finish reason."""
    return _STOP_REASONS.get(stop_reason, "other") if isinstance(stop_reason, str) else "other"


def make_usage(
    input_tokens: int | None,
    output_tokens: int | None,
    cache_read: int | None,
    cache_write: int | None,
) -> Usage:
    """Build exo usage; ``input_tokens`` counts every prompt token, cached ones included.

    No token count at all is usage the server did not report (``unreported=1``).
    """
    if input_tokens is None and output_tokens is None:
        return _UNREPORTED
    read, write = cache_read or 0, cache_write or 0
    return Usage(
        requests=1,
        input_tokens=(input_tokens or 0) + read + write,
        output_tokens=output_tokens or 0,
        cache_read_tokens=read,
        cache_write_tokens=write,
    )


_UNREPORTED = Usage(requests=1, unreported=1)


def usage_counts(raw: object) -> tuple[int | None, int | None, int | None, int | None]:
    """The four token counts of a ``usage`` object (``None`` where not reported)."""
    if not isinstance(raw, Mapping):
        return None, None, None, None
    return (
        count(raw.get("input_tokens")),
        count(raw.get("output_tokens")),
        count(raw.get("cache_read_input_tokens")),
        count(raw.get("cache_creation_input_tokens")),
    )


def refusal_of(finish: FinishReason, text: str) -> str | None:
    """What ``RunResult.refusal`` says: the model's words, or why there are none."""
    return (text or REFUSED) if finish == "refusal" else None


def arguments_text(value: Any) -> str:
    """Serialize a tool ``input`` object as the raw JSON text exo keeps."""
    try:
        return orjson.dumps(value if value is not None else {}).decode()
    except orjson.JSONEncodeError:  # an integer past 64 bits, from the SDK's json parser
        return json.dumps(value, ensure_ascii=False)


def tool_call(block: Mapping[str, Any]) -> ToolCall:
    """The tool call of a ``tool_use`` block (WireError without a string id and name)."""
    call_id, name = block.get("id"), block.get("name")
    if not isinstance(call_id, str) or not isinstance(name, str):
        raise WireError("a tool_use block has no string id and name")
    return ToolCall(id=call_id, name=name, arguments=arguments_text(block.get("input")))


def response_from_dict(data: object, model: str) -> ModelResponse:
    """Convert a Messages API JSON response (parsed) to a :class:`ModelResponse`.

    Blocks of the server's own tools (``server_tool_use``, ``web_search_tool_result`` and
    the other ``*_tool_result`` blocks) ran on Anthropic's side: their outcome is in the
    answer text, and exo's transcript has no place for them, so they are skipped.

    Raises:
        WireError: the response, or a part of it, has the wrong type.
    """
    message = obj(data, "the response")
    said: list[str] = []
    calls: list[ToolCall] = []
    reasoning: list[ReasoningBlock] = []
    for raw in required_items(message, "content", "the response's content"):
        block = obj(raw, "a content block")
        kind = block.get("type")
        if kind == "text":
            said.append(text(block.get("text"), "a text block's text"))
        elif kind == "tool_use":
            calls.append(tool_call(block))
        elif kind == "thinking":
            reasoning.append(
                thinking_block(opt_str(block.get("thinking")), opt_str(block.get("signature")))
            )
        elif kind == "redacted_thinking":
            reasoning.append(redacted_block(opt_str(block.get("data"))))
    finish = finish_reason(message.get("stop_reason"))
    content = "".join(said)
    return ModelResponse(
        message=AssistantMessage(content=content, tool_calls=calls, reasoning=reasoning),
        usage=make_usage(*usage_counts(message.get("usage"))),
        finish_reason=finish,
        model=opt_str(message.get("model")) or model,
        id=opt_str(message.get("id")),
        refusal=refusal_of(finish, content),
    )


def thinking_block(text: str | None, signature: str | None) -> ReasoningBlock:
    """Keep a thinking block (text and opaque signature) to send back verbatim."""
    return ReasoningBlock(text=text or "", signature=signature or None, provider=BACKEND)


def redacted_block(data: str | None) -> ReasoningBlock:
    """Keep a redacted thinking block (opaque data) to send back verbatim."""
    return ReasoningBlock(redacted=True, encrypted=data, provider=BACKEND)
