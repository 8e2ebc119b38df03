"""Replay every recorded Anthropic conversation through AnthropicProvider, on both call paths.

Each test drives the provider with the exo messages of the recorded conversation (turn 2 is
built from what turn 1 returned), checks that the body the SDK really sent matches the
recorded one in substance, and that the recorded response becomes the right ModelResponse or
ModelError. Expectations are derived from the recording by a small independent reader.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from cassettes import TRAFFIC, Replayer, call
from exo.errors import ModelError
from exo.models.anthropic import AnthropicProvider
from exo.models.base import (
    ModelChunk,
    ModelResponse,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    ToolSpec,
)
from exo.types import ImageBlock, Message, SystemMessage, TextBlock, ToolResult, UserMessage

PATHS = pytest.mark.parametrize("raw", [True, False], ids=["raw", "sdk"])
FINISH = {"end_turn": "stop", "tool_use": "tool_calls", "max_tokens": "length"}


# --------------------------------------------------------------------------- helpers


def provider(replayer: Replayer, model: str, *, raw: bool, **options: Any) -> AnthropicProvider:
    return AnthropicProvider(
        model, api_key="test-key", http_client=replayer.client(), raw=raw, **options
    )


def tools_of(recorded: dict[str, Any]) -> list[ToolSpec]:
    return [
        ToolSpec(name=t["name"], description=t["description"], parameters=t["input_schema"])
        for t in recorded.get("tools", [])
    ]


def _strip_cache_control(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_cache_control(v) for k, v in value.items() if k != "cache_control"}
    if isinstance(value, list):
        return [_strip_cache_control(v) for v in value]
    return value


def normalize(body: dict[str, Any]) -> dict[str, Any]:
    """The substance of a request body: drop what only the recording client set."""
    body = _strip_cache_control(copy.deepcopy(body))
    body["stream"] = bool(body.get("stream", False))
    if isinstance(body.get("system"), str):
        body["system"] = [{"type": "text", "text": body["system"]}]
    for message in body["messages"]:
        if isinstance(message["content"], str):
            message["content"] = [{"type": "text", "text": message["content"]}]
        for block in message["content"]:
            if block["type"] == "tool_result":
                block.setdefault("is_error", False)
    return body


def assert_sent_matches(replayer: Replayer) -> None:
    assert len(replayer.sent) == len(replayer.interactions)
    for sent, path, inter in zip(replayer.sent, replayer.paths, replayer.interactions, strict=True):
        assert path == inter.path == "/v1/messages"
        assert normalize(sent) == normalize(inter.request_body)


def expected_from_json(body: dict[str, Any]) -> dict[str, Any]:
    """What a recorded non-streamed response should become."""
    blocks = body["content"]
    return {
        "text": "".join(b["text"] for b in blocks if b["type"] == "text"),
        "calls": [(b["id"], b["name"], b["input"]) for b in blocks if b["type"] == "tool_use"],
        "thinking": [(b["thinking"], b["signature"]) for b in blocks if b["type"] == "thinking"],
        "finish": FINISH[body["stop_reason"]],
        "usage": body["usage"],
        "id": body["id"],
        "model": body["model"],
    }


def _data_lines(raw: str) -> list[str]:
    return [line[len("data:") :] for line in raw.splitlines() if line.startswith("data:")]


def expected_from_sse(raw: bytes) -> dict[str, Any]:
    """What a recorded stream should become, read with a deliberately naive SSE reader."""
    events = [json.loads(data) for data in _data_lines(raw.decode())]
    blocks: dict[int, dict[str, Any]] = {}
    usage: dict[str, Any] = {}
    message: dict[str, Any] = {}
    for event in events:
        if event["type"] == "message_start":
            message = event["message"]
            usage.update(message["usage"])
        elif event["type"] == "content_block_start":
            blocks[event["index"]] = dict(event["content_block"], json="")
        elif event["type"] == "content_block_delta":
            block, delta = blocks[event["index"]], event["delta"]
            key = {"text_delta": "text", "thinking_delta": "thinking"}.get(delta["type"])
            if key:
                block[key] += delta[key]
            elif delta["type"] == "signature_delta":
                block["signature"] += delta["signature"]
            elif delta["type"] == "input_json_delta":
                block["json"] += delta["partial_json"]
        elif event["type"] == "message_delta":
            message["stop_reason"] = event["delta"]["stop_reason"]
            usage.update(event["usage"])
    for block in blocks.values():
        if block["type"] == "tool_use":
            block["input"] = json.loads(block["json"] or "{}")
    return expected_from_json(dict(message, content=list(blocks.values()), usage=usage))


def assert_response(response: ModelResponse, expected: dict[str, Any]) -> None:
    message = response.message
    assert message.content == expected["text"]
    calls = [(c.id, c.name, json.loads(c.arguments)) for c in message.tool_calls]
    assert calls == expected["calls"]
    thinking = [(r.text, r.signature) for r in message.reasoning]
    assert thinking == expected["thinking"]
    assert all(r.provider == "anthropic" for r in message.reasoning)
    assert response.finish_reason == expected["finish"]
    assert response.id == expected["id"]
    assert response.model == expected["model"]
    usage = expected["usage"]
    cached = usage.get("cache_read_input_tokens", 0) + usage.get("cache_creation_input_tokens", 0)
    assert response.usage.requests == 1
    assert response.usage.input_tokens == usage["input_tokens"] + cached
    assert response.usage.output_tokens == usage["output_tokens"]


def assert_deltas_add_up(chunks: list[ModelChunk], response: ModelResponse) -> None:
    text = "".join(c.text for c in chunks if isinstance(c, TextDelta))
    assert text == response.message.content
    reasoning = "".join(c.text for c in chunks if isinstance(c, ReasoningDelta))
    assert reasoning == "".join(r.text for r in response.message.reasoning)
    for index, tool_call in enumerate(response.message.tool_calls):
        pieces = [c for c in chunks if isinstance(c, ToolCallDelta) and c.index == index]
        assert (pieces[0].id, pieces[0].name) == (tool_call.id, tool_call.name)
        assert "".join(p.arguments for p in pieces) == tool_call.arguments


def test_every_anthropic_cassette_is_replayed_here() -> None:
    here = Path(__file__)  # or, for those with server tools, in test_server_tool_cassettes.py
    source = here.read_text() + (here.parent / "test_server_tool_cassettes.py").read_text()
    files = sorted(
        p.relative_to(TRAFFIC).as_posix() for p in (TRAFFIC / "anthropic").rglob("*.yaml")
    )
    assert files
    assert [f for f in files if f not in source] == []


# --------------------------------------------------------------------------- pydantic-ai


@PATHS
async def test_tool_output_two_turns(raw: bool) -> None:
    replayer = Replayer.from_cassette("anthropic/pydantic-ai/test_anthropic_tool_output.yaml")
    tools = tools_of(replayer.interactions[0].request_body)
    p = provider(
        replayer,
        "claude-sonnet-4-5",
        raw=raw,
        max_tokens=4096,
        extra_body={"tool_choice": {"type": "any"}},
    )
    history: list[Message] = [UserMessage(content="What is the largest city in the user country?")]
    first, _ = await call(p, history, tools, stream=False)
    assert_response(first, expected_from_json(json.loads(replayer.interactions[0].response_body)))
    assert first.message.tool_calls[0].arguments == "{}"

    (country,) = first.message.tool_calls
    history += [
        first.message,
        ToolResult(tool_call_id=country.id, tool_name=country.name, content="Mexico"),
    ]
    second, _ = await call(p, history, tools, stream=False)
    assert_response(second, expected_from_json(json.loads(replayer.interactions[1].response_body)))
    assert json.loads(second.message.tool_calls[0].arguments)["city"] == "Mexico City"
    assert_sent_matches(replayer)


@PATHS
async def test_parallel_tool_calls_results_merge_into_one_user_message(raw: bool) -> None:
    replayer = Replayer.from_cassette(
        "anthropic/pydantic-ai/test_multiple_parallel_tool_calls.yaml"
    )
    recorded = replayer.interactions[0].request_body
    p = provider(
        replayer,
        "claude-haiku-4-5",
        raw=raw,
        max_tokens=4096,
        extra_body={"tool_choice": {"type": "auto"}},
    )
    history: list[Message] = [
        SystemMessage(content=recorded["system"]),
        UserMessage(content="Alice, Bob, Charlie and Daisy are a family. Who is the youngest?"),
    ]
    first, _ = await call(p, history, tools_of(recorded), stream=False)
    assert_response(first, expected_from_json(json.loads(replayer.interactions[0].response_body)))
    assert len(first.message.tool_calls) == 4

    facts = {
        "Alice": "alice is bob's wife",
        "Bob": "bob is alice's husband",
        "Charlie": "charlie is alice's son",
        "Daisy": "daisy is bob's daughter and charlie's younger sister",
    }
    history.append(first.message)
    for c in first.message.tool_calls:
        name = json.loads(c.arguments)["name"]
        history.append(ToolResult(tool_call_id=c.id, tool_name=c.name, content=facts[name]))
    second, _ = await call(p, history, tools_of(recorded), stream=False)
    assert_response(second, expected_from_json(json.loads(replayer.interactions[1].response_body)))
    assert "Daisy" in second.message.content
    assert len(replayer.sent[1]["messages"]) == 3  # user, assistant, one user of 4 results
    assert_sent_matches(replayer)


@PATHS
async def test_thinking_and_signature_are_sent_back_verbatim(raw: bool) -> None:
    replayer = Replayer.from_cassette(
        "anthropic/pydantic-ai/test_anthropic_tool_with_thinking.yaml"
    )
    recorded = replayer.interactions[0].request_body
    p = provider(
        replayer,
        "claude-sonnet-4-0",
        raw=raw,
        max_tokens=4096,
        thinking={"type": "enabled", "budget_tokens": 3000},
        extra_body={"tool_choice": {"type": "auto"}},
    )
    history: list[Message] = [UserMessage(content="What is the largest city in the user country?")]
    first, _ = await call(p, history, tools_of(recorded), stream=False)
    assert_response(first, expected_from_json(json.loads(replayer.interactions[0].response_body)))
    (thinking,) = first.message.reasoning
    assert thinking.signature and thinking.signature.startswith("EqEECkYICxgCKkAo3UA4")

    (country,) = first.message.tool_calls
    history += [
        first.message,
        ToolResult(tool_call_id=country.id, tool_name=country.name, content="Mexico"),
    ]
    second, _ = await call(p, history, tools_of(recorded), stream=False)
    assert_response(second, expected_from_json(json.loads(replayer.interactions[1].response_body)))
    sent_blocks = replayer.sent[1]["messages"][1]["content"]
    assert sent_blocks[0] == {
        "type": "thinking",
        "thinking": thinking.text,
        "signature": thinking.signature,
    }
    assert_sent_matches(replayer)


@PATHS
async def test_streamed_thinking(raw: bool) -> None:
    replayer = Replayer.from_cassette(
        "anthropic/pydantic-ai/test_anthropic_model_thinking_part_stream.yaml"
    )
    p = provider(
        replayer,
        "claude-sonnet-4-0",
        raw=raw,
        max_tokens=4096,
        thinking={"type": "enabled", "budget_tokens": 1024},
    )
    response, chunks = await call(p, [UserMessage(content="How do I cross the street?")], [], True)
    assert_response(response, expected_from_sse(replayer.interactions[0].response_body))
    assert_deltas_add_up(chunks, response)
    raw_body = replayer.interactions[0].response_body.decode()
    pieces = [
        e["delta"]["thinking"]
        for e in map(json.loads, _data_lines(raw_body))
        if e.get("delta", {}).get("type") == "thinking_delta"
    ]
    assert [c.text for c in chunks if isinstance(c, ReasoningDelta)] == [t for t in pieces if t]
    assert response.message.reasoning[0].signature
    assert (response.usage.input_tokens, response.usage.output_tokens) == (43, 282)
    assert_sent_matches(replayer)


@PATHS
async def test_image_url_input(raw: bool) -> None:
    replayer = Replayer.from_cassette("anthropic/pydantic-ai/test_image_url_input.yaml")
    url = replayer.interactions[0].request_body["messages"][0]["content"][1]["source"]["url"]
    p = provider(replayer, "claude-haiku-4-5", raw=raw, max_tokens=4096)
    message = UserMessage(content=[TextBlock(text="What is this vegetable?"), ImageBlock(url=url)])
    response, _ = await call(p, [message], [], stream=False)
    assert_response(
        response, expected_from_json(json.loads(replayer.interactions[0].response_body))
    )
    assert "potato" in response.message.content
    assert_sent_matches(replayer)


@PATHS
async def test_http_400_becomes_a_model_error(raw: bool) -> None:
    replayer = Replayer.from_cassette(
        "anthropic/pydantic-ai/test_anthropic_explicit_effort_xhigh_unsupported_model_errors.yaml"
    )
    p = provider(
        replayer,
        "claude-opus-4-6",
        raw=raw,
        max_tokens=4096,
        extra_body={"output_config": {"effort": "xhigh"}},
    )
    with pytest.raises(ModelError) as info:
        await call(p, [UserMessage(content="What is 2+2?")], [], stream=False)
    error = info.value
    recorded = json.loads(replayer.interactions[0].response_body)["error"]
    assert (error.backend, error.model, error.status, error.retryable) == (
        "anthropic",
        "claude-opus-4-6",
        400,
        False,
    )
    assert recorded["message"] in str(error)
    assert recorded["type"] in str(error)
    assert_sent_matches(replayer)


# --------------------------------------------------------------------------- mirascope


@PATHS
async def test_streamed_parallel_tool_use_two_turns(raw: bool) -> None:
    replayer = Replayer.from_cassette(
        "anthropic/mirascope/test_call_with_tools/anthropic_claude_sonnet_4_0/stream.yaml"
    )
    tools = tools_of(replayer.interactions[0].request_body)
    p = provider(replayer, "claude-sonnet-4-0", raw=raw, max_tokens=16000)
    history: list[Message] = [
        SystemMessage(content="Use parallel tool calling."),
        UserMessage(
            content="Please retrieve the secrets associated with each of these passwords: "
            "mellon,radiance"
        ),
    ]
    first, chunks = await call(p, history, tools, stream=True)
    assert_response(first, expected_from_sse(replayer.interactions[0].response_body))
    assert_deltas_add_up(chunks, first)
    assert [json.loads(c.arguments) for c in first.message.tool_calls] == [
        {"password": "mellon"},
        {"password": "radiance"},
    ]

    secrets = {"mellon": "Welcome to Moria!", "radiance": "Life before Death"}
    history.append(first.message)
    for c in first.message.tool_calls:
        secret = secrets[json.loads(c.arguments)["password"]]
        history.append(ToolResult(tool_call_id=c.id, tool_name=c.name, content=secret))
    second, chunks = await call(p, history, tools, stream=True)
    assert_response(second, expected_from_sse(replayer.interactions[1].response_body))
    assert_deltas_add_up(chunks, second)
    assert "Life before Death" in second.message.content
    assert_sent_matches(replayer)


@PATHS
async def test_http_401_names_the_key_variable(raw: bool) -> None:
    replayer = Replayer.from_cassette(
        "anthropic/mirascope/test_authentication_error/anthropic_claude_sonnet_4_0.yaml"
    )
    p = provider(replayer, "claude-sonnet-4-0", raw=raw, max_tokens=16000)
    with pytest.raises(ModelError) as info:
        await call(p, [UserMessage(content="This should fail with AuthenticationError")], [], False)
    error = info.value
    assert (error.status, error.retryable, error.retry_after) == (401, False, None)
    assert "invalid x-api-key" in str(error)
    assert error.hint is not None and "ANTHROPIC_API_KEY" in error.hint
    assert "test-key" not in str(error)
    assert_sent_matches(replayer)


@PATHS
async def test_base64_image_input_gzip_response(raw: bool) -> None:
    replayer = Replayer.from_cassette(
        "anthropic/mirascope/test_call_with_image_content/anthropic_claude_sonnet_4_0.yaml"
    )
    source = replayer.interactions[0].request_body["messages"][0]["content"][1]["source"]
    p = provider(replayer, "claude-sonnet-4-0", raw=raw, max_tokens=16000)
    message = UserMessage(
        content=[
            TextBlock(text="Describe the following image in one sentence"),
            ImageBlock(data=source["data"], media_type=source["media_type"]),
        ]
    )
    response, _ = await call(p, [message], [], stream=False)
    assert_response(
        response, expected_from_json(json.loads(replayer.interactions[0].response_body))
    )
    assert "Wikipedia" in response.message.content
    assert_sent_matches(replayer)
