"""LangGraph: the prebuilt ReAct agent (``create_react_agent``) over ``ChatOpenAI``."""

from __future__ import annotations

import warnings
from typing import Any

from langchain_core.messages import AIMessageChunk
from langchain_openai import ChatOpenAI
from langgraph.prebuilt import create_react_agent

from drivers._task import API_KEY, MODEL, PROMPT, FirstText, add


class LangGraphDriver:
    """One compiled ReAct graph, shared by every concurrent run."""

    def __init__(self, base_url: str) -> None:
        self.llm = ChatOpenAI(model=MODEL, base_url=base_url, api_key=API_KEY, stream_usage=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # create_react_agent moved to langchain.agents
            self.graph: Any = create_react_agent(self.llm, tools=[add])

    def _input(self) -> dict[str, Any]:
        return {"messages": [{"role": "user", "content": PROMPT}]}

    async def run(self) -> str:
        state = await self.graph.ainvoke(self._input())
        return str(state["messages"][-1].content)

    async def stream(self, first_text: FirstText) -> str:
        text: list[str] = []
        async for message, _meta in self.graph.astream(self._input(), stream_mode="messages"):
            if isinstance(message, AIMessageChunk) and isinstance(message.content, str):
                if message.content and not text:
                    first_text()
                if message.content:
                    text.append(message.content)
        return "".join(text)

    async def aclose(self) -> None:
        """ChatOpenAI keeps its clients in a process-wide cache; nothing to close."""


async def make(base_url: str, concurrency: int) -> LangGraphDriver:
    """Build the driver."""
    return LangGraphDriver(base_url)
