"""smolagents: ``ToolCallingAgent`` over ``OpenAIModel``; synchronous, so runs go to threads.

smolagents agents keep their memory on the agent object, so each worker thread gets
its own agent (reused across its runs with ``reset=True``); the model and its
``openai.OpenAI`` client are shared. The agent finishes by calling its built-in
``final_answer`` tool, which the mock honours, so a run is still four model calls.
"""

from __future__ import annotations

import asyncio
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from rich.console import Console
from smolagents import (
    ActionStep,
    ChatMessageStreamDelta,
    FinalAnswerStep,
    OpenAIModel,
    ToolCallingAgent,
    tool,
)
from smolagents.monitoring import AgentLogger, LogLevel

from drivers._task import API_KEY, MODEL, PROMPT, FirstText, add

ADD_TOOL = tool(add)
# Logging off; streaming mode still renders its live view, so send that to /dev/null.
QUIET = AgentLogger(level=LogLevel.OFF, console=Console(file=open(os.devnull, "w")))  # noqa: SIM115


class SmolagentsDriver:
    """A thread pool of per-thread ``ToolCallingAgent``s."""

    def __init__(self, base_url: str, concurrency: int) -> None:
        self.model = OpenAIModel(model_id=MODEL, api_base=base_url, api_key=API_KEY)
        self.pool = ThreadPoolExecutor(max_workers=concurrency)
        self.local = threading.local()

    def _agent(self, streaming: bool) -> ToolCallingAgent:
        key = "stream_agent" if streaming else "agent"
        agent: ToolCallingAgent | None = getattr(self.local, key, None)
        if agent is None:
            agent = ToolCallingAgent(
                tools=[ADD_TOOL],
                model=self.model,
                logger=QUIET,
                stream_outputs=streaming,
                max_steps=10,
            )
            setattr(self.local, key, agent)
        return agent

    def _run(self) -> str:
        return str(self._agent(False).run(PROMPT))

    def _stream(self, first_text: FirstText) -> str:
        steps = 0
        seen = False
        output = ""
        for event in self._agent(True).run(PROMPT, stream=True):
            if isinstance(event, ActionStep):
                steps += 1
            elif isinstance(event, FinalAnswerStep):
                output = str(event.output)
            elif isinstance(event, ChatMessageStreamDelta) and steps >= 3 and not seen:
                # The answer is a final_answer tool call: its first delta is the first token.
                seen = True
                first_text()
        return output

    async def run(self) -> str:
        return await asyncio.get_running_loop().run_in_executor(self.pool, self._run)

    async def stream(self, first_text: FirstText) -> str:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, self._stream, first_text)

    async def aclose(self) -> None:
        self.pool.shutdown(wait=True)


async def make(base_url: str, concurrency: int) -> SmolagentsDriver:
    """Build the driver with a thread per concurrent run."""
    return SmolagentsDriver(base_url, concurrency)
