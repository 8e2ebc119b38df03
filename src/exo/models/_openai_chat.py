"""Chat Completions wire format: exo messages to request JSON, response JSON to exo types.

Everything here works on plain dicts (the request body we serialize, the response body we
parse), so the provider can skip the SDK's parameter transformation and pydantic models.
:class:`ChatAssembler` accumulates a streamed answer from whatever feeds it: raw chunk dicts
(:meth:`ChatAssembler.feed`) or the SDK's typed chunks (``exo.models.openai``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Literal

from exo.errors import ModelError
from exo.models._wire import (
    WireError,
    arguments,
    count,
    index,
    items,
    obj,
    opt_obj,
    opt_str,
    required_items,
    text,
)
from exo.models.base import (
    ModelRequest,
    ModelResponse,
    OutputSpec,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    ToolSpec,
    output_tool,
)
from exo.types import (
    AssistantMessage,
    ContentBlock,
    DocumentBlock,
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
    "ChatAssembler",
    "chat_body",
    "chat_messages",
    "finish_reason",
    "parse_completion",
    "usage_from",
]

_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "length": "length",
    "content_filter": "content_filter",
}

Delta = TextDelta | ReasoningDelta | ToolCallDelta


def chat_body(
    request: ModelRequest,
    model: str,
    *,
    backend: str,
    stream: bool,
    max_tokens_fields: tuple[str, ...],
    extra: Mapping[str, Any] | None = None,
    output_mode: Literal["native", "tool"] = "native",
) -> dict[str, Any]:
    """Build the ``/chat/completions`` request body for ``request``.

    ``max_tokens`` goes in each of ``max_tokens_fields`` (see ``OpenAIProvider``). A typed
    output is asked for as a ``response_format`` JSON schema (``output_mode="native"``) or
    as a ``final_result`` tool the model must call (``"tool"``).
    """
    body: dict[str, Any] = {
        "model": model,
        "messages": chat_messages(request.messages, backend=backend, model=model),
    }
    tools = request.tools
    spec = request.output
    if spec is not None and output_mode == "tool":
        tools = [*tools, output_tool(spec)]
        # The answer is a tool call, so every turn calls a tool: the widely supported
        # "required" forces that without naming one.
        body["tool_choice"] = "required"
    elif spec is not None:
        body["response_format"] = response_format(spec)
    if tools:
        body["tools"] = [_tool(t) for t in tools]
    settings = request.settings
    if settings.temperature is not None:
        body["temperature"] = settings.temperature
    if settings.max_tokens is not None:
        for name in max_tokens_fields:
            body[name] = settings.max_tokens
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    if extra:
        body.update(extra)
    return body


def response_format(spec: OutputSpec) -> dict[str, Any]:
    """The Chat Completions ``response_format`` asking for JSON of ``spec``'s schema."""
    return {
        "type": "json_schema",
        "json_schema": {"name": spec.name, "schema": spec.schema, "strict": spec.strict},
    }


def _tool(tool: ToolSpec) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description,
            "parameters": tool.parameters,
        },
    }


def chat_messages(messages: list[Message], *, backend: str, model: str) -> list[dict[str, Any]]:
    """Convert an exo transcript to Chat Completions messages.

    Tool messages are text only, so media a tool returned is re-sent in one user message
    after the turn's last tool result (a user message between two tool results would break
    the tool-call/result pairing the API checks).

    Raises:
        ModelError: a content block this API cannot take (a document by URL).
    """
    out: list[dict[str, Any]] = []
    held: list[dict[str, Any]] = []  # media parts from tool results, awaiting the turn's end
    for msg in messages:
        if held and not isinstance(msg, ToolResult):
            out.append({"role": "user", "content": held})
            held = []
        if isinstance(msg, UserMessage):
            content = msg.content
            out.append(
                {
                    "role": "user",
                    "content": content
                    if isinstance(content, str)
                    else [_part(b, backend, model) for b in content],
                }
            )
        elif isinstance(msg, AssistantMessage):
            out.append(_assistant(msg))
        elif isinstance(msg, ToolResult):
            out.append(_tool_result(msg, held, backend, model))
        elif isinstance(msg, SystemMessage):
            out.append({"role": "system", "content": msg.content})
    if held:
        out.append({"role": "user", "content": held})
    return out


def _assistant(msg: AssistantMessage) -> dict[str, Any]:
    if not msg.tool_calls:
        return {"role": "assistant", "content": msg.content}
    return {
        "role": "assistant",
        # "" rather than null: OpenAI takes either, but some compatible servers
        # (llama-cpp-python's) fail on a null content
        "content": msg.content,
        "tool_calls": [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in msg.tool_calls
        ],
    }


def _tool_result(
    msg: ToolResult, held: list[dict[str, Any]], backend: str, model: str
) -> dict[str, Any]:
    content = msg.content
    if isinstance(content, str):
        text = content
    else:
        texts = [b.text for b in content if isinstance(b, TextBlock)]
        media = [_part(b, backend, model) for b in content if not isinstance(b, TextBlock)]
        text = "".join(texts)
        if media:
            held.append(
                {
                    "type": "text",
                    "text": f"Attachments returned by tool {msg.tool_name!r} "
                    f"(call {msg.tool_call_id}):",
                }
            )
            held.extend(media)
            text = text or "(the result's attachments follow in the next user message)"
    return {"role": "tool", "tool_call_id": msg.tool_call_id, "content": text}


def _part(block: ContentBlock, backend: str, model: str) -> dict[str, Any]:
    if isinstance(block, TextBlock):
        return {"type": "text", "text": block.text}
    if isinstance(block, ImageBlock):
        url = block.url or f"data:{block.media_type};base64,{block.data}"
        image: dict[str, Any] = {"url": url}
        if block.detail != "auto":
            image["detail"] = block.detail
        return {"type": "image_url", "image_url": image}
    if isinstance(block, DocumentBlock) and block.data is not None:
        return {
            "type": "file",
            "file": {
                "filename": block.title or "document.pdf",
                "file_data": f"data:{block.media_type};base64,{block.data}",
            },
        }
    raise ModelError(
        f"the Chat Completions API cannot take a {type(block).__name__} "
        f"{'by URL' if isinstance(block, DocumentBlock) else ''}".rstrip(),
        backend=backend,
        model=model,
        hint="send documents as base64 data: DocumentBlock(data=..., media_type=...)",
    )


# --------------------------------------------------------------------------- responses


def finish_reason(raw: object, has_tool_calls: bool, refusal: str | None = None) -> FinishReason:
    """Map a wire ``finish_reason`` to exo's.

    Tool calls win over a compat server's "stop"; a refusal (``message.refusal``) with no
    tool call is ``"refusal"``, whatever reason the server gave alongside it.
    """
    reason = _FINISH.get(raw, "other") if isinstance(raw, str) else "other"
    if has_tool_calls and reason in ("stop", "other"):
        return "tool_calls"
    if refusal is not None and not has_tool_calls:
        return "refusal"
    return reason


def usage_from(raw: object, *, given: str = "prompt", produced: str = "completion") -> Usage:
    """Map an OpenAI ``usage`` object to :class:`Usage` (``requests=1``).

    Chat Completions names its counts ``prompt_tokens`` / ``completion_tokens``; the Responses
    API passes ``given="input", produced="output"``. No usage object, or one without token
    counts, is usage the server did not report.
    """
    if not isinstance(raw, Mapping):
        return _UNREPORTED
    tokens_in, tokens_out = count(raw.get(f"{given}_tokens")), count(raw.get(f"{produced}_tokens"))
    if tokens_in is None and tokens_out is None:
        return _UNREPORTED
    details = raw.get(f"{given}_tokens_details")
    cached = count(details.get("cached_tokens")) if isinstance(details, Mapping) else None
    details = raw.get(f"{produced}_tokens_details")
    thought = count(details.get("reasoning_tokens")) if isinstance(details, Mapping) else None
    return Usage(
        requests=1,
        input_tokens=tokens_in or 0,
        output_tokens=tokens_out or 0,
        cache_read_tokens=cached or 0,
        reasoning_tokens=thought or 0,
    )


_UNREPORTED = Usage(requests=1, unreported=1)


def _reasoning_text(raw: Mapping[str, Any]) -> str | None:
    # DeepSeek, vLLM and others put reasoning beside the content, under one of two names
    text = raw.get("reasoning_content") or raw.get("reasoning")
    return text if isinstance(text, str) else None


def _refusal(raw: Mapping[str, Any], what: str) -> str | None:
    value = raw.get("refusal")
    return text(value, what) or None if value is not None else None


def parse_completion(data: Mapping[str, Any], *, backend: str, model: str) -> ModelResponse:
    """Turn a ``chat.completion`` JSON object into a :class:`ModelResponse`.

    Raises:
        WireError: the object is not a completion (no choices, or parts of the wrong type).
    """
    choices = required_items(data, "choices", "the response's choices")
    if not choices:
        raise WireError("the response has no choices")
    choice = obj(choices[0], "the response's first choice")
    message = opt_obj(choice.get("message"), "the first choice's message")
    calls = [_call(c) for c in items(message.get("tool_calls"), "the message's tool_calls")]
    thought = _reasoning_text(message)
    content = text(message.get("content"), "the message's content")
    refusal = _refusal(message, "the message's refusal")
    return ModelResponse(
        message=AssistantMessage(
            content=content or refusal or "",
            tool_calls=calls,
            reasoning=[ReasoningBlock(text=thought, provider=backend)] if thought else [],
        ),
        usage=usage_from(data.get("usage")),
        finish_reason=finish_reason(choice.get("finish_reason"), bool(calls), refusal),
        model=opt_str(data.get("model")) or model,
        id=opt_str(data.get("id")),
        refusal=refusal if refusal is not None and not calls else None,
    )


def _call(raw: object) -> ToolCall:
    call = obj(raw, "a tool call of the message")
    fn = opt_obj(call.get("function"), "a tool call's function")
    return ToolCall(
        id=opt_str(call.get("id")) or _new_call_id(),
        name=opt_str(fn.get("name")) or "",
        arguments=arguments(fn.get("arguments"), "a tool call's arguments"),
    )


def _piece(value: object) -> str | None:
    """One streamed piece of a tool call's arguments (an object, sent whole, is serialized)."""
    if value is None or isinstance(value, str):
        return value
    return arguments(value, "a streamed tool call's arguments")


def _new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


class ChatAssembler:
    """Accumulate a streamed Chat Completions answer into a :class:`ModelResponse`.

    Tool calls are keyed by their ``index``: the id and name arrive once, the arguments in
    pieces, and the pieces of parallel calls may interleave.
    """

    __slots__ = (
        "_last_index", "backend", "calls", "choices", "finish", "id", "model", "reasoning",
        "refusal", "text", "usage",
    )  # fmt: skip

    def __init__(self, *, backend: str, model: str) -> None:
        self.backend = backend
        self.model = model
        self.id: str | None = None
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.refusal: list[str] = []
        self.calls: dict[int, list[str]] = {}  # index -> [id, name, arguments...]
        self.finish: str | None = None
        self.usage: Usage | None = None
        self.choices = 0  # chunks that carried the first choice: none means no answer
        self._last_index = -1

    def feed(self, chunk: Mapping[str, Any], out: list[Delta]) -> None:
        """Consume one ``chat.completion.chunk`` dict, appending its deltas to ``out``.

        Raises:
            WireError: a part of the chunk has the wrong type.
        """
        if self.id is None:
            self.id = opt_str(chunk.get("id"))
            self.model = opt_str(chunk.get("model")) or self.model
        usage = chunk.get("usage")
        if usage:
            self.usage = usage_from(usage)
        for raw in items(chunk.get("choices"), "a chunk's choices"):
            choice = obj(raw, "a streamed choice")
            if (index(choice.get("index")) or 0) != 0:
                continue
            self.choices += 1
            self._delta(opt_obj(choice.get("delta"), "a streamed choice's delta"), out)
            reason = choice.get("finish_reason")
            if reason and isinstance(reason, str):
                self.finish = reason

    def _delta(self, delta: Mapping[str, Any], out: list[Delta]) -> None:
        piece = text(delta.get("content"), "a delta's content")
        if piece:
            self.text.append(piece)
            out.append(TextDelta(text=piece))
        thought = _reasoning_text(delta)
        if thought:
            self.reasoning.append(thought)
            out.append(ReasoningDelta(text=thought))
        refusal = _refusal(delta, "a delta's refusal")
        if refusal:
            self.refusal.append(refusal)
        for raw in items(delta.get("tool_calls"), "a delta's tool_calls"):
            call = obj(raw, "a streamed tool call")
            fn = opt_obj(call.get("function"), "a streamed tool call's function")
            self.tool_piece(
                index(call.get("index")),
                opt_str(call.get("id")),
                opt_str(fn.get("name")),
                _piece(fn.get("arguments")),
                out,
            )

    def tool_piece(
        self,
        index: int | None,
        call_id: str | None,
        name: str | None,
        arguments: str | None,
        out: list[Delta],
    ) -> None:
        """Record one piece of a streamed tool call and append its :class:`ToolCallDelta`."""
        if index is None:  # some compat servers leave it out: a new id or name starts a call
            known = self.calls.get(self._last_index)
            new = (
                known is None
                or (call_id is not None and call_id != known[0])
                or (call_id is None and name is not None and bool(known[1]))
            )
            index = self._last_index + 1 if new else self._last_index
        self._last_index = index
        slot = self.calls.get(index)
        if slot is None:
            slot = self.calls[index] = ["", ""]
        new_id = call_id if call_id and not slot[0] else None
        new_name = name if name and not slot[1] else None
        if new_id:
            slot[0] = new_id
        if new_name:
            slot[1] = new_name
        if arguments:
            slot.append(arguments)
        if new_id or new_name or arguments:
            out.append(
                ToolCallDelta(index=index, id=new_id, name=new_name, arguments=arguments or "")
            )

    def result(self) -> ModelResponse:
        """The assembled response (call once the stream has ended).

        Raises:
            WireError: no chunk carried a choice (the stream held no answer at all).
        """
        if not self.choices:
            raise WireError("the stream carried no choices (no answer)")
        calls = [
            ToolCall(
                id=slot[0] or _new_call_id(),
                name=slot[1],
                arguments="".join(slot[2:]) or "{}",
            )
            for _, slot in sorted(self.calls.items())
        ]
        thought = "".join(self.reasoning)
        refusal = "".join(self.refusal) if self.refusal else None
        return ModelResponse(
            message=AssistantMessage(
                content="".join(self.text) or refusal or "",
                tool_calls=calls,
                reasoning=[ReasoningBlock(text=thought, provider=self.backend)] if thought else [],
            ),
            usage=self.usage or _UNREPORTED,
            finish_reason=finish_reason(self.finish, bool(calls), refusal),
            model=self.model,
            id=self.id,
            refusal=refusal if not calls else None,
        )
