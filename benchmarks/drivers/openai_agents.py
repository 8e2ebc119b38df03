"""OpenAI Agents SDK: ``Agent`` + ``Runner`` on the Chat Completions model, tracing off."""

from __future__ import annotations

from agents import (
    Agent,
    OpenAIChatCompletionsModel,
    RawResponsesStreamEvent,
    Runner,
    function_tool,
    set_tracing_disabled,
)
from openai import AsyncOpenAI

from drivers._task import API_KEY, MODEL, PROMPT, FirstText, add

set_tracing_disabled(True)


class AgentsDriver:
    """One Agents SDK agent, shared by every concurrent run."""

    def __init__(self, client: AsyncOpenAI) -> None:
        self.client = client
        model = OpenAIChatCompletionsModel(model=MODEL, openai_client=self.client)
        self.agent = Agent(name="bench", model=model, tools=[function_tool(add)])

    async def run(self) -> str:
        result = await Runner.run(self.agent, PROMPT)
        return str(result.final_output)

    async def stream(self, first_text: FirstText) -> str:
        result = Runner.run_streamed(self.agent, PROMPT)
        seen_text = False
        async for event in result.stream_events():
            if (
                not seen_text
                and isinstance(event, RawResponsesStreamEvent)
                and event.data.type == "response.output_text.delta"
                and event.data.delta
            ):
                seen_text = True
                first_text()
        return str(result.final_output)

    async def aclose(self) -> None:
        await self.client.close()


async def make(base_url: str, concurrency: int) -> AgentsDriver:
    """Build the driver with its own ``AsyncOpenAI`` client (default HTTP client)."""
    return AgentsDriver(AsyncOpenAI(base_url=base_url, api_key=API_KEY))
