"""exo's own run API: start runs in the background, follow them, cancel them, answer approvals.

    POST /runs                   {"agent", "input", "conversation_id"?, "detailed"?} → 202 {run}
    GET  /runs                   recent runs, newest first (?limit=, at most 200)
    GET  /runs/{id}              status, plan, steps, usage (by phase), cost, children, error...
    GET  /runs/{id}/events       SSE: every event with its number as the SSE id; Last-Event-ID
                                 (or ?after=N) resumes; past events first, then live ones
    POST /runs/{id}/cancel       stop a running or paused run
    POST /runs/{id}/approvals    {"approvals": {call_id: true|false|"reason"}} or {"plan": ...}
    GET  /agents                 the served agents

A run goes on when its client leaves (``POST /runs`` is fire-and-follow); cancel it explicitly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
from collections.abc import AsyncIterator
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sse_starlette import ServerSentEvent
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from exo import _resume
from exo._options import check_input
from exo.errors import ConfigError
from exo.serve._hub import Hub, ServeError, shown
from exo.serve._live import LiveRun, now
from exo.serve._store import RunRecord
from exo.types import DETAILED_ONLY, ContentBlock

__all__ = ["routes"]

_BLOCKS: TypeAdapter[list[ContentBlock]] = TypeAdapter(list[ContentBlock])


def routes(hub: Hub) -> list[BaseRoute]:
    """The run API's routes."""

    async def start(request: Request) -> Response:
        return await _start(hub, request)

    async def recent(request: Request) -> Response:
        try:
            limit = min(max(int(request.query_params.get("limit", "50")), 1), 200)
        except ValueError:
            raise ServeError(400, "limit must be an integer", param="limit") from None
        records = await hub.store.recent(limit)
        return JSONResponse({"object": "list", "data": [_view(hub, r) for r in records]})

    async def one(request: Request) -> Response:
        record = await _record(hub, request.path_params["run_id"])
        return JSONResponse(_view(hub, record))

    async def events(request: Request) -> Response:
        return await _events(hub, request)

    async def cancel(request: Request) -> Response:
        return await _cancel(hub, request.path_params["run_id"])

    async def approve(request: Request) -> Response:
        return await _approve(hub, request)

    async def agents(request: Request) -> Response:
        return JSONResponse(
            {"object": "list", "data": [_agent_view(a) for a in hub.agents.values()]}
        )

    return [
        Route("/runs", start, methods=["POST"]),
        Route("/runs", recent, methods=["GET"]),
        Route("/runs/{run_id}", one, methods=["GET"]),
        Route("/runs/{run_id}/events", events, methods=["GET"]),
        Route("/runs/{run_id}/cancel", cancel, methods=["POST"]),
        Route("/runs/{run_id}/approvals", approve, methods=["POST"]),
        Route("/agents", agents, methods=["GET"]),
    ]


def _agent_view(agent: Any) -> dict[str, Any]:
    return {
        "name": agent.name,
        "model": agent.model,
        "planning": agent.planning_enabled,
        "tools": sorted(agent.tool_map),
    }


def _view(hub: Hub, record: RunRecord) -> dict[str, Any]:
    """A run as the API shows it (the live copy when this process runs it)."""
    live = hub.live.get(record.id)
    if live is not None:
        record = live.record
    result = record.result or {}
    return {
        "id": record.id,
        "object": "run",
        "agent": record.agent,
        "status": record.status,
        "input": record.input,
        "conversation_id": record.conversation_id,
        "detailed": record.detailed,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "output": result.get("output"),
        "plan": result.get("plan"),
        "steps": result.get("steps"),
        "model": result.get("model"),
        "usage": result.get("usage"),
        "usage_by_phase": result.get("usage_by_phase"),
        "cost": result.get("cost"),
        "children": result.get("children", []),
        "pending": result.get("pending", []) if record.status == "paused" else [],
        "finish_reason": result.get("finish_reason"),
        "error": record.error,
        "events": live.last_seq if live is not None else None,
    }


_RUN_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
"""What a run id can look like (this server makes ``run_`` + 24 hex digits)."""


async def _record(hub: Hub, run_id: str) -> RunRecord:
    live = hub.live.get(run_id)
    if live is not None:
        return live.record
    # An id from the URL reaches the database only if it could be one: a NUL or a lone
    # surrogate is an error of PostgreSQL's driver (a 500), not a run that is not there.
    record = await hub.store.get(run_id) if _RUN_ID.fullmatch(run_id) else None
    if record is None:
        raise ServeError(404, f"no run with id {shown(run_id)}", "not_found_error", "run_not_found")
    return record


def _task_input(value: object) -> Any:
    """The task from a request: text, or content blocks as JSON."""
    if isinstance(value, list):
        try:
            value = _BLOCKS.validate_python(value)
        except ValidationError as exc:
            raise ServeError(
                400,
                f"input is not a list of content blocks: {exc.errors()[0]['msg']}",
                param="input",
            ) from None
    try:
        return check_input(value)
    except ConfigError as exc:
        raise ServeError(400, exc.message, param="input") from None


async def _start(hub: Hub, request: Request) -> Response:
    body = await hub.body(request)
    agent = hub.agent(body.get("agent"))
    task = _task_input(body.get("input"))
    conversation_id = body.get("conversation_id")
    if conversation_id is not None and not (isinstance(conversation_id, str) and conversation_id):
        raise ServeError(400, "conversation_id must be a non-empty string", param="conversation_id")
    detailed = body.get("detailed", False)
    if not isinstance(detailed, bool):
        raise ServeError(400, "detailed must be true or false", param="detailed")
    stamp = now()
    record = RunRecord(
        id=f"run_{secrets.token_hex(12)}",
        agent=agent.name,
        status="running",
        # The validated task, not the request's value: what is stored and shown is what runs
        # (a block's unknown fields are not kept).
        input=task if isinstance(task, str) else _BLOCKS.dump_python(task, mode="json"),
        conversation_id=conversation_id,
        detailed=detailed,
        created_at=stamp,
        updated_at=stamp,
    )
    live = LiveRun(record)
    async with live.lock:  # registered before its first await: a cancel finds it and waits
        hub.live[record.id] = live
        live.set_status("running")
        try:
            await hub.store.save(record, live.unrecorded())
        except BaseException:
            hub.live.pop(record.id, None)
            raise
        stream = hub.runner.stream(agent, task, detailed=True, conversation_id=conversation_id)
        live.start(hub, stream)
    return JSONResponse(_view(hub, record), status_code=202)


def _event_number(raw: str) -> int:
    """The event number a client resumes after (``Last-Event-ID`` or ``?after=``).

    Plain ASCII digits only, at most 15 (``int()`` would take ``-5``, ``1_0``, Arabic-Indic
    digits, and numbers too large for the database's integers).

    Raises:
        ServeError: 400 for anything else.
    """
    raw = raw.strip()
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 15):
        raise ServeError(
            400,
            f"Last-Event-ID (or ?after=) must be an event number (0 or more), got {shown(raw)}",
            param="Last-Event-ID",
        )
    return int(raw)


async def _live(hub: Hub, record: RunRecord) -> LiveRun | None:
    """The live copy of a run: the one this process runs, or, for a run paused before a
    restart, one registered now (every request then shares it and its lock)."""
    live = hub.live.get(record.id)
    if live is None and record.status == "paused":
        events = await hub.store.events(record.id)
        live = hub.live.setdefault(record.id, LiveRun(record, events))
    return live


async def _events(hub: Hub, request: Request) -> Response:
    run_id = request.path_params["run_id"]
    record = await _record(hub, run_id)
    raw = request.headers.get("last-event-id") or request.query_params.get("after") or "0"
    after = _event_number(raw)
    flag = request.query_params.get("detailed")
    detailed = record.detailed if flag is None else flag.lower() in ("1", "true", "yes")
    live = await _live(hub, record)  # paused before a restart: followed here
    if live is not None and live.record.terminal and after >= live.last_seq:
        return Response(status_code=204)  # ended (still being recorded): nothing to follow
    if live is None:
        past = await hub.store.events(run_id, after)
        if not past:  # over, and nothing after the client's last event: stop reconnecting
            return Response(status_code=204)
        return _sse(hub, _replay(past, detailed))
    return _sse(hub, _follow(live, after, detailed))


def _sse(hub: Hub, lines: AsyncIterator[tuple[int, str]]) -> Response:
    async def stream() -> AsyncIterator[ServerSentEvent]:
        hub.stream_clients += 1
        try:
            async for seq, data in lines:
                yield ServerSentEvent(data=data, id=str(seq))
        finally:
            hub.stream_clients -= 1

    return hub.stream(stream())


def _wanted(data: str, detailed: bool) -> bool:
    if detailed:
        return True
    kind = json.loads(data).get("type")
    return kind not in DETAILED_ONLY


async def _replay(past: list[tuple[int, str]], detailed: bool) -> AsyncIterator[tuple[int, str]]:
    for seq, data in past:
        if _wanted(data, detailed):
            yield seq, data


async def _follow(live: LiveRun, after: int, detailed: bool) -> AsyncIterator[tuple[int, str]]:
    """Past events, then live ones, until the run is over."""
    cursor = after
    while True:
        changed = live.signal()  # taken first: an event added from here on sets it
        for seq, data in live.since(cursor):
            cursor = seq
            if _wanted(data, detailed):
                yield seq, data
        if live.record.terminal and cursor >= live.last_seq:
            return
        await changed.wait()


async def _cancel(hub: Hub, run_id: str) -> Response:
    record = await _record(hub, run_id)
    live = await _live(hub, record)
    async with _held(live):
        if live is None or live.record.terminal:
            status = (live.record if live is not None else record).status
            raise ServeError(
                409,
                f"run {run_id!r} is {status}; only a running or paused run can be cancelled",
                code="run_not_active",
            )
        task = live.task
        if task is not None and not task.done():
            if live.record.status == "running":
                task.cancel()
            await asyncio.wait([task])  # a pausing run finishes recording its pause first
            await live.end_cancelled(hub)  # a task cancelled before its first step records nothing
        if live.record.status == "paused":  # nothing runs: only the record changes
            live.set_status("cancelled", {"message": "the run was cancelled", "type": "cancelled"})
            live.record.state = None
            await hub.store.save(live.record, live.unrecorded())
            hub.live.pop(run_id, None)
    return JSONResponse(_view(hub, live.record))


def _held(live: LiveRun | None) -> contextlib.AbstractAsyncContextManager[Any]:
    return live.lock if live is not None else contextlib.nullcontext()


async def _approve(hub: Hub, request: Request) -> Response:
    run_id = request.path_params["run_id"]
    body = await hub.body(request)
    live = await _live(hub, await _record(hub, run_id))
    async with _held(live):  # the check, the record and the start, with no cancel between
        record = live.record if live is not None else await _record(hub, run_id)
        if live is None or record.status != "paused" or record.state is None:
            raise ServeError(
                409,
                f"run {run_id!r} is {record.status}, not paused for approval",
                code="run_not_paused",
            )
        agent = hub.agent(record.agent)
        approvals, plan = body.get("approvals"), body.get("plan")
        try:  # every mistake is a ConfigError here, before anything runs
            _resume.restore(agent, record.state, approvals, plan)
        except ConfigError as exc:
            raise ServeError(400, exc.message, param=exc.parameter or "approvals") from None
        state, record.state = record.state, None
        live.set_status("running")
        await hub.store.save(record, live.unrecorded())
        stream = hub.runner.stream(
            agent, resume=state, approvals=approvals, plan=plan, detailed=True
        )
        live.start(hub, stream)
    return JSONResponse(_view(hub, record), status_code=202)
