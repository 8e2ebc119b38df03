"""The three wire protocols the fake server speaks: rendering turns, error bodies, validation.

A :class:`Turn` is one scripted model answer in neutral form (text, tool calls, usage). This
module renders it as each API would send it, whole (JSON) or streamed (server-sent events):
OpenAI Chat Completions (``openai``), OpenAI Responses (``openai-responses``) and Anthropic
Messages (``anthropic``). It also writes error bodies in each provider's shape, checks request
bodies structurally the way the real APIs do (every tool call answered, argument types right,
roles in order), and reads back what a request carries (the user's task, tool results).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "PROTOCOLS",
    "Call",
    "Seen",
    "Turn",
    "error_body",
    "malformed",
    "masked",
    "preamble",
    "render_events",
    "render_json",
    "text_event",
]

PROTOCOLS = ("openai", "openai-responses", "anthropic")

_ids = itertools.count(1)


@dataclass(frozen=True, slots=True)
class Call:
    """A scripted tool call: the tool's name and its raw JSON arguments, exactly as sent."""

    name: str
    arguments: str = "{}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Turn:
    """One scripted model answer.

    Attributes:
        text: The answer text.
        calls: Tool calls, in order (parallel calls when more than one).
        input_tokens: Prompt tokens, cached ones included (as exo counts them).
        output_tokens: Completion tokens.
        cache_read_tokens: Prompt tokens served from the cache.
        pieces: How many deltas the text (and each call's arguments) is streamed in.
        finish: ``"length"`` to say the answer was cut at max_tokens; else derived.
    """

    text: str = ""
    calls: tuple[Call, ...] = ()
    input_tokens: int = 11
    output_tokens: int = 7
    cache_read_tokens: int = 0
    pieces: int = 3
    finish: str | None = None


def _split(text: str, pieces: int) -> list[str]:
    if not text:
        return []
    size = max(1, -(-len(text) // max(1, pieces)))
    return [text[i : i + size] for i in range(0, len(text), size)]


def _new_id(prefix: str) -> str:
    return f"{prefix}_{next(_ids):06d}"


def _sse(data: dict[str, Any], event: str | None = None) -> bytes:
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + json.dumps(data).encode() + b"\n\n"


# --------------------------------------------------------------------------- rendering


def render_json(protocol: str, turn: Turn, model: str) -> dict[str, Any]:
    """The whole (non-streamed) response body for ``turn``."""
    ids = [_new_id("toolu" if protocol == "anthropic" else "call") for _ in turn.calls]
    if protocol == "openai":
        return _chat_json(turn, model, ids)
    if protocol == "openai-responses":
        return _responses_json(turn, model, ids)
    return _anthropic_json(turn, model, ids)


def render_events(protocol: str, turn: Turn, model: str) -> list[bytes]:
    """The streamed response for ``turn``: one SSE event per item (end marker included)."""
    ids = [_new_id("toolu" if protocol == "anthropic" else "call") for _ in turn.calls]
    if protocol == "openai":
        return _chat_events(turn, model, ids)
    if protocol == "openai-responses":
        return _responses_events(turn, model, ids)
    return _anthropic_events(turn, model, ids)


def text_event(protocol: str, text: str, model: str) -> bytes:
    """One more text delta (endless streams repeat it until the client leaves)."""
    if protocol == "openai":
        return _sse(_chunk(model, {"content": text}))
    if protocol == "openai-responses":
        data = {"type": "response.output_text.delta", "item_id": "msg_endless", "delta": text}
        return _sse({**data, "output_index": 0, "content_index": 0}, data["type"])
    delta = {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "text_delta", "text": text},
    }
    return _sse(delta, "content_block_delta")


def _finish(turn: Turn) -> str:
    if turn.finish:
        return turn.finish
    return "tool_calls" if turn.calls else "stop"


def _chat_usage(turn: Turn) -> dict[str, Any]:
    return {
        "prompt_tokens": turn.input_tokens,
        "completion_tokens": turn.output_tokens,
        "total_tokens": turn.input_tokens + turn.output_tokens,
        "prompt_tokens_details": {"cached_tokens": turn.cache_read_tokens},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def _chat_json(turn: Turn, model: str, ids: list[str]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": turn.text or None, "refusal": None}
    if turn.calls:
        message["tool_calls"] = [
            {"id": i, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for i, c in zip(ids, turn.calls, strict=True)
        ]
    choice = {"index": 0, "message": message, "finish_reason": _finish(turn), "logprobs": None}
    return {
        "id": _new_id("chatcmpl"),
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [choice],
        "usage": _chat_usage(turn),
    }


def _chunk(model: str, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-stream",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
    }


def _chat_events(turn: Turn, model: str, ids: list[str]) -> list[bytes]:
    out = [_sse(_chunk(model, {"role": "assistant", "content": ""}))]
    out += [_sse(_chunk(model, {"content": piece})) for piece in _split(turn.text, turn.pieces)]
    for index, (call_id, call) in enumerate(zip(ids, turn.calls, strict=True)):
        head = {"index": index, "id": call_id, "type": "function"}
        head["function"] = {"name": call.name, "arguments": ""}
        out.append(_sse(_chunk(model, {"tool_calls": [head]})))
        for piece in _split(call.arguments, turn.pieces):
            part = {"index": index, "function": {"arguments": piece}}
            out.append(_sse(_chunk(model, {"tool_calls": [part]})))
    out.append(_sse(_chunk(model, {}, _finish(turn))))
    usage = {**_chunk(model, {}), "choices": [], "usage": _chat_usage(turn)}
    out.append(_sse(usage))
    out.append(b"data: [DONE]\n\n")
    return out


def _responses_usage(turn: Turn) -> dict[str, Any]:
    return {
        "input_tokens": turn.input_tokens,
        "input_tokens_details": {"cached_tokens": turn.cache_read_tokens},
        "output_tokens": turn.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": turn.input_tokens + turn.output_tokens,
    }


def _responses_items(turn: Turn, ids: list[str]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    if turn.text:
        part = {"type": "output_text", "text": turn.text, "annotations": []}
        items.append(
            {"id": "msg_1", "type": "message", "status": "completed", "role": "assistant"}
            | {"content": [part]}
        )
    for n, (call_id, call) in enumerate(zip(ids, turn.calls, strict=True)):
        items.append(
            {"id": f"fc_{n}", "type": "function_call", "status": "completed", "call_id": call_id}
            | {"name": call.name, "arguments": call.arguments}
        )
    return items


def _responses_json(turn: Turn, model: str, ids: list[str]) -> dict[str, Any]:
    cut = _finish(turn) == "length"
    return {
        "id": _new_id("resp"),
        "object": "response",
        "created_at": 1_700_000_000,
        "status": "incomplete" if cut else "completed",
        "incomplete_details": {"reason": "max_output_tokens"} if cut else None,
        "error": None,
        "model": model,
        "output": _responses_items(turn, ids),
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": _responses_usage(turn),
    }


def _responses_events(turn: Turn, model: str, ids: list[str]) -> list[bytes]:
    final = _responses_json(turn, model, ids)
    seq = itertools.count()

    def ev(kind: str, **data: Any) -> bytes:
        return _sse({"type": kind, "sequence_number": next(seq), **data}, kind)

    started = {**final, "status": "in_progress", "output": [], "usage": None}
    out = [ev("response.created", response=started)]
    for index, item in enumerate(final["output"]):
        if item["type"] == "message":
            empty = item | {"content": []}
            out.append(ev("response.output_item.added", output_index=index, item=empty))
            for piece in _split(turn.text, turn.pieces):
                where = {"item_id": item["id"], "output_index": index, "content_index": 0}
                out.append(ev("response.output_text.delta", **where, delta=piece))
        else:
            added = item | {"arguments": "", "status": "in_progress"}
            out.append(ev("response.output_item.added", output_index=index, item=added))
            for piece in _split(item["arguments"], turn.pieces):
                where = {"item_id": item["id"], "output_index": index}
                out.append(ev("response.function_call_arguments.delta", **where, delta=piece))
        out.append(ev("response.output_item.done", output_index=index, item=item))
    done = "response.incomplete" if final["status"] == "incomplete" else "response.completed"
    out.append(ev(done, response=final))
    return out


def _anthropic_usage(turn: Turn, output: int) -> dict[str, Any]:
    return {
        "input_tokens": turn.input_tokens - turn.cache_read_tokens,
        "output_tokens": output,
        "cache_read_input_tokens": turn.cache_read_tokens,
        "cache_creation_input_tokens": 0,
    }


def _stop_reason(turn: Turn) -> str:
    return {"tool_calls": "tool_use", "length": "max_tokens"}.get(_finish(turn), "end_turn")


def _input_value(arguments: str) -> Any:
    """A tool_use ``input`` for raw arguments; text that is not JSON goes as a string."""
    try:
        return json.loads(arguments)
    except ValueError:
        return arguments


def _anthropic_json(turn: Turn, model: str, ids: list[str]) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if turn.text:
        content.append({"type": "text", "text": turn.text})
    for call_id, call in zip(ids, turn.calls, strict=True):
        block = {"type": "tool_use", "id": call_id, "name": call.name}
        content.append(block | {"input": _input_value(call.arguments)})
    return {
        "id": _new_id("msg"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": _stop_reason(turn),
        "stop_sequence": None,
        "usage": _anthropic_usage(turn, turn.output_tokens),
    }


def _anthropic_events(turn: Turn, model: str, ids: list[str]) -> list[bytes]:
    def ev(kind: str, **data: Any) -> bytes:
        return _sse({"type": kind, **data}, kind)

    start = _anthropic_json(turn, model, ids) | {"content": [], "stop_reason": None}
    start["usage"] = _anthropic_usage(turn, 1)
    out = [ev("message_start", message=start), ev("ping")]
    index = 0
    if turn.text:
        out.append(ev("content_block_start", index=0, content_block={"type": "text", "text": ""}))
        for piece in _split(turn.text, turn.pieces):
            delta = {"type": "text_delta", "text": piece}
            out.append(ev("content_block_delta", index=0, delta=delta))
        out.append(ev("content_block_stop", index=0))
        index = 1
    for call_id, call in zip(ids, turn.calls, strict=True):
        block = {"type": "tool_use", "id": call_id, "name": call.name, "input": {}}
        out.append(ev("content_block_start", index=index, content_block=block))
        for piece in _split(call.arguments, turn.pieces):
            delta = {"type": "input_json_delta", "partial_json": piece}
            out.append(ev("content_block_delta", index=index, delta=delta))
        out.append(ev("content_block_stop", index=index))
        index += 1
    stop: dict[str, Any] = {"stop_reason": _stop_reason(turn), "stop_sequence": None}
    out.append(ev("message_delta", delta=stop, usage={"output_tokens": turn.output_tokens}))
    out.append(ev("message_stop"))
    return out


# --------------------------------------------------------------------------- errors

_OPENAI_ERRORS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    408: ("timeout", None),
    409: ("invalid_request_error", "conflict"),
    422: ("invalid_request_error", None),
    429: ("requests", "rate_limit_exceeded"),
}

_ANTHROPIC_ERRORS: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    409: "invalid_request_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def error_body(protocol: str, status: int, message: str) -> dict[str, Any]:
    """An error body in the provider's own shape for ``status``."""
    if protocol == "anthropic":
        kind = _ANTHROPIC_ERRORS.get(status, "api_error")
        error = {"type": kind, "message": message}
        return {"type": "error", "error": error, "request_id": _new_id("req")}
    kind, code = _OPENAI_ERRORS.get(status, ("server_error", None))
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def masked(key: str) -> str:
    """A key as the OpenAI API echoes it in a 401 message: its ends, the middle starred."""
    return f"{key[:8]}*****{key[-4:]}"


@dataclass(slots=True)
class Seen:
    """What a request carries, read back from its body (any protocol).

    Attributes:
        task: The text of the first user message.
        system: Every system (or developer) text, joined.
        results: Tool results in transcript order: ``(content text, is_error)``.
        rounds: Assistant turns with tool calls so far.
    """

    task: str = ""
    system: str = ""
    results: list[tuple[str, bool]] = field(default_factory=list)
    rounds: int = 0


def preamble(protocol: str, model: str) -> list[bytes]:
    """The opening events of a text answer (endless streams follow them with text deltas)."""
    if protocol == "openai":
        return [_sse(_chunk(model, {"role": "assistant", "content": ""}))]
    if protocol == "openai-responses":
        started = {"id": "resp_endless", "object": "response", "status": "in_progress"}
        item = {"id": "msg_endless", "type": "message", "role": "assistant", "content": []}
        item["status"] = "in_progress"
        return [
            _sse(
                {"type": "response.created", "response": started | {"output": []}},
                "response.created",
            ),
            _sse(
                {"type": "response.output_item.added", "output_index": 0, "item": item},
                "response.output_item.added",
            ),
        ]
    message: dict[str, Any] = {"id": "msg_endless", "type": "message", "role": "assistant"}
    message["model"] = model
    message |= {
        "content": [],
        "stop_reason": None,
        "usage": {"input_tokens": 1, "output_tokens": 1},
    }
    block = {"type": "text", "text": ""}
    return [
        _sse({"type": "message_start", "message": message}, "message_start"),
        _sse(
            {"type": "content_block_start", "index": 0, "content_block": block},
            "content_block_start",
        ),
    ]


def malformed(protocol: str) -> bytes:
    """An event whose JSON is cut off (what a broken proxy or a torn buffer produces)."""
    cut = b'data: {"type": "content_block_delta", "index": 0, "delta": {"text": "cut\n\n'
    if protocol == "anthropic":
        return b"event: content_block_delta\n" + cut
    if protocol == "openai-responses":
        return b"event: response.output_text.delta\n" + cut
    return cut
