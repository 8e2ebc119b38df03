"""Replay every recorded Responses API conversation through OpenAIResponsesProvider.

Same approach as test_openai_cassettes.py: drive the provider with the exo messages of the
recorded conversation on both call paths, compare what the SDK sent with the recorded request
in substance (ignoring item ids, ``status`` and ``store``, which only the stateful recording
clients sent), and check the response or error against a naive reading of the recording.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from cassettes import Replayer, call
from exo.errors import ModelError
from exo.models._openai_responses_convert import input_items
from exo.models.base import (
    ModelChunk,
    ModelResponse,
    ModelSettings,
    TextDelta,
    ToolCallDelta,
    ToolSpec,
)
from exo.models.openai_responses import OpenAIResponsesProvider
from exo.types import ImageBlock, Message, SystemMessage, TextBlock, ToolResult, UserMessage

PATHS = pytest.mark.parametrize("raw", [True, False], ids=["raw", "sdk"])
KEY = "sk-test-0a1b2c3d4e5f"


# --------------------------------------------------------------------------- helpers


def provider(
    replayer: Replayer, model: str, *, raw: bool, **options: Any
) -> OpenAIResponsesProvider:
    return OpenAIResponsesProvider(
        model, api_key=KEY, http_client=replayer.client(), raw=raw, **options
    )


def tools_of(recorded: dict[str, Any]) -> list[ToolSpec]:
    return [
        ToolSpec(name=t["name"], description=t["description"] or "", parameters=t["parameters"])
        for t in recorded.get("tools", [])
    ]


def _content(content: Any) -> list[tuple[str, ...]]:
    if isinstance(content, str):
        return [("text", content)]
    parts: list[tuple[str, ...]] = []
    for part in content:
        if part["type"] in ("input_text", "output_text"):
            parts.append(("text", part["text"]))
        else:
            parts.append((part["type"], part.get("image_url", ""), part.get("detail", "")))
    return parts


def _item(item: dict[str, Any]) -> tuple[Any, ...] | None:
    kind = item.get("type", "message")
    if kind == "message":
        if item["role"] == "assistant" and not item["content"]:
            return None  # an empty assistant message the recording client sent before calls
        role = "developer" if item["role"] == "system" else item["role"]
        return ("message", role, _content(item["content"]))
    if kind == "function_call":
        return (kind, item["call_id"], item["name"], item["arguments"])
    if kind == "function_call_output":
        return (kind, item["call_id"], item["output"])
    return (kind, item.get("encrypted_content"))


def normalize(body: dict[str, Any]) -> dict[str, Any]:
    """The substance of a request body."""
    items = [_item(i) for i in body["input"]]
    return {
        "model": body["model"],
        "instructions": body.get("instructions") or None,
        "input": [i for i in items if i is not None],
        "tools": [
            (t["type"], t["name"], t["description"] or "", t["parameters"])
            for t in body.get("tools", [])
        ],
        "stream": bool(body.get("stream")),
        "temperature": body.get("temperature"),
        "include": body.get("include"),
        "reasoning": body.get("reasoning"),
        "service_tier": body.get("service_tier"),
    }


def assert_sent_matches(replayer: Replayer) -> None:
    assert len(replayer.sent) == len(replayer.interactions)
    for sent, path, inter in zip(replayer.sent, replayer.paths, replayer.interactions, strict=True):
        assert path == inter.path == "/v1/responses"
        assert sent["store"] is False
        assert normalize(sent) == normalize(inter.request_body)


def expected_from_response(body: dict[str, Any]) -> dict[str, Any]:
    """What a recorded ``response`` object should become."""
    output = body["output"]
    text = "".join(
        part["text"]
        for item in output
        if item["type"] == "message"
        for part in item["content"]
        if part["type"] == "output_text"
    )
    calls = [
        (i["call_id"], i["name"], i["arguments"]) for i in output if i["type"] == "function_call"
    ]
    return {
        "text": text,
        "calls": calls,
        "reasoning": [
            (i["id"], i["encrypted_content"]) for i in output if i["type"] == "reasoning"
        ],
        "finish": "tool_calls" if calls else "stop",
        "usage": body["usage"],
        "id": body["id"],
        "model": body["model"],
    }


def expected(replayer: Replayer, turn: int) -> dict[str, Any]:
    inter = replayer.interactions[turn]
    if not inter.is_sse:
        return expected_from_response(json.loads(inter.response_body))
    events = [
        json.loads(line[len("data: ") :])
        for line in inter.response_body.decode().splitlines()
        if line.startswith("data: ")
    ]
    (completed,) = [e for e in events if e["type"] == "response.completed"]
    return expected_from_response(completed["response"])


def assert_response(response: ModelResponse, want: dict[str, Any]) -> None:
    message = response.message
    assert message.content == want["text"]
    assert [(c.id, c.name, c.arguments) for c in message.tool_calls] == want["calls"]
    assert [(r.id, r.encrypted) for r in message.reasoning] == want["reasoning"]
    assert all(r.provider == "openai-responses" for r in message.reasoning)
    assert response.finish_reason == want["finish"]
    assert (response.id, response.model) == (want["id"], want["model"])
    usage = want["usage"]
    assert response.usage.requests == 1
    assert response.usage.input_tokens == usage["input_tokens"]
    assert response.usage.output_tokens == usage["output_tokens"]
    assert response.usage.cache_read_tokens == usage["input_tokens_details"]["cached_tokens"]
    assert response.usage.reasoning_tokens == usage["output_tokens_details"]["reasoning_tokens"]


def assert_deltas_add_up(chunks: list[ModelChunk], response: ModelResponse) -> None:
    assert "".join(c.text for c in chunks if isinstance(c, TextDelta)) == response.message.content
    for index, call_ in enumerate(response.message.tool_calls):
        pieces = [c for c in chunks if isinstance(c, ToolCallDelta) and c.index == index]
        assert (pieces[0].id, pieces[0].name) == (call_.id, call_.name)
        assert "".join(p.arguments for p in pieces) == call_.arguments


def recorded_outputs(replayer: Replayer, turn: int) -> dict[str, str]:
    body = replayer.interactions[turn].request_body
    return {
        i["call_id"]: i["output"] for i in body["input"] if i.get("type") == "function_call_output"
    }


# --------------------------------------------------------------------------- pydantic-ai


@PATHS
async def test_tool_call_then_answer(raw: bool) -> None:
    replayer = Replayer.from_cassette(
        "openai/pydantic-ai/test_openai_responses_model_simple_response_with_tool_call.yaml"
    )
    tools = tools_of(replayer.interactions[0].request_body)
    p = provider(replayer, "gpt-4o", raw=raw)
    history: list[Message] = [UserMessage(content="What is the capital of PotatoLand?")]
    first, _ = await call(p, history, tools, stream=False)
    assert_response(first, expected(replayer, 0))

    (capital,) = first.message.tool_calls
    history += [
        first.message,
        ToolResult(tool_call_id=capital.id, tool_name=capital.name, content="Potato City"),
    ]
    second, _ = await call(p, history, tools, stream=False)
    assert_response(second, expected(replayer, 1))
    assert second.message.content == "The capital of PotatoLand is Potato City."
    assert_sent_matches(replayer)


@PATHS
async def test_two_parallel_calls_and_an_error_result(raw: bool) -> None:
    replayer = Replayer.from_cassette("openai/pydantic-ai/test_openai_responses_model_retry.yaml")
    tools = tools_of(replayer.interactions[0].request_body)
    p = provider(replayer, "gpt-4o", raw=raw)
    history: list[Message] = [UserMessage(content="What is the location of Londos and London?")]
    first, _ = await call(p, history, tools, stream=False)
    assert_response(first, expected(replayer, 0))
    assert [json.loads(c.arguments)["loc_name"] for c in first.message.tool_calls] == [
        "Londos",
        "London",
    ]

    outputs = recorded_outputs(replayer, 1)
    londos, london = first.message.tool_calls
    history += [
        first.message,
        ToolResult(
            tool_call_id=londos.id, tool_name=londos.name, content=outputs[londos.id], is_error=True
        ),
        ToolResult(tool_call_id=london.id, tool_name=london.name, content=outputs[london.id]),
    ]
    second, _ = await call(p, history, tools, stream=False)
    assert_response(second, expected(replayer, 1))
    assert_sent_matches(replayer)


@PATHS
async def test_reasoning_model_stream_keeps_encrypted_reasoning(raw: bool) -> None:
    replayer = Replayer.from_cassette(
        "openai/pydantic-ai/test_openai_responses_streaming_usage.yaml"
    )
    recorded = replayer.interactions[0].request_body
    p = provider(
        replayer,
        "gpt-5",
        raw=raw,
        extra_body={
            "reasoning": recorded["reasoning"],
            "service_tier": "flex",
            "tool_choice": "required",
        },
    )
    history: list[Message] = [UserMessage(content="Calculate 100 * 200 / 3")]
    response, chunks = await call(p, history, tools_of(recorded), stream=True)
    assert_response(response, expected(replayer, 0))
    assert_deltas_add_up(chunks, response)
    assert response.usage.reasoning_tokens == 448
    assert json.loads(response.message.tool_calls[0].arguments) == {"result": 6666}
    assert replayer.sent[0]["include"] == ["reasoning.encrypted_content"]
    assert_sent_matches(replayer)

    # the next turn carries the reasoning back, verbatim, right before the call it led to
    (block,) = response.message.reasoning
    (call_,) = response.message.tool_calls
    items = input_items(
        [*history, response.message, ToolResult(tool_call_id=call_.id, tool_name=call_.name)]
    )
    assert items[1] == {"type": "reasoning", "summary": [], "encrypted_content": block.encrypted}
    assert items[2]["type"] == "function_call" and items[2]["call_id"] == call_.id
    assert all("id" not in item for item in items)  # store=false: nothing to refer to


@PATHS
async def test_image_url_input(raw: bool) -> None:
    replayer = Replayer.from_cassette(
        "openai/pydantic-ai/test_openai_responses_image_url_input.yaml"
    )
    recorded = replayer.interactions[0].request_body
    url = recorded["input"][0]["content"][1]["image_url"]
    p = provider(replayer, "gpt-4o", raw=raw)
    history: list[Message] = [UserMessage(content=[TextBlock(text="hello"), ImageBlock(url=url)])]
    response, _ = await call(p, history, [], stream=False)
    assert_response(response, expected(replayer, 0))
    assert "potato" in response.message.content
    assert replayer.sent[0]["input"] == recorded["input"]
    assert_sent_matches(replayer)


@PATHS
async def test_http_400_on_a_stream_request(raw: bool) -> None:
    replayer = Replayer.from_cassette(
        "openai/pydantic-ai/test_openai_responses_model_http_error.yaml"
    )
    body = json.loads(replayer.interactions[0].response_body)["error"]
    p = provider(replayer, "gpt-4o", raw=raw)
    history: list[Message] = [UserMessage(content="What is the capital of France?")]
    with pytest.raises(ModelError) as caught:
        await call(p, history, [], stream=True, settings=ModelSettings(temperature=-1))
    err = caught.value
    assert (err.status, err.retryable, err.backend) == (400, False, "openai-responses")
    assert body["message"] in err.detail and "decimal_below_min_value" in err.detail
    assert_sent_matches(replayer)


# --------------------------------------------------------------------------- mirascope


@PATHS
async def test_parallel_function_calls_streamed_three_episodes(raw: bool) -> None:
    replayer = Replayer.from_cassette(
        "openai/mirascope/test_call_with_tools/openai_gpt_4o_responses/stream.yaml"
    )
    p = provider(replayer, "gpt-4o", raw=raw)
    for episode in range(3):
        turn = 2 * episode
        recorded = replayer.interactions[turn].request_body
        tools = tools_of(recorded)
        history: list[Message] = [
            SystemMessage(content=recorded["input"][0]["content"]),
            UserMessage(content=recorded["input"][1]["content"]),
        ]
        first, chunks = await call(p, history, tools, stream=True)
        assert_response(first, expected(replayer, turn))
        assert len(first.message.tool_calls) == 2
        assert_deltas_add_up(chunks, first)

        outputs = recorded_outputs(replayer, turn + 1)
        history.append(first.message)
        history += [
            ToolResult(tool_call_id=c.id, tool_name=c.name, content=outputs[c.id])
            for c in first.message.tool_calls
        ]
        second, chunks = await call(p, history, tools, stream=True)
        assert_response(second, expected(replayer, turn + 1))
        assert_deltas_add_up(chunks, second)
        assert "Moria" in second.message.content
    assert_sent_matches(replayer)
