"""Responses API wire format: exo messages to input items, response JSON to exo types.

Requests are stateless (``store: false``): every call sends the whole conversation as input
items, and reasoning models get ``include: ["reasoning.encrypted_content"]`` so their
reasoning items come back with the opaque ``encrypted_content`` that lets us carry them to the
next turn. Items are sent without their server ids, as with ``store: false`` nothing is kept
server-side to refer to: a reasoning item travels with its encrypted content, a function
call with its ``call_id``.

System messages become ``developer`` input items in place rather than ``instructions``: a
system message may sit anywhere in an exo transcript (an injected plan follows the history)
and keeping it at its position keeps the order the agent meant, with one rule for all of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exo.models._openai_chat import usage_from as chat_usage
from exo.models._wire import REFUSED, arguments, items, obj, opt_str, text
from exo.models.base import ModelRequest, ModelResponse, ToolSpec
from exo.types import (
    AssistantMessage,
    ContentBlock,
    FinishReason,
    ImageBlock,
    Message,
    ReasoningBlock,
    SystemMessage,
    TextBlock,
    ToolCall,
    ToolResult,
    Usage,
    UserMessage,
)

__all__ = [
    "BACKEND",
    "input_items",
    "is_reasoning_model",
    "parse_response",
    "reasoning_block",
    "responses_body",
    "usage_from",
]

BACKEND = "openai-responses"
"""The provider name reasoning blocks carry, and the only backend they are sent back to."""

_REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5", "codex")


def is_reasoning_model(model: str) -> bool:
    """Guess whether ``model`` is a reasoning model (it can return encrypted reasoning).

    Non-reasoning models reject ``include: ["reasoning.encrypted_content"]`` with a 400.
    """
    name = model.lower().rsplit("/", 1)[-1]
    return name.startswith(_REASONING_PREFIXES) and "chat" not in name


def responses_body(
    request: ModelRequest,
    model: str,
    *,
    stream: bool,
    encrypted_reasoning: bool,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Build the ``/responses`` request body for ``request`` (a typed output is asked for
    natively, as a ``text.format`` JSON schema)."""
    body: dict[str, Any] = {"model": model, "input": input_items(request.messages), "store": False}
    if request.tools:
        body["tools"] = [_tool(t) for t in request.tools]
    if (spec := request.output) is not None:
        body["text"] = {
            "format": {
                "type": "json_schema",
                "name": spec.name,
                "schema": spec.schema,
                "strict": spec.strict,
            }
        }
    settings = request.settings
    if settings.temperature is not None:
        body["temperature"] = settings.temperature
    if settings.max_tokens is not None:
        body["max_output_tokens"] = settings.max_tokens
    if encrypted_reasoning:
        body["include"] = ["reasoning.encrypted_content"]
    if stream:
        body["stream"] = True
    if extra:
        body.update(extra)
    return body


def _tool(tool: ToolSpec) -> dict[str, Any]:
    # strict defaults to true on this API, which rejects most ordinary JSON schemas
    return {
        "type": "function",
        "name": tool.name,
        "description": tool.description,
        "parameters": tool.parameters,
        "strict": False,
    }


def input_items(messages: list[Message]) -> list[dict[str, Any]]:
    """Convert an exo transcript to Responses input items."""
    items: list[dict[str, Any]] = []
    for msg in messages:
        if isinstance(msg, UserMessage):
            content = msg.content
            items.append(
                {
                    "role": "user",
                    "content": content if isinstance(content, str) else [_part(b) for b in content],
                }
            )
        elif isinstance(msg, AssistantMessage):
            _assistant(msg, items)
        elif isinstance(msg, ToolResult):
            content = msg.content
            output: str | list[dict[str, Any]]
            if isinstance(content, str) or all(isinstance(b, TextBlock) for b in content):
                output = (
                    content
                    if isinstance(content, str)
                    else "".join(b.text for b in content if isinstance(b, TextBlock))
                )
            else:
                output = [_part(b) for b in content]
            items.append(
                {"type": "function_call_output", "call_id": msg.tool_call_id, "output": output}
            )
        elif isinstance(msg, SystemMessage):
            items.append({"role": "developer", "content": msg.content})
    return items


def _assistant(msg: AssistantMessage, items: list[dict[str, Any]]) -> None:
    for block in msg.reasoning:
        # only our own reasoning can travel back, and only with its encrypted content
        if block.provider == BACKEND and block.encrypted:
            summary = [{"type": "summary_text", "text": block.text}] if block.text else []
            items.append(
                {"type": "reasoning", "summary": summary, "encrypted_content": block.encrypted}
            )
    if msg.content:
        items.append(
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": msg.content}],
            }
        )
    for call in msg.tool_calls:
        items.append(
            {
                "type": "function_call",
                "call_id": call.id,
                "name": call.name,
                "arguments": call.arguments,
            }
        )


def _part(block: ContentBlock) -> dict[str, Any]:
    if isinstance(block, TextBlock):
        return {"type": "input_text", "text": block.text}
    if isinstance(block, ImageBlock):
        url = block.url or f"data:{block.media_type};base64,{block.data}"
        return {"type": "input_image", "image_url": url, "detail": block.detail}
    part: dict[str, Any] = {"type": "input_file"}
    if block.url is not None:
        part["file_url"] = block.url
    else:
        part["filename"] = block.title or "document.pdf"
        part["file_data"] = f"data:{block.media_type};base64,{block.data}"
    return part


# --------------------------------------------------------------------------- responses


def usage_from(raw: object) -> Usage:
    """Map a Responses ``usage`` object to :class:`Usage` (``input_tokens`` / ``output_tokens``)."""
    return chat_usage(raw, given="input", produced="output")


def reasoning_block(item: Mapping[str, Any]) -> ReasoningBlock:
    """Turn a ``reasoning`` output item into a :class:`ReasoningBlock`."""
    parts = items(item.get("summary") or item.get("content"), "a reasoning item's summary")
    texts = [
        text(obj(p, "a reasoning summary part").get("text"), "a summary's text") for p in parts
    ]
    return ReasoningBlock(
        text="\n\n".join(texts),
        encrypted=opt_str(item.get("encrypted_content")),
        id=opt_str(item.get("id")),
        provider=BACKEND,
    )


def _finish(data: Mapping[str, Any], has_calls: bool, refusal: str | None) -> FinishReason:
    if data.get("status") == "incomplete":
        details = data.get("incomplete_details")
        reason = details.get("reason") if isinstance(details, Mapping) else None
        if reason == "max_output_tokens":
            return "length"
        return "content_filter" if reason == "content_filter" else "other"
    if has_calls:
        return "tool_calls"
    return "refusal" if refusal is not None else "stop"


def parse_response(data: Mapping[str, Any], *, model: str) -> ModelResponse:
    """Turn a ``response`` JSON object (completed or incomplete) into a :class:`ModelResponse`.

    A failed response is the caller's to check (``status == "failed"``) before this. Items
    of the server's built-in tools (``web_search_call``, ``file_search_call``,
    ``code_interpreter_call``…) ran on the server: their outcome is in the answer text, and
    exo's transcript has no place for them, so they are skipped.

    Raises:
        WireError: a part of the response has the wrong type.
    """
    text_parts: list[str] = []
    refusal: list[str] = []
    calls: list[ToolCall] = []
    reasoning: list[ReasoningBlock] = []
    for raw in items(data.get("output"), "the response's output"):
        item = obj(raw, "an output item")
        kind = item.get("type")
        if kind == "message":
            _message_parts(item, text_parts, refusal)
        elif kind == "function_call":
            calls.append(
                ToolCall(
                    id=opt_str(item.get("call_id")) or opt_str(item.get("id")) or "",
                    name=opt_str(item.get("name")) or "",
                    arguments=arguments(item.get("arguments"), "a function call's arguments"),
                )
            )
        elif kind == "reasoning":
            reasoning.append(reasoning_block(item))
    said = ("".join(refusal) or REFUSED) if refusal else None
    return ModelResponse(
        message=AssistantMessage(
            content="".join(text_parts) or "".join(refusal), tool_calls=calls, reasoning=reasoning
        ),
        usage=usage_from(data.get("usage")),
        finish_reason=_finish(data, bool(calls), said),
        model=opt_str(data.get("model")) or model,
        id=opt_str(data.get("id")),
        refusal=said if not calls else None,
    )


def _message_parts(item: Mapping[str, Any], out: list[str], refusal: list[str]) -> None:
    content = item.get("content")
    if isinstance(content, str):  # a compat server's shortcut for one output_text part
        out.append(content)
        return
    for raw in items(content, "a message item's content"):
        part = obj(raw, "a part of a message item")
        kind = part.get("type")
        if kind == "output_text":
            out.append(text(part.get("text"), "an output_text part's text"))
        elif kind == "refusal":
            refusal.append(text(part.get("refusal"), "a refusal part's text"))
