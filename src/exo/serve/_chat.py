"""``POST /v1/chat/completions``: a thin Chat Completions layer over one exo run.

The last user message is the task and the messages before it the history (``system`` and
``developer`` messages add to the agent's instructions). The agent runs its tools on the
server, so the answer is its final text: a completion never carries ``tool_calls``. Streamed,
the text of every model step arrives as it is written, steps apart by a blank line.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from exo.runner import RunOptions
from exo.serve._wire import (
    BadRequest,
    Hub,
    Part,
    Paused,
    error_of,
    error_response,
    find_agent,
    message_content,
    parse_body,
    request_agent,
    sse,
    tool_answer,
    unless_disconnected,
)
from exo.types import (
    AssistantMessage,
    ContentBlock,
    Message,
    RunCompleteEvent,
    RunResult,
    StreamEvent,
    TextEvent,
    ToolCallEvent,
    Usage,
    UserMessage,
    text_of,
)

__all__ = ["ChatRequest", "chat_completion"]

_FINISH = {"length": "length", "content_filter": "content_filter"}


class ChatMessage(BaseModel):
    """One message of a chat request."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[Part] | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatRequest(BaseModel):
    """The body of ``POST /v1/chat/completions`` (other fields are accepted and ignored)."""

    model_config = ConfigDict(extra="allow")

    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    response_format: dict[str, Any] | None = None
    tools: list[Any] = []
    n: int = 1


async def chat_completion(hub: Hub, request: Request) -> Response:
    """Answer one chat request, streamed or not."""
    try:
        body = await parse_body(request, ChatRequest)
        agent = find_agent(hub, body.model)
        if body.tools:
            raise BadRequest(
                "this server's agents run their own tools; a request cannot add tools",
                param="tools",
            )
        if body.n != 1:
            raise BadRequest("only n=1 is supported", param="n")
        task, history, extra = chat_input(body.messages)
        agent = request_agent(
            hub,
            agent,
            instructions=extra,
            temperature=body.temperature,
            max_tokens=body.max_completion_tokens or body.max_tokens,
            schema=_schema(body.response_format),
        )
    except Exception as exc:
        return error_response(hub, exc)
    options = RunOptions(messages=history, stream=body.stream)
    events = hub.runner.events(agent, task, options)
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    if body.stream:
        usage = body.stream_options is not None and body.stream_options.include_usage
        chunks = _chunks(completion_id, body.model, events, include_usage=usage)
        return hub.stream(chunks)
    return await unless_disconnected(request, _whole(hub, completion_id, body.model, events))


async def _whole(
    hub: Hub, completion_id: str, model: str, events: AsyncGenerator[StreamEvent, None]
) -> Response:
    """Run to the end and answer with the chat completion."""
    try:
        result = await _result(events)
    except Exception as exc:
        return error_response(hub, exc)
    return JSONResponse(_completion(completion_id, model, result))


async def _result(events: AsyncGenerator[StreamEvent, None]) -> RunResult[Any]:
    result: RunResult[Any] | None = None
    async with aclosing(events) as run:
        async for event in run:
            if type(event) is RunCompleteEvent:
                result = event.result
    assert result is not None  # the engine ends with RunCompleteEvent or raises
    if result.status == "paused":
        raise Paused(result)
    return result


def _usage(usage: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cache_read_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


def _completion(completion_id: str, model: str, result: RunResult[Any]) -> dict[str, Any]:
    refused = result.finish_reason == "refusal"
    message = {
        "role": "assistant",
        "content": None if refused else result.text,
        "refusal": result.refusal if refused else None,
    }
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": _FINISH.get(result.finish_reason, "stop"),
                "logprobs": None,
            }
        ],
        "usage": _usage(result.usage),
    }


async def _chunks(
    completion_id: str,
    model: str,
    events: AsyncGenerator[StreamEvent, None],
    *,
    include_usage: bool,
) -> AsyncGenerator[bytes, None]:
    """The chunk stream of one run, ending in ``[DONE]`` (a disconnect cancels the run)."""
    head = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
    }
    yield _chunk(head, {"role": "assistant", "content": ""})
    result: RunResult[Any] | None = None
    sent, new_step = False, False
    try:
        async with aclosing(events) as run:
            async for event in run:
                if event.lineage:
                    continue
                if type(event) is TextEvent:
                    text = f"\n\n{event.text}" if new_step and sent else event.text
                    sent, new_step = True, False
                    yield _chunk(head, {"content": text})
                elif type(event) is ToolCallEvent:
                    new_step = True  # the next text is another step's
                elif type(event) is RunCompleteEvent:
                    result = event.result
        assert result is not None  # the engine ends with RunCompleteEvent or raises
        for closing in _closing(head, result, sent=sent, include_usage=include_usage):
            yield closing
    except Exception as exc:
        _, message, kind, code = error_of(exc)
        yield sse({"error": {"message": message, "type": kind, "param": None, "code": code}})
    yield sse("[DONE]")


def _chunk(head: dict[str, Any], delta: dict[str, Any], finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
    return sse({**head, "choices": [choice]})


def _closing(
    head: dict[str, Any], result: RunResult[Any], *, sent: bool, include_usage: bool
) -> list[bytes]:
    """The chunks that end a finished run: a typed answer not yet sent, the finish reason,
    and the usage when asked for.

    Raises:
        Paused: the run paused for approval.
    """
    if result.status == "paused":
        raise Paused(result)
    chunks = []
    answer = tool_answer(result)
    if answer is not None:  # a typed answer sent through the final_result tool
        chunks.append(_chunk(head, {"content": f"\n\n{answer}" if sent else answer}))
    chunks.append(_chunk(head, {}, _FINISH.get(result.finish_reason, "stop")))
    if include_usage:
        chunks.append(sse({**head, "choices": [], "usage": _usage(result.usage)}))
    return chunks


def chat_input(
    messages: list[ChatMessage],
) -> tuple[str | list[ContentBlock], list[Message], list[str]]:
    """Split chat ``messages`` into the task (the last user message), the earlier messages and
    the instructions (system and developer messages).

    Raises:
        BadRequest: a ``tool`` message (the agent runs its own tools), or no user message last.
    """
    history: list[Message] = []
    extra: list[str] = []
    for i, message in enumerate(messages):
        content = message_content(message.content, f"messages[{i}].content")
        if message.role in ("system", "developer"):
            extra.append(text_of(content))
        elif message.role == "assistant":
            history.append(AssistantMessage(content=text_of(content)))
        elif message.role == "user":
            history.append(UserMessage(content=content))
        else:
            raise BadRequest(
                f"messages[{i}]: tool messages are not supported: the agent runs its own tools",
                param=f"messages[{i}]",
            )
    if not history or not isinstance(history[-1], UserMessage):
        raise BadRequest("messages must end with a user message (the task)", param="messages")
    task = history.pop()
    return task.content, history, extra


def _schema(response_format: dict[str, Any] | None) -> dict[str, Any] | None:
    """The output schema ``response_format`` asks for (``None`` for text).

    Raises:
        BadRequest: a ``json_schema`` format without an object schema, or an unknown type.
    """
    if response_format is None or response_format.get("type") == "text":
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        return {"type": "object"}
    schema = (response_format.get("json_schema") or {}).get("schema")
    if kind != "json_schema" or not isinstance(schema, dict) or schema.get("type") != "object":
        raise BadRequest(
            "response_format must be text, json_object, or json_schema with an object schema",
            param="response_format",
        )
    return schema
