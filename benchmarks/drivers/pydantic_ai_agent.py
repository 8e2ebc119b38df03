"""PydanticAI: ``Agent`` on ``OpenAIChatModel`` (Chat Completions), plain function tool."""

from __future__ import annotations

from openai import AsyncOpenAI
from pydantic_ai import Agent, AgentRunResultEvent, PartDeltaEvent, PartStartEvent
from pydantic_ai.messages import TextPart, TextPartDelta
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

from drivers._task import API_KEY, MODEL, PROMPT, FirstText, add


class PydanticAIDriver:
    """One PydanticAI agent, shared by every concurrent run."""

    def __init__(self, client: AsyncOpenAI) -> None:
        self.client = client
        model = OpenAIChatModel(MODEL, provider=OpenAIProvider(openai_client=self.client))
        self.agent = Agent(model, tools=[add])

    async def run(self) -> str:
        result = await self.agent.run(PROMPT)
        return result.output

    async def stream(self, first_text: FirstText) -> str:
        seen_text = False
        output = ""
        async with self.agent.run_stream_events(PROMPT) as events:
            async for event in events:
                if not seen_text and _is_text(event):
                    seen_text = True
                    first_text()
                elif isinstance(event, AgentRunResultEvent):
                    output = event.result.output
        return output

    async def aclose(self) -> None:
        await self.client.close()


def _is_text(event: object) -> bool:
    if isinstance(event, PartStartEvent):
        return isinstance(event.part, TextPart) and bool(event.part.content)
    if isinstance(event, PartDeltaEvent):
        return isinstance(event.delta, TextPartDelta) and bool(event.delta.content_delta)
    return False


async def make(base_url: str, concurrency: int) -> PydanticAIDriver:
    """Build the driver with its own ``AsyncOpenAI`` client (default HTTP client)."""
    return PydanticAIDriver(AsyncOpenAI(base_url=base_url, api_key=API_KEY))
