"""Regression tests for the wire shapes outside testers sent, one class per test.

Each test feeds hand-built bytes (labelled synthetic unless the docstring names a recording)
through the real providers at the HTTP boundary, on both request paths where both exist. The
fuzzer (``test_fuzz_wire.py``) covers the classes; these pin the examples that were seen.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from exo import Agent, run
from exo.errors import ModelError
from exo.memory_sqlite import SQLiteMemory
from exo.models.base import ModelChunk, ModelRequest, ModelResponse, TextDelta, ToolCallDelta
from exo.types import AssistantMessage, UserMessage
from reliability.fuzzwire import (
    Boundary,
    anthropic_server_tool_stream,
    build,
    encode_stream,
    json_seeds,
)

PATHS = pytest.mark.parametrize("raw", [True, False], ids=["raw", "sdk"])
PROTOCOLS = pytest.mark.parametrize("protocol", ["openai", "openai-responses", "anthropic"])
REQUEST = ModelRequest(messages=[UserMessage(content="hi")])
SSE = "text/event-stream"


async def complete(protocol: str, raw: bool, doc: Any) -> ModelResponse:
    provider = build(protocol, raw, Boundary(json.dumps(doc).encode()))
    return await provider.complete(REQUEST)


async def stream(protocol: str, raw: bool, events: list[Any]) -> list[ModelChunk]:
    provider = build(protocol, raw, Boundary(encode_stream(protocol, events), SSE))
    return [chunk async for chunk in provider.stream(REQUEST)]


async def failure(coro: Any) -> ModelError:
    with pytest.raises(ModelError) as caught:
        await coro
    return caught.value


def chunk(delta: Any, finish: str | None = None) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return {"id": "c1", "object": "chat.completion.chunk", "model": "m", "choices": [choice]}


def completion(message: Any, **fields: Any) -> dict[str, Any]:
    choice = {"index": 0, "message": message, "finish_reason": "stop"}
    body = {"id": "c1", "object": "chat.completion", "model": "m", "choices": [choice]}
    return body | {"usage": {"prompt_tokens": 3, "completion_tokens": 2}} | fields


# --------------------------------------------------------------------------- not objects


@PATHS
@pytest.mark.parametrize("item", ["text", 7, None, [1]], ids=["str", "int", "null", "list"])
async def test_chat_choices_that_are_not_objects_are_a_non_retryable_model_error(
    raw: bool, item: Any
) -> None:
    whole = await failure(complete("openai", raw, {"choices": [item]}))
    streamed = await failure(stream("openai", raw, [{"choices": [item]}, "[DONE]"]))
    for error in (whole, streamed):
        assert not error.retryable
        assert "malformed response" in error.detail and "not an object" in error.detail


@PATHS
@pytest.mark.parametrize("delta", ["text", 7, [{"content": "a"}]], ids=["str", "int", "list"])
async def test_chat_deltas_that_are_not_objects_are_a_non_retryable_model_error(
    raw: bool, delta: Any
) -> None:
    error = await failure(stream("openai", raw, [chunk(delta, "stop"), "[DONE]"]))
    assert not error.retryable and "delta is" in error.detail


@PATHS
@pytest.mark.parametrize("item", ["text", 7, None], ids=["str", "int", "null"])
async def test_responses_output_items_that_are_not_objects_are_a_model_error(
    raw: bool, item: Any
) -> None:
    doc = json_seeds("openai-responses")[0]
    doc["output"] = [item, *doc["output"]]
    whole = await failure(complete("openai-responses", raw, doc))
    events = [{"type": "response.completed", "response": doc}]
    streamed = await failure(stream("openai-responses", raw, events))
    for error in (whole, streamed):
        assert not error.retryable and "an output item is" in error.detail


# --------------------------------------------------------------------------- tolerated shapes

PARTS = [{"type": "text", "text": "Hel"}, {"type": "text", "text": "lo"}]


@PATHS
async def test_chat_content_as_a_list_of_text_parts_becomes_text(raw: bool) -> None:
    whole = await complete("openai", raw, completion({"role": "assistant", "content": PARTS}))
    assert whole.message.content == "Hello"
    chunks = await stream("openai", raw, [chunk({"content": PARTS}), chunk({}, "stop"), "[DONE]"])
    assert [c.text for c in chunks if isinstance(c, TextDelta)] == ["Hello"]
    assert isinstance(chunks[-1], ModelResponse) and chunks[-1].message.content == "Hello"


async def test_text_parts_content_is_saved_by_memory_as_text(tmp_path: Path) -> None:
    memory = SQLiteMemory(tmp_path / "memory.db")
    boundary = Boundary(json.dumps(completion({"role": "assistant", "content": PARTS})).encode())
    agent = Agent(name="parts", model="openai:fuzz-model", memory=memory)
    result = await run(agent, "hi", conversation_id="c-1", provider=build("openai", True, boundary))
    assert result.output == "Hello"
    saved = await memory.load("c-1")
    await memory.aclose()
    assert [m.content for m in saved if isinstance(m, AssistantMessage)] == ["Hello"]


@PATHS
async def test_a_tool_call_index_given_as_a_string_assembles_the_calls(raw: bool) -> None:
    def piece(index: str, **fields: Any) -> dict[str, Any]:
        return chunk({"tool_calls": [{"index": index, **fields}]})

    events = [
        piece("0", id="call_a", type="function", function={"name": "add", "arguments": ""}),
        piece("1", id="call_b", type="function", function={"name": "echo", "arguments": ""}),
        piece("0", function={"arguments": '{"a": 1'}),
        piece("1", function={"arguments": '{"t": "x"}'}),
        piece("0", function={"arguments": "}"}),
        chunk({}, "tool_calls"),
        "[DONE]",
    ]
    final = (await stream("openai", raw, events))[-1]
    assert isinstance(final, ModelResponse)
    calls = [(c.id, c.name, c.arguments) for c in final.message.tool_calls]
    assert calls == [("call_a", "add", '{"a": 1}'), ("call_b", "echo", '{"t": "x"}')]


@PATHS
async def test_an_anthropic_delta_for_a_block_never_started_is_skipped(raw: bool) -> None:
    events = anthropic_server_tool_stream()
    events.insert(2, {"type": "content_block_delta", "index": 9, "delta": {
        "type": "input_json_delta", "partial_json": '{"q":'}})  # fmt: skip
    events.insert(3, {"type": "content_block_delta", "index": 8, "delta": {
        "type": "thinking_delta", "thinking": "hm"}})  # fmt: skip
    final = (await stream("anthropic", raw, events))[-1]
    assert isinstance(final, ModelResponse)
    assert final.message.content == "Around 70 degrees." and final.finish_reason == "stop"


@PATHS
async def test_anthropic_server_tool_blocks_are_skipped_streamed_and_whole(raw: bool) -> None:
    """Shape of the recorded web search stream (pydantic-ai, web_search_tool_stream)."""
    chunks = await stream("anthropic", raw, anthropic_server_tool_stream())
    final = chunks[-1]
    assert isinstance(final, ModelResponse)
    assert final.message.tool_calls == [] and final.message.content == "Around 70 degrees."
    assert not any(isinstance(c, ToolCallDelta) for c in chunks)
    whole = await complete("anthropic", raw, json_seeds("anthropic")[-1])
    assert whole.message.tool_calls == [] and whole.message.content == "Hello there, friend."


@PATHS
async def test_responses_built_in_tool_items_are_skipped(raw: bool) -> None:
    doc = json_seeds("openai-responses")[-1]
    kinds = [item["type"] for item in doc["output"]]
    assert kinds[0] == "web_search_call"
    for extra in ("file_search_call", "code_interpreter_call"):
        doc["output"].insert(0, {"id": f"x_{extra}", "type": extra, "status": "completed"})
    whole = await complete("openai-responses", raw, doc)
    assert whole.message.content == "Hello there, friend." and whole.message.tool_calls == []


@PATHS
async def test_a_stream_whose_chunks_carry_no_choices_is_an_error_not_an_empty_answer(
    raw: bool,
) -> None:
    events = [{"id": "c1", "object": "chat.completion.chunk", "choices": []}] * 3 + ["[DONE]"]
    error = await failure(stream("openai", raw, events))
    assert not error.retryable and "no choices" in error.detail


@PATHS
@PROTOCOLS
async def test_a_json_body_answering_a_streaming_request_is_the_whole_response(
    protocol: str, raw: bool
) -> None:
    body = json.dumps(json_seeds(protocol)[1]).encode()
    provider = build(protocol, raw, Boundary(body, "application/json"))
    chunks = [c async for c in provider.stream(REQUEST)]
    boundary = Boundary(body)
    whole = await build(protocol, raw, boundary).complete(REQUEST)
    assert chunks[-1] == whole
    assert [c.text for c in chunks if isinstance(c, TextDelta)] == ["Two calls."]
    assert [c.name for c in chunks if isinstance(c, ToolCallDelta)] == ["add", "echo"]


@PATHS
async def test_a_stream_ending_with_done_and_no_finish_reason_is_a_whole_answer(
    raw: bool,
) -> None:
    """OpenRouter's shape: content chunks, usage, ``[DONE]``; no finish_reason anywhere."""
    usage = {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6}
    events = [chunk({"content": "Hi"}), chunk({"content": "!"}), chunk({}) | {"usage": usage}]
    boundary = Boundary(encode_stream("openai", [*events, "[DONE]"]), SSE)
    final = [c async for c in build("openai", raw, boundary).stream(REQUEST)][-1]
    assert isinstance(final, ModelResponse)
    assert (final.message.content, final.finish_reason) == ("Hi!", "stop")
    assert boundary.requests == 1
    # both paths read the raw body, so a stream cut before [DONE] is still told apart
    cut = await failure(stream("openai", raw, events))
    assert cut.retryable and "ended before" in cut.detail
