"""A real server for the wire-format tests: uvicorn on loopback in a thread, serving offline
agents (exo.testing models through the public provider registry) through the wire routes.

The app is the real one, ``exo.serve.app`` (see conftest.py).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncGenerator, Iterator

import httpx2 as httpx
import uvicorn
from starlette.applications import Starlette

from exo.models.base import ModelChunk, ModelRequest, ReasoningDelta
from exo.testing import AgentInfo, FunctionModel, Reply, call
from exo.tools import tool
from exo.types import Message, ToolResult, UserMessage, text_of

BACKEND = "servetest"
PLAN = "1. Look up the weather in Paris.\n2. Answer in one sentence."


def this_turn(messages: list[Message]) -> list[Message]:
    """The messages from the last user message on (the turn being answered)."""
    start = max(i for i, m in enumerate(messages) if isinstance(m, UserMessage))
    return messages[start:]


def weather_reply(messages: list[Message], info: AgentInfo) -> Reply:
    """Plan; then call get_weather once per turn; then answer with what it said (or JSON)."""
    if info.agent_name.endswith("_planner"):
        return PLAN
    results = [m for m in this_turn(messages) if isinstance(m, ToolResult)]
    if not results:
        return call("get_weather", city="Paris")
    weather = text_of(results[-1].content)
    if info.request.output is not None:
        return json.dumps({"city": "Paris", "sky": weather})
    return f"It is {weather} in Paris."


class ReasoningModel(FunctionModel):
    """A FunctionModel that also streams a line of reasoning before its answer."""

    async def stream(self, request: ModelRequest) -> AsyncGenerator[ModelChunk, None]:
        yield ReasoningDelta(text="Thinking about ")
        yield ReasoningDelta(text="the sky.")
        async for chunk in super().stream(request):
            yield chunk


@tool
def get_weather(city: str) -> str:
    """Look up the weather of a city."""
    return "sunny"


class Blocker:
    """A tool that waits until its run is cancelled, and says it was."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.cancelled = threading.Event()

    def reset(self) -> None:
        self.started.clear()
        self.cancelled.clear()

    async def wait_forever(self) -> str:
        """Wait for something that never comes."""
        self.started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        return "never"


class Server:
    """uvicorn serving ``app`` on 127.0.0.1 (a free port) in a thread with its own loop."""

    def __init__(self, app: Starlette) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)

    async def _serve(self) -> None:
        self.loop = asyncio.get_running_loop()
        await self.server.serve()

    def __enter__(self) -> Server:
        self.thread.start()
        for _ in range(500):
            if self.server.started:
                break
            self.thread.join(0.02)
        assert self.server.started, "uvicorn did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    @property
    def url(self) -> str:
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def tasks(self) -> set[str]:
        """Names of the server loop's tasks that are not done (asked on the loop itself)."""
        assert self.loop is not None

        async def names() -> set[str]:
            current = asyncio.current_task()
            return {
                f"{t.get_name()}:{t.get_coro().__qualname__}"  # type: ignore[union-attr]
                for t in asyncio.all_tasks()
                if t is not current and not t.done()
            }

        return asyncio.run_coroutine_threadsafe(names(), self.loop).result(5)


def sse_data(response: httpx.Response) -> Iterator[tuple[str | None, str]]:
    """``(event name, data)`` of each server-sent event of a streamed response."""
    name: str | None = None
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            yield name, line[6:]
            name = None
