"""``exo.serve.app``: the ASGI app that serves agents over HTTP (install ``exo-agents[serve]``).

    from exo.serve import app
    application = app([researcher, writer], token="s3cret")   # uvicorn module:application

Routes: exo's run API (:mod:`exo.serve.runs`), the run viewer page at ``/``, ``GET /healthz``,
``GET /metrics``, and, when installed beside, the OpenAI-compatible and AG-UI routes.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from exo.agent import Agent
from exo.errors import ConfigError
from exo.memory import Memory, default_memory_path, resolve_memory
from exo.runner import Runner
from exo.serve import runs
from exo.serve._guard import Guard, install_log_redaction
from exo.serve._hub import DEFAULT_SEND_TIMEOUT, Hub, ServeError, error_response
from exo.serve._store import RunStore, open_store

__all__ = ["DEFAULT_MAX_BODY_BYTES", "app"]

log = logging.getLogger("exo.serve")

DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
"""The largest request body accepted by default (4 MiB: room for a few images as data URLs)."""


def app(
    agents: Agent[Any] | Sequence[Agent[Any]],
    *,
    token: str | None = None,
    database_url: str | None = None,
    cors_origins: Sequence[str] | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    stream_send_timeout: float = DEFAULT_SEND_TIMEOUT,
    runner: Runner | None = None,
    store: RunStore | None = None,
) -> Starlette:
    """Build the ASGI app serving ``agents``.

    Args:
        agents: The agents, served under their names (which must differ).
        token: The bearer token every request must carry (default: ``$EXO_SERVE_TOKEN``).
            Without one the app answers only loopback requests (see ``exo.serve._guard``).
        database_url: Where conversations (for agents without their own ``memory=``) and
            runs are kept: a SQLite file path or a ``postgresql://`` URL (default: the SQLite
            file of exo's memory, ``$EXO_HOME/memory.db`` or ``~/.exo/memory.db``).
        cors_origins: Origins allowed to call the API from a browser (default: none; CORS off).
        max_body_bytes: The largest request body accepted (413 beyond).
        stream_send_timeout: Seconds an event stream waits for a client that reads nothing
            (its socket full) before it ends the stream, cancelling a run the stream drives.
        runner: The runner for every run (default: a new :class:`~exo.Runner`).
        store: Where runs are recorded (default: the database of ``database_url``).

    Raises:
        ConfigError: no agents, two with one name, or a bad setting.
    """
    served = _agents_by_name(agents)
    if token is None:
        token = os.environ.get("EXO_SERVE_TOKEN") or None
    if token is not None and (not isinstance(token, str) or len(token) < 8):
        raise ConfigError(
            "the serve token must be a string of at least 8 characters", parameter="token"
        )
    if (
        isinstance(max_body_bytes, bool)
        or not isinstance(max_body_bytes, int)
        or max_body_bytes < 1024
    ):
        raise ConfigError(
            "max_body_bytes must be an integer of at least 1024", parameter="max_body_bytes"
        )
    memory = resolve_memory(database_url if database_url is not None else default_memory_path())
    served = {
        name: agent if agent.memory_backend is not None else agent.replace(memory=memory)
        for name, agent in served.items()
    }
    hub = Hub(
        served,
        runner=runner or Runner(),
        memory=memory,
        store=store or open_store(database_url),
        max_body_bytes=max_body_bytes,
        send_timeout=_positive(stream_send_timeout),
    )
    middleware = _middleware(hub, token, cors_origins)
    install_log_redaction()  # /?token=... must not land in uvicorn's access log
    application = Starlette(
        routes=_routes(hub),
        middleware=middleware,
        exception_handlers=_handlers(hub),
        lifespan=_lifespan(hub),
    )
    application.state.hub = hub
    return application


def _positive(seconds: object) -> float:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds > 0:
        raise ConfigError(
            f"stream_send_timeout must be a positive number of seconds, got {seconds!r}",
            parameter="stream_send_timeout",
        )
    return float(seconds)


def _middleware(
    hub: Hub, token: str | None, cors_origins: Sequence[str] | None
) -> list[Middleware]:
    middleware = [Middleware(Guard, hub=hub, token=token, cors_origins=cors_origins or ())]
    if cors_origins:  # outside the guard: a preflight carries no credentials
        cors = Middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "Last-Event-ID"],
        )
        middleware.insert(0, cors)
    return middleware


def _agents_by_name(agents: Agent[Any] | Sequence[Agent[Any]]) -> dict[str, Agent[Any]]:
    listed: Iterable[object] = [agents] if isinstance(agents, Agent) else agents
    served: dict[str, Agent[Any]] = {}
    for agent in listed:
        if not isinstance(agent, Agent):
            raise ConfigError(
                f"exo.serve.app() serves exo.Agent objects, got {type(agent).__name__}",
                parameter="agents",
            )
        if agent.name in served:
            raise ConfigError(
                f"two served agents are named {agent.name!r}; each needs its own name",
                parameter="agents",
                hint="rename one with agent.replace(name=...)",
            )
        served[agent.name] = agent
    if not served:
        raise ConfigError("exo.serve.app() needs at least one agent", parameter="agents")
    return served


def _routes(hub: Hub) -> list[BaseRoute]:
    static = resources.files("exo.serve").joinpath("static")

    async def page(request: Request) -> Response:
        return FileResponse(str(static.joinpath("index.html")), headers=_PAGE_HEADERS)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def metrics(request: Request) -> Response:
        text = hub.metrics.render(active_runs=len(hub.live), stream_clients=hub.stream_clients)
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4")

    found: list[BaseRoute] = [
        Route("/", page, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Mount("/static", StaticFiles(directory=str(static)), name="static"),
        *runs.routes(hub),
    ]
    return found + _wire_routes(hub)


def _wire_routes(hub: Hub) -> list[BaseRoute]:
    """The OpenAI-compatible and AG-UI routes, when their modules (and libraries) are there."""
    found: list[BaseRoute] = []
    for name in ("exo.serve.openai_api", "exo.serve.agui"):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # not part of this build
            if exc.name is None or exc.name.startswith("exo"):
                raise
            log.warning("exo serve: %s is off: %s is not installed", name, exc.name)
            continue
        found += module.routes(hub)
    return found


# The page runs no third-party code and loads nothing from elsewhere: the guard's
# Content-Security-Policy (on every response) says so to the browser.
_PAGE_HEADERS = {"Cache-Control": "no-store"}


def _handlers(hub: Hub) -> dict[Any, Any]:
    async def serve_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ServeError)
        hub.metrics.error(exc.status)
        return error_response(exc.status, exc.message, exc.type, exc.code, param=exc.param)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        hub.metrics.error(exc.status_code)
        kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
        message = {404: f"no route {request.url.path!r}", 405: "method not allowed here"}.get(
            exc.status_code, str(exc.detail)
        )
        return error_response(exc.status_code, message, kind, headers=dict(exc.headers or {}))

    async def unexpected(request: Request, exc: Exception) -> Response:
        hub.metrics.error(500)
        log.error("exo serve: %s %s failed", request.method, request.url.path, exc_info=exc)
        return error_response(500, "the server failed to answer this request", "server_error")

    return {ServeError: serve_error, HTTPException: http_error, Exception: unexpected}


def _lifespan(hub: Hub) -> Any:
    @asynccontextmanager
    async def lifespan(application: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await _shutdown(hub)

    return lifespan


async def _shutdown(hub: Hub) -> None:
    """Cancel the runs still going (they are recorded as cancelled), close the databases."""
    tasks = [live.task for live in hub.live.values() if live.task and not live.task.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks)
    await hub.store.aclose()
    memory: Memory | None = hub.memory
    if memory is not None:
        await memory.aclose()
