"""What exo's wire formats share: the agent a request runs, request bodies, errors, SSE.

The OpenAI-compatible routes (:mod:`exo.serve.openai_api`) and AG-UI (:mod:`exo.serve.agui`)
both turn a request into one exo run (``runner.events``, the engine behind ``run`` and
``run.stream``) and its events into their own wire events. A client that disconnects from a
stream cancels its run: the response's task is cancelled, which closes the run's event
generator, which cancels its model and tool calls (see ``Runner.stream``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, Awaitable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import pydantic_core
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from exo.agent import Agent
from exo.errors import ConfigError, ExoError, ModelError, PlanningError
from exo.models.base import FINAL_RESULT
from exo.serve._hub import ServeError, parse_json, shown
from exo.serve._schema import schema_type
from exo.types import AssistantMessage, ContentBlock, ImageBlock, RunResult, TextBlock

if TYPE_CHECKING:
    from exo.memory import Memory
    from exo.runner import Runner

__all__ = [
    "BadRequest",
    "Hub",
    "NotFound",
    "Paused",
    "Remembering",
    "error_of",
    "image_block",
    "parse_body",
    "request_agent",
    "sse",
    "tool_answer",
    "unless_disconnected",
]

log = logging.getLogger("exo.serve")
M = TypeVar("M", bound=BaseModel)


class Hub(Protocol):
    """What the wire formats use of the server's hub (``exo.serve._hub.Hub`` has it all)."""

    agents: dict[str, Agent[Any]]
    runner: Runner
    memory: Memory | None

    def stream(self, content: AsyncIterable[Any]) -> Response: ...

    def error(
        self, status: int, message: str, type: str, code: str | None = None
    ) -> JSONResponse: ...


class BadRequest(Exception):
    """The request cannot run as sent (400, ``invalid_request_error``)."""

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.param = param
        self.code = code


class NotFound(Exception):
    """What the request names does not exist (404, ``invalid_request_error``)."""

    def __init__(self, message: str, *, code: str):
        super().__init__(message)
        self.code = code


async def parse_body(request: Request, model: type[M]) -> M:
    """Read and validate a JSON body.

    Raises:
        BadRequest: it is not JSON, or not of the request's shape (the first error named).
    """
    try:  # strict JSON first (depth-bounded, finite numbers): see parse_json
        data = parse_json(await request.body())
    except ValueError as exc:
        raise BadRequest(
            f"the request body is not valid JSON ({exc})", code="invalid_json"
        ) from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or None
        message = f"{where}: {first['msg']}" if where else str(first["msg"])
        raise BadRequest(message, param=where) from None


class Paused(Exception):
    """The run paused for a person's approval (409, ``approval_required``): the wire formats
    have no way to answer it, exo's run API has."""

    def __init__(self, result: RunResult[Any]) -> None:
        what = ", ".join(
            "the plan" if p.kind == "plan" else f"a call of {p.tool_name!r}" for p in result.pending
        )
        super().__init__(
            f"the run paused for a person's approval of {what or 'a call'}; approvals are "
            "answered through exo's run API (POST /runs), not through this endpoint"
        )


def find_agent(hub: Hub, name: str) -> Agent[Any]:
    """The served agent called ``name``.

    Raises:
        NotFound: no agent of that name is served (the message lists those that are).
    """
    agent = hub.agents.get(name)
    if agent is None:
        served = ", ".join(sorted(hub.agents)) or "none"
        raise NotFound(
            f"no agent named {shown(name)} is served here (served: {served})",
            code="model_not_found",
        )
    return agent


def request_agent(
    hub: Hub,
    agent: Agent[Any],
    *,
    instructions: Sequence[str] = (),
    temperature: float | None = None,
    max_tokens: int | None = None,
    schema: dict[str, Any] | None = None,
) -> Agent[Any]:
    """The agent one request runs: the served one, with what the request adds.

    Instructions sent by the client are appended to the agent's own (they add to the
    operator's system prompt, never replace it); ``temperature`` and ``max_tokens`` override the
    agent's; a JSON ``schema`` becomes its ``output_type``. A request that changes nothing runs
    the served agent itself.

    Raises:
        BadRequest: a value the agent refuses (e.g. a temperature out of range).
    """
    changes: dict[str, Any] = {}
    extra = [text for text in instructions if text.strip()]
    if extra:
        changes["instructions"] = _joined_instructions(agent, "\n\n".join(extra))
    if temperature is not None:
        changes["temperature"] = temperature
    if max_tokens is not None:
        changes["max_tokens"] = max_tokens
    if schema is not None:
        changes["output_type"] = schema_type(schema)
    if not changes:
        return agent
    try:
        changed: Agent[Any] = agent.replace(**changes)
    except ConfigError as exc:
        raise BadRequest(exc.message, param=exc.parameter) from None
    return changed


class Remembering:
    """The served agents bound to the server's memory, each made once (not per request:
    ``Agent.replace`` validates a whole agent again, ~90 µs)."""

    def __init__(self) -> None:
        self._made: dict[int, tuple[Agent[Any], Agent[Any]]] = {}

    def agent(self, hub: Hub, agent: Agent[Any]) -> Agent[Any]:
        """``agent``, with the server's memory if it has none of its own."""
        if agent.memory_backend is not None or hub.memory is None:
            return agent
        made = self._made.get(id(agent))
        if made is None or made[0] is not agent:  # new, or another agent at a reused id
            made = self._made[id(agent)] = (agent, agent.replace(memory=hub.memory))
        return made[1]


def _joined_instructions(agent: Agent[Any], extra: str) -> Any:
    async def instructions() -> str:
        own = await agent.resolve_instructions()
        return f"{own}\n\n{extra}" if own else extra

    return instructions


class Part(BaseModel):
    """One part of a message's content in a request (text or an image)."""

    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = None
    image_url: str | dict[str, Any] | None = None
    detail: str | None = None


def message_content(value: str | list[Part] | None, where: str) -> str | list[ContentBlock]:
    """A request message's content as exo content: its text, or text and image blocks.

    Raises:
        BadRequest: a part exo cannot take (audio, files...).
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    blocks: list[ContentBlock] = []
    for i, part in enumerate(value):
        if part.type in ("input_text", "output_text", "text") and part.text is not None:
            blocks.append(TextBlock(text=part.text))
        elif part.type in ("input_image", "image_url") and part.image_url is not None:
            image = part.image_url
            if isinstance(image, dict):  # Chat Completions: {"url": ..., "detail": ...}
                blocks.append(image_block(str(image.get("url", "")), image.get("detail")))
            else:
                blocks.append(image_block(image, part.detail))
        else:
            raise BadRequest(
                f"{where}[{i}]: content of type {part.type!r} is not supported",
                param=f"{where}[{i}]",
            )
    return text_blocks(blocks)


def image_block(url: str, detail: str | None = None) -> ImageBlock:
    """An image part of a request (an ``https:`` URL or a ``data:`` URL) as an exo block.

    Raises:
        BadRequest: a ``data:`` URL that is not base64 image data.
    """
    level: Any = detail if detail in ("auto", "low", "high") else "auto"
    if not url.startswith("data:"):
        return ImageBlock(url=url, detail=level)
    head, _, data = url.partition(",")
    media_type, _, encoding = head[5:].partition(";")
    if encoding != "base64" or not media_type.startswith("image/") or not data:
        raise BadRequest("an image data URL must be data:image/...;base64,...", param="image_url")
    return ImageBlock(data=data, media_type=media_type, detail=level)


def text_blocks(parts: list[ContentBlock]) -> str | list[ContentBlock]:
    """Plain text when every part is text (the common case), else the blocks."""
    if all(isinstance(p, TextBlock) for p in parts):
        return "".join(p.text for p in parts if isinstance(p, TextBlock))
    return parts


def error_of(exc: BaseException) -> tuple[int, str, str, str | None]:
    """``(status, message, type, code)`` of the OpenAI error shape for a failure.

    exo's own errors say what failed and what to do, and never hold a key, so their message
    is sent; anything else is logged here with its traceback and reported without details.
    """
    if isinstance(exc, ServeError):  # the guard's (413 for a body that grew too large)
        return exc.status, exc.message, exc.type, exc.code
    if isinstance(exc, BadRequest):
        return 400, str(exc), "invalid_request_error", exc.code
    if isinstance(exc, NotFound):
        return 404, str(exc), "invalid_request_error", exc.code
    if isinstance(exc, Paused):
        return 409, str(exc), "invalid_request_error", "approval_required"
    if isinstance(exc, ConfigError):
        return 400, str(exc), "invalid_request_error", "invalid_value"
    if isinstance(exc, ModelError):
        return 502, str(exc), "server_error", "model_error"
    if isinstance(exc, PlanningError):
        return 500, str(exc), "server_error", "planning_error"
    if isinstance(exc, ExoError):
        return 500, str(exc), "server_error", _snake(type(exc).__name__)
    log.error("request failed", exc_info=exc)
    return (
        500,
        "the server failed while running the agent (details are in its log)",
        ("server_error"),
        "internal_error",
    )


def error_response(hub: Hub, exc: BaseException) -> JSONResponse:
    """The JSON error response for a failure, in the hub's (OpenAI) error shape."""
    status, message, kind, code = error_of(exc)
    response: JSONResponse = hub.error(status, message, kind, code)
    return response


def tool_answer(result: RunResult[Any]) -> str | None:
    """The typed answer as text when the model gave it through the ``final_result`` tool
    (so no text of it was streamed); ``None`` when it came as the model's text."""
    if isinstance(result.output, str):
        return None
    for message in reversed(result.messages):
        if isinstance(message, AssistantMessage):
            if any(call.name == FINAL_RESULT for call in message.tool_calls):
                return result.text
            return None
    return None


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


CLIENT_LEFT = 499
"""The status logged for a request whose client left before its answer (as nginx does)."""


async def unless_disconnected(request: Request, work: Awaitable[Response]) -> Response:
    """Await ``work`` (a whole, non-streamed run), cancelling it if the client disconnects
    first: a client that leaves does not keep its run (and its model calls) going. The answer
    is then a bare 499, which nobody receives."""
    task = asyncio.ensure_future(work)
    left = False

    async def watch() -> None:
        nonlocal left
        # The body was read: the next message is the disconnect, whenever it comes.
        while (await request.receive())["type"] != "http.disconnect":
            pass
        left = True
        task.cancel()

    watcher = asyncio.create_task(watch())
    try:
        return await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if left and current is not None and not current.cancelling():
            return Response(status_code=CLIENT_LEFT)
        raise  # the server itself is cancelling this request
    finally:
        watcher.cancel()


def sse(data: Any, event: str | None = None) -> bytes:
    """One server-sent event: ``data`` as JSON (or a string as it is), optionally named."""
    payload = data if isinstance(data, str) else pydantic_core.to_json(data).decode()
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()
