"""What every route of ``exo serve`` shares: the :class:`Hub`, errors in OpenAI's shape, metrics.

Every error the server answers with is JSON in the OpenAI error shape,
``{"error": {"message", "type", "param", "code"}}``: raise :class:`ServeError` in a route (the
app renders it), or return :meth:`Hub.error`. Nothing else reaches a client: an unexpected
exception becomes a 500 with a generic message (logged on the server, never sent).
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pydantic_core
from sse_starlette import EventSourceResponse
from sse_starlette.sse import SendTimeoutError
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from exo.agent import Agent
from exo.memory import Memory
from exo.runner import Runner
from exo.types import Usage

if TYPE_CHECKING:
    from exo.serve._live import LiveRun
    from exo.serve._store import RunStore

__all__ = [
    "DEFAULT_SEND_TIMEOUT",
    "BodyTooLarge",
    "EventStream",
    "Hub",
    "Metrics",
    "ServeError",
    "error_response",
    "parse_json",
    "read_json",
    "shown",
]


log = logging.getLogger("exo.serve")

DEFAULT_SEND_TIMEOUT = 60.0
"""Seconds an event stream waits for a client that reads nothing before it ends the stream."""

_STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class EventStream(EventSourceResponse):
    """The server-sent event stream of every route, configured one way.

    * a comment line every 15 seconds, so a proxy or client does not close a stream that is
      quiet while a tool runs (SSE parsers, the ``openai`` SDK's too, skip comments);
    * ``Cache-Control: no-cache`` and ``X-Accel-Buffering: no`` (nginx must not buffer);
    * a client that stops reading but keeps its connection open cannot hold its run forever:
      a send that waits more than ``send_timeout`` seconds ends the stream, which closes its
      generator (and so cancels a run the stream drives), as a disconnect does. Memory stays
      bounded meanwhile: uvicorn waits for the socket to drain before it takes more.

    Args:
        content: The events.
        send_timeout: Seconds one send may wait for the client (``Hub.send_timeout``).
    """

    def __init__(self, content: AsyncIterable[Any], *, send_timeout: float) -> None:
        super().__init__(content, ping=15, headers=_STREAM_HEADERS, send_timeout=send_timeout)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except* SendTimeoutError:
            log.info(
                "exo serve: %s: the client read nothing for %ss", scope["path"], self.send_timeout
            )


def shown(value: object, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters, for echoing a client's value in an error
    (a 4 MiB "agent name" is not sent back whole)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 5]}...{text[-1]}"


def parse_json(raw: bytes) -> Any:
    """A request body parsed as strict JSON, safe to echo back as JSON.

    pydantic-core's parser, not :mod:`json`: it stops at a nesting depth (``json.loads``
    recurses until ``RecursionError``, a 500) and refuses ``NaN``/``Infinity``, which
    Python's parser takes. A number too large for a float (``1e400``) parses as infinity, so
    it is refused too: a non-finite value echoed in a response would make that response fail.

    Raises:
        ValueError: the body is not JSON, or holds a number out of range (the message says).
    """
    data = pydantic_core.from_json(raw, allow_inf_nan=False)
    stack: list[Any] = [data]
    while stack:  # iterative: the parser bounded the depth, this must not recurse either
        value = stack.pop()
        if type(value) is float and not math.isfinite(value):
            raise ValueError("a number is out of range")
        if type(value) is dict:
            stack.extend(value.values())
        elif type(value) is list:
            stack.extend(value)
    return data


def read_json(raw: bytes) -> Any:
    """:func:`parse_json`, failing as a 400 in the OpenAI error shape.

    Raises:
        ServeError: 400 when the body is not valid JSON.
    """
    try:
        return parse_json(raw)
    except ValueError as exc:
        raise ServeError(
            400, f"the request body is not valid JSON ({exc})", code="invalid_json"
        ) from None


def error_response(
    status: int,
    message: str,
    type: str,
    code: str | None = None,
    *,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A JSON error response in the OpenAI error shape."""
    body = {"error": {"message": message, "type": type, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


class ServeError(Exception):
    """Raise in a route to answer with an error in the OpenAI shape.

    Args:
        status: The HTTP status.
        message: What failed and what to do (shown to the client: no secrets).
        type: OpenAI's error type (``invalid_request_error``, ``not_found_error``...).
        code: A stable machine-readable code, if any.
        param: The request field at fault, if any.
    """

    def __init__(
        self,
        status: int,
        message: str,
        type: str = "invalid_request_error",
        code: str | None = None,
        *,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param


class BodyTooLarge(ServeError):
    """A request body went over the app's ``max_body_bytes`` (answered with 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            413,
            f"the request body is larger than this server accepts ({limit:,} bytes)",
            "invalid_request_error",
            "request_too_large",
        )


@dataclass(slots=True)
class Metrics:
    """Prometheus-style counters (cheap: plain integers, read by ``GET /metrics``)."""

    runs: dict[str, int] = field(default_factory=dict)
    """Finished runs (and run segments ending in a pause) by status."""
    runs_started: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    errors: dict[int, int] = field(default_factory=dict)
    """Error responses by HTTP status."""

    def run_started(self) -> None:
        """Count a run (or a resumed run segment) that started."""
        self.runs_started += 1

    def run_ended(self, status: str, usage: Usage | None = None) -> None:
        """Count a run segment that ended with ``status`` and what its tokens were."""
        self.runs[status] = self.runs.get(status, 0) + 1
        if usage is not None:
            self.input_tokens += usage.input_tokens
            self.output_tokens += usage.output_tokens

    def error(self, status: int) -> None:
        """Count an error response."""
        self.errors[status] = self.errors.get(status, 0) + 1

    def render(self, *, active_runs: int, stream_clients: int) -> str:
        """The counters in the Prometheus text format."""
        lines = [
            "# HELP exo_runs_started_total Runs (and resumed run segments) started.",
            "# TYPE exo_runs_started_total counter",
            f"exo_runs_started_total {self.runs_started}",
            "# HELP exo_runs_total Run segments that ended, by status.",
            "# TYPE exo_runs_total counter",
            *(f'exo_runs_total{{status="{k}"}} {v}' for k, v in sorted(self.runs.items())),
            "# HELP exo_tokens_total Tokens used by runs, by kind.",
            "# TYPE exo_tokens_total counter",
            f'exo_tokens_total{{kind="input"}} {self.input_tokens}',
            f'exo_tokens_total{{kind="output"}} {self.output_tokens}',
            "# HELP exo_http_errors_total Error responses, by HTTP status.",
            "# TYPE exo_http_errors_total counter",
            *(f'exo_http_errors_total{{status="{k}"}} {v}' for k, v in sorted(self.errors.items())),
            "# HELP exo_runs_active Runs running or paused in this process.",
            "# TYPE exo_runs_active gauge",
            f"exo_runs_active {active_runs}",
            "# HELP exo_event_streams Open event streams.",
            "# TYPE exo_event_streams gauge",
            f"exo_event_streams {stream_clients}",
        ]
        return "\n".join(lines) + "\n"


class Hub:
    """The state every route shares: the agents, how they run, where runs are recorded.

    Attributes:
        agents: The served agents by name (the ``model`` of OpenAI requests, the ``agent`` of
            ``POST /runs``). Agents without their own memory use :attr:`memory`.
        runner: The :class:`~exo.Runner` every run goes through.
        memory: The conversation memory of agents without their own (``None``: none).
        store: Where runs and their events are recorded (the memory's database).
        live: Runs of this process that are running or paused, by run id.
        metrics: The counters of ``GET /metrics``.
        max_body_bytes: The largest request body accepted.
        send_timeout: Seconds an event stream waits for a client that reads nothing.
        stream_clients: Event streams open right now.
    """

    def __init__(
        self,
        agents: dict[str, Agent[Any]],
        *,
        runner: Runner,
        memory: Memory | None,
        store: RunStore,
        max_body_bytes: int,
        send_timeout: float = DEFAULT_SEND_TIMEOUT,
    ) -> None:
        self.agents = agents
        self.runner = runner
        self.memory = memory
        self.store = store
        self.live: dict[str, LiveRun] = {}
        self.metrics = Metrics()
        self.max_body_bytes = max_body_bytes
        self.send_timeout = send_timeout
        self.stream_clients = 0

    def stream(self, content: AsyncIterable[Any]) -> EventStream:
        """The event stream response of ``content`` (see :class:`EventStream`)."""
        return EventStream(content, send_timeout=self.send_timeout)

    def error(self, status: int, message: str, type: str, code: str | None = None) -> JSONResponse:
        """An error response in the OpenAI shape (and count it)."""
        self.metrics.error(status)
        return error_response(status, message, type, code)

    def agent(self, name: object, *, param: str = "agent") -> Agent[Any]:
        """The served agent called ``name``.

        Raises:
            ServeError: 404 when no agent has that name.
        """
        agent = self.agents.get(name) if isinstance(name, str) else None
        if agent is None:
            known = ", ".join(sorted(self.agents))
            raise ServeError(
                404,
                f"no agent named {shown(name)} is served here (served: {known})",
                "invalid_request_error",
                "agent_not_found",
                param=param,
            )
        return agent

    async def body(self, request: Request) -> dict[str, Any]:
        """The request's JSON object body.

        Raises:
            ServeError: 400 when the body is not a JSON object; BodyTooLarge (413).
        """
        data = read_json(await request.body())
        if not isinstance(data, dict):
            raise ServeError(400, "the request body must be a JSON object")
        return data
