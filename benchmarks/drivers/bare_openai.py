"""Bare loop over the official ``openai`` SDK's ``AsyncOpenAI`` with its default client."""

from __future__ import annotations

import json
from typing import Any

from openai import AsyncOpenAI

from drivers._task import ADD_SCHEMA, API_KEY, MODEL, PROMPT, FirstText, add

MAX_TURNS = 10


class BareOpenAI:
    """The hand-written loop calling ``client.chat.completions.create``."""

    def __init__(self, client: AsyncOpenAI) -> None:
        self.client = client

    async def run(self) -> str:
        messages: list[Any] = [{"role": "user", "content": PROMPT}]
        for _ in range(MAX_TURNS):
            response = await self.client.chat.completions.create(
                model=MODEL, messages=messages, tools=[ADD_SCHEMA]
            )
            message = response.choices[0].message
            if not message.tool_calls:
                return message.content or ""
            calls = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.function.name, "arguments": c.function.arguments},
                }
                for c in message.tool_calls
                if c.type == "function"
            ]
            _append_turn(messages, calls)
        raise RuntimeError("openai loop: the model never gave a final answer")

    async def stream(self, first_text: FirstText) -> str:
        messages: list[Any] = [{"role": "user", "content": PROMPT}]
        seen_text = False
        for _ in range(MAX_TURNS):
            stream = await self.client.chat.completions.create(
                model=MODEL,
                messages=messages,
                tools=[ADD_SCHEMA],
                stream=True,
                stream_options={"include_usage": True},
            )
            text: list[str] = []
            calls: dict[int, dict[str, Any]] = {}
            async for chunk in stream:
                for choice in chunk.choices:
                    delta = choice.delta
                    if delta.content:
                        if not seen_text:
                            seen_text = True
                            first_text()
                        text.append(delta.content)
                    for part in delta.tool_calls or ():
                        call = calls.setdefault(
                            part.index,
                            {
                                "id": part.id,
                                "type": "function",
                                "function": {"name": "", "arguments": ""},
                            },
                        )
                        if part.function and part.function.name:
                            call["function"]["name"] = part.function.name
                        if part.function and part.function.arguments:
                            call["function"]["arguments"] += part.function.arguments
            if not calls:
                return "".join(text)
            _append_turn(messages, [calls[i] for i in sorted(calls)])
        raise RuntimeError("openai loop: the model never gave a final answer")

    async def aclose(self) -> None:
        await self.client.close()


def _append_turn(messages: list[Any], calls: list[dict[str, Any]]) -> None:
    """Append the assistant's tool calls and the tool results."""
    messages.append({"role": "assistant", "content": None, "tool_calls": calls})
    for call in calls:
        result = add(**json.loads(call["function"]["arguments"]))
        messages.append({"role": "tool", "tool_call_id": call["id"], "content": str(result)})


async def make(base_url: str, concurrency: int) -> BareOpenAI:
    """Build the driver: ``AsyncOpenAI`` with the SDK's default HTTP client."""
    return BareOpenAI(AsyncOpenAI(base_url=base_url, api_key=API_KEY))
