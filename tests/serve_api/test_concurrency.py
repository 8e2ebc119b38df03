"""Many streamed runs at once through every wire format: each gets its own whole answer."""

from __future__ import annotations

import asyncio
import json

import httpx2 as httpx
import openai
from tests.serve_api.conftest import Served
from tests.serve_api.test_disconnect import settle

RUNS = 40  # per format, all in flight together


async def _responses(sdk: openai.AsyncOpenAI, i: int) -> str:
    stream = await sdk.responses.create(model="weather", input=f"Weather #{i}?", stream=True)
    events = [event async for event in stream]
    assert events[-1].type == "response.completed"
    return events[-1].response.output_text


async def _chat(sdk: openai.AsyncOpenAI, i: int) -> str:
    stream = await sdk.chat.completions.create(
        model="weather", messages=[{"role": "user", "content": f"#{i}"}], stream=True
    )
    return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])


async def _agui(client: httpx.AsyncClient, url: str, i: int) -> str:
    body = {
        "threadId": f"t{i}",
        "runId": f"r{i}",
        "messages": [{"id": "u", "role": "user", "content": f"#{i}"}],
    }
    text = []
    async with client.stream("POST", f"{url}/agui/weather", json=body) as response:
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                event = json.loads(line[6:])
                if event["type"] == "TEXT_MESSAGE_CONTENT":
                    text.append(event["delta"])
                assert event["type"] != "RUN_ERROR", event
    return "".join(text)


def test_concurrent_streams_all_complete(served: Served) -> None:
    baseline = settle(served, served.server.tasks())

    async def main() -> list[str]:
        limits = httpx.Limits(max_connections=3 * RUNS)
        async with httpx.AsyncClient(timeout=60, limits=limits) as http:
            sdk = openai.AsyncOpenAI(
                base_url=f"{served.url}/v1", api_key="unused", max_retries=0, http_client=http
            )
            return await asyncio.gather(
                *[_responses(sdk, i) for i in range(RUNS)],
                *[_chat(sdk, i) for i in range(RUNS)],
                *[_agui(http, served.url, i) for i in range(RUNS)],
            )

    answers = asyncio.run(main())
    assert answers == ["It is sunny in Paris."] * (3 * RUNS)
    assert settle(served, baseline) <= baseline | {
        t for t in served.server.tasks() if t.endswith("_shutdown_watcher")
    }
