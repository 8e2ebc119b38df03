"""Real recorded streams with the providers' own server tools (web search), on both paths.

Two pydantic-ai recordings (tests/traffic/README.md): an Anthropic stream with extended
thinking, a ``server_tool_use`` block whose input arrives as ``input_json_delta`` pieces and a
``web_search_tool_result`` block, then cited text; and an OpenAI Responses stream of gpt-5 with
reasoning items, a ``web_search_call`` item and an answer carrying URL citations, followed by
a whole (JSON) Responses turn. The server's tools ran on the server: they must never reach
exo as tool calls, and the answer, reasoning and usage must be what was recorded. The
expectations come from a small independent reading of the recorded events.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from cassettes import Interaction, Replayer, call, load
from exo.models.anthropic import AnthropicProvider
from exo.models.base import TextDelta, ToolCallDelta
from exo.models.openai_responses import OpenAIResponsesProvider
from exo.types import UserMessage

PATHS = pytest.mark.parametrize("raw", [True, False], ids=["raw", "sdk"])
ANTHROPIC = "anthropic/pydantic-ai/test_anthropic_model_web_search_tool_stream.yaml"
RESPONSES = "openai/pydantic-ai/test_openai_responses_model_web_search_tool_stream.yaml"
ASK = [UserMessage(content="What is the weather in San Francisco today?")]


def events(inter: Interaction) -> list[dict[str, Any]]:
    """The JSON objects of a recorded event stream, in order."""
    lines = inter.response_body.decode().splitlines()
    return [json.loads(line[5:]) for line in lines if line.startswith("data:")]


@PATHS
async def test_anthropic_web_search_stream_keeps_text_thinking_and_usage(raw: bool) -> None:
    inter = load(ANTHROPIC)[0]
    recorded = events(inter)
    deltas = [e["delta"] for e in recorded if e["type"] == "content_block_delta"]
    text = "".join(d["text"] for d in deltas if d["type"] == "text_delta")
    thinking = "".join(d["thinking"] for d in deltas if d["type"] == "thinking_delta")
    stop = next(e["delta"]["stop_reason"] for e in recorded if e["type"] == "message_delta")
    start_usage = next(e["message"]["usage"] for e in recorded if e["type"] == "message_start")
    kinds = {e["content_block"]["type"] for e in recorded if e["type"] == "content_block_start"}
    assert {"server_tool_use", "web_search_tool_result"} <= kinds and stop == "end_turn"

    replayer = Replayer([inter])
    provider = AnthropicProvider(
        "claude-sonnet-4-0", api_key="test-key", http_client=replayer.client(), raw=raw
    )
    response, chunks = await call(provider, ASK, [], stream=True)
    assert response.message.content == text and text
    assert "".join(c.text for c in chunks if isinstance(c, TextDelta)) == text
    assert response.message.tool_calls == []  # the search ran on Anthropic's side
    assert not any(isinstance(c, ToolCallDelta) for c in chunks)
    assert response.finish_reason == "stop"
    assert [b.text for b in response.message.reasoning] == [thinking]
    assert response.message.reasoning[0].signature
    assert response.usage.known and response.usage.input_tokens >= start_usage["input_tokens"]
    await provider.aclose()


@PATHS
async def test_responses_web_search_stream_then_a_whole_turn(raw: bool) -> None:
    streamed, whole = load(RESPONSES)
    completed = next(e for e in events(streamed) if e["type"] == "response.completed")

    def expected(body: dict[str, Any]) -> tuple[str, int, int]:
        items = body["output"]
        text = "".join(
            part["text"]
            for item in items
            if item["type"] == "message"
            for part in item["content"]
            if part["type"] == "output_text"
        )
        assert any(item["type"] == "web_search_call" for item in items)
        reasoning = sum(item["type"] == "reasoning" for item in items)
        return text, reasoning, body["usage"]["input_tokens"]

    replayer = Replayer([streamed, whole])
    provider = OpenAIResponsesProvider(
        "gpt-5", api_key="test-key", http_client=replayer.client(), raw=raw
    )
    for stream, body in ((True, completed["response"]), (False, json.loads(whole.response_body))):
        text, reasoning, input_tokens = expected(body)
        response, chunks = await call(provider, ASK, [], stream=stream)
        assert response.message.content == text and text
        if stream:
            assert "".join(c.text for c in chunks if isinstance(c, TextDelta)) == text
            assert not any(isinstance(c, ToolCallDelta) for c in chunks)
        assert response.message.tool_calls == []
        assert response.finish_reason == "stop"
        assert len(response.message.reasoning) == reasoning
        assert all(b.encrypted for b in response.message.reasoning)
        assert response.usage.input_tokens == input_tokens
    assert replayer.paths == ["/v1/responses", "/v1/responses"]
    await provider.aclose()
