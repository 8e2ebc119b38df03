"""A real ``exo serve`` for tests: uvicorn on 127.0.0.1 in its own thread and event loop.

The agents run on offline models registered as the ``serve-test`` backend: functions of the
transcript (so a resumed run answers as a fresh one would), scripted per agent:

* ``helper`` plans, looks something up, spawns a child, then answers;
* ``janitor`` wants to delete a file (a tool that needs approval), then says it did;
* ``writer`` plans and waits for the plan's approval;
* ``gated`` calls a tool that blocks until the test opens its gate (for live updates).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import uvicorn

from exo import Agent, tool
from exo.errors import ModelError
from exo.models import register_provider, unregister_provider
from exo.models.base import Provider
from exo.testing import AgentInfo, FunctionModel, Reply, call
from exo.types import Message, ToolResult, UserMessage

_T = TypeVar("_T")

BACKEND = "serve-test"
XSS = '"><img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
"""Markup that would run script if the viewer rendered text as HTML (the ``XSS`` agent's
name, plan, tool arguments, tool result and error all carry it)."""
PLAN = "1. Look up svelte\n2. Ask a child to summarize\n3. Answer"
GATE = threading.Event()


def _this_turn(messages: list[Message]) -> list[Message]:
    start = max((i for i, m in enumerate(messages) if isinstance(m, UserMessage)), default=0)
    return messages[start:]


def _reply(messages: list[Message], info: AgentInfo) -> Reply:
    name = info.agent_name
    results = [m for m in _this_turn(messages) if isinstance(m, ToolResult)]
    if name.startswith(XSS):
        return _xss_reply(name, results, info)
    if name == "firehose":  # more than the sockets between server and client hold
        return "x" * 8_000_000
    if name.endswith("_planner"):
        return PLAN
    if "_child_" in name:
        return "Svelte compiles components to small vanilla JS."
    if name == "helper":
        if not results:
            return [call("lookup", query="svelte"), call("spawn_self", tasks=["summarize svelte"])]
        return "Svelte is small and fast; see the lookup and the child's summary."
    if name == "broken":
        raise ModelError("the server said no", backend=BACKEND, model=info.model, status=400)
    if name == "streamer":
        if not results:
            return call("lookup", query="load")
        return "Streamed answer: " + "token " * 20
    if name in ("janitor", "gated"):
        if not results:
            tool_name = "delete_file" if name == "janitor" else "wait_for_gate"
            return call(tool_name, path="draft.txt")
        return f"Done: {results[-1].content}"
    return f"Answer to: {messages[-1].content}"


def _xss_reply(name: str, results: list[ToolResult], info: AgentInfo) -> Reply:
    if name.endswith("_planner"):
        return f"1. Look up {XSS}\n2. Fail with {XSS}"
    if not results:
        return call("lookup", query=XSS)
    raise ModelError(f"the model choked on {XSS}", backend=BACKEND, model=info.model, status=400)


def _factory(model: str) -> Provider:
    return FunctionModel(_reply, model=model)


@tool
def lookup(query: str) -> str:
    """Look something up.

    Args:
        query: What to look up.
    """
    return f"{query}: a compiler-based UI framework (42 stars)"


@tool(requires_approval=True)
def delete_file(path: str) -> str:
    """Delete a file.

    Args:
        path: The file.
    """
    return f"deleted {path}"


@tool
def wait_for_gate(path: str) -> str:
    """Wait until the test opens the gate.

    Args:
        path: A file name.
    """
    if not GATE.wait(timeout=60):
        return "the gate never opened"
    return f"gate opened for {path}"


def agents() -> list[Agent[Any]]:
    """The served agents."""
    model = f"{BACKEND}:m"
    return [
        Agent(
            name="helper",
            model=model,
            tools=[lookup],
            planning_enabled=True,
            allow_self_spawn=True,
            max_spawn_depth=1,
        ),
        Agent(name="janitor", model=model, tools=[delete_file]),
        Agent(name="writer", model=model, planning_enabled=True, approve_plan=True),
        Agent(name="gated", model=model, tools=[wait_for_gate]),
        Agent(name="plain", model=model),
        Agent(name="streamer", model=model, tools=[lookup]),
        Agent(name="broken", model=model),
    ]


class Server:
    """uvicorn serving ``application`` on an ephemeral loopback port, in a thread."""

    def __init__(self, application: Any, host: str = "127.0.0.1") -> None:
        register_provider(BACKEND, _factory)
        self.app = application
        self.config = uvicorn.Config(
            application, host=host, port=0, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(self.config)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="exo-serve-test", daemon=True)
        self.thread.start()
        for _ in range(1000):
            if self.server.started or not self.thread.is_alive():
                break
            threading.Event().wait(0.01)
        if not self.server.started:
            raise RuntimeError("uvicorn did not start")
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://{host}:{port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.server.serve())

    def call(self, coro: Coroutine[Any, Any, _T]) -> _T:
        """Run ``coro`` on the server's event loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def tasks(self) -> list[str]:
        """What the server's loop runs (besides the task asking): each task's coroutine."""

        async def names() -> list[str]:
            me = asyncio.current_task()
            return sorted(t.get_coro().__qualname__ for t in asyncio.all_tasks() if t is not me)  # type: ignore[union-attr]

        return self.call(names())

    def stacks(self) -> str:
        """Where each of the server loop's tasks waits (for a failure's message)."""

        async def dump() -> str:
            import io

            out = io.StringIO()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.print_stack(limit=6, file=out)
            return out.getvalue()

        return self.call(dump())

    def connections(self) -> int:
        """Open HTTP connections the server holds."""
        return len(self.server.server_state.connections)

    def stop(self) -> None:
        """Shut uvicorn down (running the app's shutdown) and end the thread."""
        self.server.should_exit = True
        self.thread.join(timeout=30)
        unregister_provider(BACKEND)
