"""OpenAI-compatible endpoints: ``POST /v1/responses``, ``POST /v1/chat/completions`` and
``GET /v1/models``. The ``model`` a client names is the served agent's name.

A request runs its agent once, server-side tools and plan included, and answers in the wire
format the official ``openai`` SDK parses (see :mod:`exo.serve._responses` for how a run's
tool calls, plan and reasoning become output items). What exo adds or leaves out:

- ``instructions`` (and ``system``/``developer`` messages) are appended to the agent's own
  instructions for this request; they never replace them.
- ``previous_response_id`` continues the conversation that response belongs to through the
  agent's memory (or the server's): a chain of responses is one exo conversation, continued
  from its latest turn. ``store: false`` keeps a response out of memory.
- ``text.format`` (Responses) and ``response_format`` (Chat) of type ``json_schema`` run the
  agent with that schema as its ``output_type``; the answer is the JSON text.
- The agent runs its own tools: a request that brings ``tools`` of its own is refused (400).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from exo.errors import MemorySaveError
from exo.runner import RunOptions
from exo.serve._chat import chat_completion
from exo.serve._responses import ResponseBuilder
from exo.serve._wire import (
    BadRequest,
    Hub,
    NotFound,
    Part,
    Paused,
    Remembering,
    error_of,
    error_response,
    find_agent,
    message_content,
    parse_body,
    request_agent,
    sse,
    unless_disconnected,
)
from exo.types import (
    AssistantMessage,
    ContentBlock,
    Message,
    RunCompleteEvent,
    RunResult,
    StreamEvent,
    ToolCall,
    ToolResult,
    UserMessage,
    text_of,
)

if TYPE_CHECKING:
    from exo.agent import Agent

__all__ = ["ResponsesRequest", "routes"]

_CHAIN = "resp_"


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class InputItem(_Open):
    """One item of a Responses ``input`` list."""

    type: str = "message"
    role: Literal["user", "assistant", "system", "developer"] | None = None
    content: str | list[Part] | None = None
    call_id: str | None = None  # function_call and function_call_output items
    name: str | None = None
    arguments: str | None = None
    output: str | list[Part] | None = None


class TextFormat(_Open):
    """``text.format``: plain text, any JSON object, or JSON of a schema."""

    type: Literal["text", "json_object", "json_schema"] = "text"
    name: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class TextConfig(_Open):
    format: TextFormat | None = None


class ResponsesRequest(_Open):
    """The body of ``POST /v1/responses`` (other fields are accepted and ignored)."""

    model: str
    input: str | list[InputItem]
    instructions: str | None = None
    previous_response_id: str | None = None
    stream: bool = False
    store: bool = True
    temperature: float | None = None
    max_output_tokens: int | None = None
    text: TextConfig | None = None
    tools: list[Any] = []
    metadata: dict[str, str] | None = None


def routes(hub: Hub) -> list[BaseRoute]:
    """The OpenAI-compatible routes, serving ``hub``'s agents."""
    created = int(time.time())
    remembering = Remembering()

    async def responses(request: Request) -> Response:
        return await _responses(hub, request, remembering)

    async def chat(request: Request) -> Response:
        return await chat_completion(hub, request)

    async def models(request: Request) -> Response:
        return JSONResponse(
            {"object": "list", "data": [_model(name, created) for name in hub.agents]}
        )

    async def model(request: Request) -> Response:
        name = request.path_params["model"]
        try:
            find_agent(hub, name)
        except NotFound as exc:
            return error_response(hub, exc)
        return JSONResponse(_model(name, created))

    return [
        Route("/v1/responses", responses, methods=["POST"]),
        Route("/v1/chat/completions", chat, methods=["POST"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/v1/models/{model:path}", model, methods=["GET"]),
    ]


def _model(name: str, created: int) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": created, "owned_by": "exo"}


async def _responses(hub: Hub, request: Request, remembering: Remembering) -> Response:
    try:
        body = await parse_body(request, ResponsesRequest)
        agent = find_agent(hub, body.model)
        if body.tools:
            raise BadRequest(
                "this server's agents run their own tools; a request cannot add tools",
                param="tools",
            )
        task, history, extra = responses_input(body.input)
        conversation, earlier = await _conversation(hub, agent, body)
        if conversation is not None:
            agent = remembering.agent(hub, agent)
        agent = request_agent(
            hub,
            agent,
            instructions=[*extra, body.instructions or ""],
            temperature=body.temperature,
            max_tokens=body.max_output_tokens,
            schema=_schema(body.text),
        )
    except Exception as exc:
        return error_response(hub, exc)
    response_id = (
        f"{conversation}_{uuid.uuid4().hex[:16]}" if conversation else f"resp_{uuid.uuid4().hex}"
    )
    echo = body.model_dump(
        include={"instructions", "previous_response_id", "temperature", "max_output_tokens"}
    )
    echo.update(store=body.store, metadata=body.metadata)
    if body.text is not None and body.text.format is not None:
        echo["text"] = {"format": body.text.format.model_dump(by_alias=True, exclude_none=True)}
    builder = ResponseBuilder(response_id=response_id, model=body.model, echo=echo)
    options = RunOptions(
        messages=[*earlier, *history],
        conversation_id=conversation,
        stream=body.stream,
        detailed=True,
    )
    events = hub.runner.events(agent, task, options)
    if body.stream:
        return hub.stream(_stream(builder, events))
    return await unless_disconnected(request, _whole(hub, builder, events))


async def _stream(
    builder: ResponseBuilder, events: AsyncGenerator[StreamEvent, None]
) -> AsyncGenerator[bytes, None]:
    """The Responses event stream of one run (a disconnect cancels the run)."""
    for event in builder.start():
        yield sse(event, event["type"])
    result: RunResult[Any] | None = None
    try:
        async with aclosing(events) as run:
            async for item in run:
                if type(item) is RunCompleteEvent:
                    result = item.result  # completed once the run ends without error
                    continue
                for event in builder.feed(item):
                    yield sse(event, event["type"])
        assert result is not None  # the engine ends with RunCompleteEvent or raises
        if result.status == "paused":
            closing = builder.fail(str(Paused(result)), usage=result.usage)
        else:
            closing = builder.complete(result)
    except Exception as exc:
        _, message, _, _ = error_of(exc)
        usage = exc.result.usage if isinstance(exc, MemorySaveError) else None
        closing = builder.fail(message, usage=usage)
    for event in closing:
        yield sse(event, event["type"])


async def _whole(
    hub: Hub, builder: ResponseBuilder, events: AsyncGenerator[StreamEvent, None]
) -> Response:
    """Run to the end and answer with the Response object."""
    result: RunResult[Any] | None = None
    try:
        async with aclosing(events) as run:
            async for item in run:
                if type(item) is RunCompleteEvent:
                    result = item.result
                else:
                    builder.feed(item)
    except Exception as exc:
        return error_response(hub, exc)
    assert result is not None
    if result.status == "paused":
        return error_response(hub, Paused(result))
    builder.complete(result)
    return JSONResponse(builder.response("completed", usage=result.usage))


async def _conversation(
    hub: Hub, agent: Agent[Any], body: ResponsesRequest
) -> tuple[str | None, list[Message]]:
    """The memory conversation this response belongs to, and history to run with besides.

    A new chain gets a conversation of its own; ``previous_response_id`` names its chain's in
    the id itself (``resp_<chain>_<response>``), so the mapping lives as long as memory does.
    With ``store: false`` the response joins no conversation: a continued chain's turns are
    then read here and passed as history, and this turn is not saved.

    Raises:
        NotFound: ``previous_response_id`` names no stored response.
    """
    previous = body.previous_response_id
    if previous is None:
        return (f"{_CHAIN}{uuid.uuid4().hex}" if body.store else None), []
    chain, sep, own = previous.rpartition("_")
    memory = agent.memory_backend or hub.memory or hub.runner.memory_for(agent)
    if not (chain.startswith(_CHAIN) and sep and own.isalnum()) or not await memory.load(chain):
        raise NotFound(
            f"previous response with id {previous!r} not found (responses made with "
            "store: false are not kept)",
            code="previous_response_not_found",
        )
    if body.store:
        return chain, []
    return None, await memory.load(chain, max_tokens=agent.history_max_tokens)


def responses_input(
    value: str | list[InputItem],
) -> tuple[str | list[ContentBlock], list[Message], list[str]]:
    """Split Responses ``input`` into the task (the last user message), the earlier messages
    and the instructions (system and developer messages).

    Earlier output items sent back as input (``input=response.output + [...]``, the way a
    client keeps its own context) are history: a ``function_call`` joins the assistant message
    before it, its ``function_call_output`` becomes its result, ``reasoning`` is left out.

    Raises:
        BadRequest: an item exo cannot take (e.g. the output of a call no earlier item made),
            or no user message at the end.
    """
    if isinstance(value, str):
        return value, [], []
    history: list[Message] = []
    extra: list[str] = []
    calls: dict[str, str] = {}  # call id → tool name, for the outputs that follow
    for i, item in enumerate(value):
        where = f"input[{i}]"
        if item.type == "reasoning":
            continue
        if item.type in ("function_call", "function_call_output"):
            history.append(_call_item(item, history, calls, where))
            continue
        if item.type != "message" or item.role is None:
            raise BadRequest(f"{where}: items of type {item.type!r} are not supported", param=where)
        content = message_content(item.content, f"{where}.content")
        if item.role in ("system", "developer"):
            extra.append(text_of(content))
        elif item.role == "assistant":
            history.append(AssistantMessage(content=text_of(content)))
        else:
            history.append(UserMessage(content=content))
    if not history or not isinstance(history[-1], UserMessage):
        raise BadRequest("input must end with a user message (the task)", param="input")
    task = history.pop()
    return task.content, history, extra


def _call_item(
    item: InputItem, history: list[Message], calls: dict[str, str], where: str
) -> Message:
    """A ``function_call`` (with the assistant message it belongs to) or its output."""
    if item.call_id is None:
        raise BadRequest(f"{where}: a {item.type} item needs its call_id", param=where)
    if item.type == "function_call":
        call = ToolCall(id=item.call_id, name=item.name or "", arguments=item.arguments or "{}")
        calls[call.id] = call.name
        last = history[-1] if history else None
        if isinstance(last, AssistantMessage):  # the same model turn: one message
            history.pop()
            return AssistantMessage(content=last.content, tool_calls=[*last.tool_calls, call])
        return AssistantMessage(tool_calls=[call])
    if item.call_id not in calls:
        raise BadRequest(
            f"{where}: the output of call {item.call_id!r}, which no earlier item made: the "
            "agent runs its own tools, so a client cannot answer calls",
            param=where,
        )
    output = message_content(item.output, f"{where}.output")
    return ToolResult(tool_call_id=item.call_id, tool_name=calls[item.call_id], content=output)


def _schema(text: TextConfig | None) -> dict[str, Any] | None:
    """The output schema ``text.format`` asks for (``None`` for plain text).

    Raises:
        BadRequest: a ``json_schema`` format without an object schema.
    """
    fmt = text.format if text is not None else None
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return {"type": "object"}
    schema = fmt.schema_
    if not isinstance(schema, dict) or schema.get("type") != "object":
        raise BadRequest(
            "text.format.schema must be a JSON schema of type object", param="text.format.schema"
        )
    return schema
