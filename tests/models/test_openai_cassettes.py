"""Replay every recorded Chat Completions conversation through OpenAIProvider, on both paths.

Each test drives the provider with the exo messages of the recorded conversation (turn 2 is
built from what turn 1 returned), checks that the body the SDK really sent matches the
recorded one in substance, and that the recorded response becomes the right ModelResponse or
ModelError. Expectations come from the recording through a small, deliberately naive reader.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from cassettes import TRAFFIC, Replayer, call
from exo.errors import ModelError
from exo.models.base import (
    ModelChunk,
    ModelResponse,
    TextDelta,
    ToolCallDelta,
    ToolSpec,
)
from exo.models.openai import OpenAIProvider
from exo.types import ImageBlock, Message, SystemMessage, TextBlock, ToolResult, UserMessage

PATHS = pytest.mark.parametrize("raw", [True, False], ids=["raw", "sdk"])
FINISH = {"stop": "stop", "tool_calls": "tool_calls", "length": "length"}
KEY = "sk-test-9f8e7d6c5b4a"


# --------------------------------------------------------------------------- helpers


def provider(replayer: Replayer, model: str, *, raw: bool, **options: Any) -> OpenAIProvider:
    return OpenAIProvider(model, api_key=KEY, http_client=replayer.client(), raw=raw, **options)


def tools_of(recorded: dict[str, Any]) -> list[ToolSpec]:
    return [
        ToolSpec(
            name=t["function"]["name"],
            description=t["function"].get("description") or "",
            parameters=t["function"]["parameters"],
        )
        for t in recorded.get("tools", [])
    ]


def _message(m: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        # the recording client used "developer"; we send "system", which every model takes
        "role": "system" if m["role"] == "developer" else m["role"],
        "content": m.get("content") or None,
    }
    if m.get("tool_calls"):
        out["tool_calls"] = [
            (c["id"], c["type"], c["function"]["name"], c["function"]["arguments"])
            for c in m["tool_calls"]
        ]
    if "tool_call_id" in m:
        out["tool_call_id"] = m["tool_call_id"]
    return out


def normalize(body: dict[str, Any]) -> dict[str, Any]:
    """The substance of a request: drop what only the recording client set (n, strict, …)."""
    return {
        "model": body["model"],
        "messages": [_message(m) for m in body["messages"]],
        "tools": [
            (
                t["type"],
                t["function"]["name"],
                t["function"].get("description") or "",
                t["function"]["parameters"],
            )
            for t in body.get("tools", [])
        ],
        "stream": bool(body.get("stream")),
        "include_usage": bool((body.get("stream_options") or {}).get("include_usage")),
        "temperature": body.get("temperature"),
    }


def assert_sent_matches(replayer: Replayer) -> None:
    assert len(replayer.sent) == len(replayer.interactions)
    for sent, path, inter in zip(replayer.sent, replayer.paths, replayer.interactions, strict=True):
        assert path == inter.path == "/v1/chat/completions"
        assert normalize(sent) == normalize(inter.request_body)


def expected_from_json(body: dict[str, Any]) -> dict[str, Any]:
    """What a recorded ``chat.completion`` should become."""
    choice = body["choices"][0]
    message = choice["message"]
    return {
        "text": message.get("content") or "",
        "calls": [
            (c["id"], c["function"]["name"], c["function"]["arguments"])
            for c in message.get("tool_calls") or []
        ],
        "finish": FINISH[choice["finish_reason"]],
        "usage": body["usage"],
        "id": body["id"],
        "model": body["model"],
    }


def expected_from_sse(raw: bytes) -> dict[str, Any]:
    """What a recorded stream should become, read with a naive line-by-line SSE reader."""
    chunks = [
        json.loads(line[len("data: ") :])
        for line in raw.decode().splitlines()
        if line.startswith("data: ") and line != "data: [DONE]"
    ]
    text, calls, finish, usage = "", {}, None, None
    for chunk in chunks:
        usage = chunk.get("usage") or usage
        for choice in chunk["choices"]:
            delta = choice["delta"]
            text += delta.get("content") or ""
            for tc in delta.get("tool_calls") or []:
                slot = calls.setdefault(tc["index"], {"id": "", "name": "", "arguments": ""})
                slot["id"] = slot["id"] or tc.get("id") or ""
                slot["name"] = slot["name"] or tc.get("function", {}).get("name") or ""
                slot["arguments"] += tc.get("function", {}).get("arguments") or ""
            finish = choice.get("finish_reason") or finish
    message = {
        "content": text,
        "tool_calls": [
            {"id": c["id"], "function": {"name": c["name"], "arguments": c["arguments"]}}
            for _, c in sorted(calls.items())
        ],
    }
    return expected_from_json(
        {
            "choices": [{"message": message, "finish_reason": finish}],
            "usage": usage,
            "id": chunks[0]["id"],
            "model": chunks[0]["model"],
        }
    )


def expected(replayer: Replayer, turn: int) -> dict[str, Any]:
    inter = replayer.interactions[turn]
    if inter.is_sse:
        return expected_from_sse(inter.response_body)
    return expected_from_json(json.loads(inter.response_body))


def assert_response(response: ModelResponse, want: dict[str, Any]) -> None:
    message = response.message
    assert message.content == want["text"]
    assert [(c.id, c.name, c.arguments) for c in message.tool_calls] == want["calls"]
    assert response.finish_reason == want["finish"]
    assert response.id == want["id"]
    assert response.model == want["model"]
    usage = want["usage"]
    assert response.usage.requests == 1
    assert response.usage.input_tokens == usage["prompt_tokens"]
    assert response.usage.output_tokens == usage["completion_tokens"]
    assert response.usage.cache_read_tokens == usage["prompt_tokens_details"]["cached_tokens"]
    details = usage["completion_tokens_details"]
    assert response.usage.reasoning_tokens == details["reasoning_tokens"]


def assert_deltas_add_up(chunks: list[ModelChunk], response: ModelResponse) -> None:
    assert "".join(c.text for c in chunks if isinstance(c, TextDelta)) == response.message.content
    for index, call_ in enumerate(response.message.tool_calls):
        pieces = [c for c in chunks if isinstance(c, ToolCallDelta) and c.index == index]
        assert (pieces[0].id, pieces[0].name) == (call_.id, call_.name)
        assert all(p.id is None and p.name is None for p in pieces[1:])
        assert "".join(p.arguments for p in pieces) == call_.arguments


def recorded_tool_outputs(replayer: Replayer, turn: int) -> dict[str, str]:
    """Tool-call id -> the tool result text the recording client sent in ``turn``."""
    body = replayer.interactions[turn].request_body
    return {m["tool_call_id"]: m["content"] for m in body["messages"] if m["role"] == "tool"}


def test_every_openai_cassette_is_replayed_here_or_in_the_responses_file() -> None:
    here = Path(__file__)
    others = ("test_openai_responses_cassettes.py", "test_server_tool_cassettes.py")
    source = here.read_text() + "".join((here.parent / name).read_text() for name in others)
    files = sorted(p.relative_to(TRAFFIC).as_posix() for p in (TRAFFIC / "openai").rglob("*.yaml"))
    assert files
    assert [f for f in files if f not in source] == []


# --------------------------------------------------------------------------- pydantic-ai


@PATHS
async def test_tool_output_two_turns(raw: bool) -> None:
    replayer = Replayer.from_cassette("openai/pydantic-ai/test_openai_tool_output.yaml")
    tools = tools_of(replayer.interactions[0].request_body)
    p = provider(replayer, "gpt-4o", raw=raw)
    history: list[Message] = [UserMessage(content="What is the largest city in the user country?")]
    first, _ = await call(p, history, tools, stream=False)
    assert_response(first, expected(replayer, 0))
    assert first.message.content == ""
    assert first.message.tool_calls[0].arguments == "{}"

    (country,) = first.message.tool_calls
    history += [
        first.message,
        ToolResult(tool_call_id=country.id, tool_name=country.name, content="Mexico"),
    ]
    second, _ = await call(p, history, tools, stream=False)
    assert_response(second, expected(replayer, 1))
    assert json.loads(second.message.tool_calls[0].arguments) == {
        "city": "Mexico City",
        "country": "Mexico",
    }
    assert_sent_matches(replayer)


@PATHS
async def test_streamed_tool_call_then_streamed_text(raw: bool) -> None:
    replayer = Replayer.from_cassette(
        "openai/pydantic-ai/test_run_stream_sync_streams_real_model.yaml"
    )
    tools = tools_of(replayer.interactions[0].request_body)
    p = provider(replayer, "gpt-4o-mini", raw=raw)
    history: list[Message] = [
        UserMessage(content="What is the capital of the UK? Use the tool, then answer.")
    ]
    first, chunks = await call(p, history, tools, stream=True)
    assert_response(first, expected(replayer, 0))
    assert_deltas_add_up(chunks, first)
    pieces = [c.arguments for c in chunks if isinstance(c, ToolCallDelta)]
    assert pieces == ["", '{"', "country", '":"', "UK", '"}']

    (capital,) = first.message.tool_calls
    history += [
        first.message,
        ToolResult(tool_call_id=capital.id, tool_name=capital.name, content="London"),
    ]
    second, chunks = await call(p, history, tools, stream=True)
    assert_response(second, expected(replayer, 1))
    assert_deltas_add_up(chunks, second)
    assert second.message.content == "The capital of the UK is London."
    assert len([c for c in chunks if isinstance(c, TextDelta)]) > 3
    assert_sent_matches(replayer)


@PATHS
async def test_image_from_a_tool_result_is_resent_as_a_user_message(raw: bool) -> None:
    replayer = Replayer.from_cassette("openai/pydantic-ai/test_image_url_tool_response.yaml")
    recorded = replayer.interactions[1].request_body
    image_url = recorded["messages"][3]["content"][1]["image_url"]["url"]
    tools = tools_of(replayer.interactions[0].request_body)
    p = provider(replayer, "gpt-4o", raw=raw)
    question = "What food is in the image you can get from the get_image tool?"
    history: list[Message] = [UserMessage(content=[TextBlock(text=question)])]
    first, _ = await call(p, history, tools, stream=False)
    assert_response(first, expected(replayer, 0))

    (get_image,) = first.message.tool_calls
    result = ToolResult(
        tool_call_id=get_image.id,
        tool_name="get_image",
        content=[TextBlock(text="See file bd38f5"), ImageBlock(url=image_url)],
    )
    second, _ = await call(p, [*history, first.message, result], tools, stream=False)
    assert_response(second, expected(replayer, 1))
    assert second.message.content == "The image shows a potato."

    # the follow-up user message carries the image; its caption is ours, not the recording's
    sent = copy.deepcopy(replayer.sent[1])
    ours, theirs = sent["messages"][3], copy.deepcopy(recorded["messages"][3])
    assert ours["role"] == theirs["role"] == "user"
    assert [p for p in ours["content"] if p["type"] != "text"] == [
        p for p in theirs["content"] if p["type"] != "text"
    ]
    assert ours["content"][0]["type"] == "text" and get_image.id in ours["content"][0]["text"]
    sent["messages"][3] = theirs
    assert normalize(sent) == normalize(recorded)
    assert normalize(replayer.sent[0]) == normalize(replayer.interactions[0].request_body)


@PATHS
async def test_http_400_becomes_a_model_error_with_the_providers_message(raw: bool) -> None:
    replayer = Replayer.from_cassette(
        "openai/pydantic-ai/test_openai_o1_mini_system_role[developer].yaml"
    )
    body = json.loads(replayer.interactions[0].response_body)["error"]
    p = provider(replayer, "o1-mini", raw=raw)
    history: list[Message] = [
        SystemMessage(content="You are a helpful assistant."),
        UserMessage(content="Hello"),
    ]
    with pytest.raises(ModelError) as caught:
        await call(p, history, [], stream=False)
    err = caught.value
    assert (err.status, err.retryable, err.retry_after) == (400, False, None)
    assert (err.backend, err.model) == ("openai", "o1-mini")
    assert body["message"] in err.detail
    assert body["code"] in err.detail
    assert_sent_matches(replayer)


# --------------------------------------------------------------------------- mirascope


async def _three_episodes(cassette: str, *, raw: bool, stream: bool) -> None:
    replayer = Replayer.from_cassette(cassette)
    assert len(replayer.interactions) == 6
    p = provider(replayer, "gpt-4o", raw=raw)
    for episode in range(3):
        turn = 2 * episode
        recorded = replayer.interactions[turn].request_body
        tools = tools_of(recorded)
        history: list[Message] = [
            SystemMessage(content=recorded["messages"][0]["content"]),
            UserMessage(content=recorded["messages"][1]["content"]),
        ]
        first, chunks = await call(p, history, tools, stream=stream)
        assert_response(first, expected(replayer, turn))
        assert len(first.message.tool_calls) == 2
        if stream:
            assert_deltas_add_up(chunks, first)

        outputs = recorded_tool_outputs(replayer, turn + 1)
        history.append(first.message)
        history += [
            ToolResult(tool_call_id=c.id, tool_name=c.name, content=outputs[c.id])
            for c in first.message.tool_calls
        ]
        second, chunks = await call(p, history, tools, stream=stream)
        assert_response(second, expected(replayer, turn + 1))
        assert "Welcome to Moria!" in second.message.content
        if stream:
            assert_deltas_add_up(chunks, second)
    assert_sent_matches(replayer)


@PATHS
async def test_parallel_tool_calls_three_episodes(raw: bool) -> None:
    await _three_episodes(
        "openai/mirascope/test_call_with_tools/openai_gpt_4o_completions/sync.yaml",
        raw=raw,
        stream=False,
    )


@PATHS
async def test_parallel_tool_calls_streamed_three_episodes(raw: bool) -> None:
    await _three_episodes(
        "openai/mirascope/test_call_with_tools/openai_gpt_4o_completions/stream.yaml",
        raw=raw,
        stream=True,
    )


@PATHS
async def test_authentication_error_on_a_stream_names_the_key_variable(raw: bool) -> None:
    replayer = Replayer.from_cassette(
        "openai/mirascope/test_authentication_error_stream/openai_gpt_4o_completions.yaml"
    )
    p = provider(replayer, "gpt-4o", raw=raw)
    history: list[Message] = [UserMessage(content="This should fail with AuthenticationError")]
    with pytest.raises(ModelError) as caught:
        await call(p, history, [], stream=True)
    err = caught.value
    assert (err.status, err.retryable) == (401, False)
    assert "Incorrect API key provided" in err.detail
    assert "invalid_api_key" in err.detail
    assert err.hint is not None and "OPENAI_API_KEY" in err.hint
    assert KEY not in str(err)
    assert_sent_matches(replayer)
