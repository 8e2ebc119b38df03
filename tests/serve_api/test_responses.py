"""``POST /v1/responses`` through the official openai SDK against a running server."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx2 as httpx
import openai
import pytest
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter
from tests.serve_api.conftest import Served
from tests.serve_api.support import PLAN, sse_data

from exo.types import AssistantMessage, ToolResult, UserMessage

EVENTS: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)


def client(served: Served) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{served.url}/v1", api_key="unused", max_retries=0)


def test_create_runs_the_agent_with_its_plan_and_tools(served: Served) -> None:
    raw = client(served).responses.with_raw_response.create(
        model="weather", input="What is the weather in Paris?"
    )
    response = raw.parse()
    Response.model_validate(raw.http_response.json())  # strictly the SDK's shape
    assert response.status == "completed"
    assert response.output_text == "It is sunny in Paris."
    plan, call_item, result, message = response.output
    assert plan.type == "reasoning" and [s.text for s in plan.summary] == [PLAN]
    assert call_item.type == "function_call" and call_item.name == "get_weather"
    assert json.loads(call_item.arguments) == {"city": "Paris"}
    assert call_item.status == "completed"
    assert result.type == "function_call_output" and result.call_id == call_item.call_id
    assert result.output == "sunny"
    assert message.type == "message" and message.status == "completed"
    usage = response.usage
    assert usage is not None and usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert usage.input_tokens > 0 and usage.output_tokens > 0


def test_stream_sends_the_responses_events_in_order(served: Served) -> None:
    stream = client(served).responses.create(
        model="weather", input="What is the weather in Paris?", stream=True
    )
    events = list(stream)
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    plan = [
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
    ]
    call = [
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
    ]
    result = ["response.output_item.added", "response.output_item.done"]
    deltas = kinds.count("response.output_text.delta")
    text = [
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * deltas,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
    ]
    assert deltas > 1  # the answer arrives in pieces
    assert kinds == [
        "response.created",
        "response.in_progress",
        *plan,
        *call,
        *result,
        *text,
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text_deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text_deltas == "It is sunny in Paris."
    done = events[-1]
    assert done.type == "response.completed"
    assert done.response.output_text == "It is sunny in Paris."
    assert done.response.usage is not None and done.response.usage.total_tokens > 0


def test_stream_events_have_exactly_the_sdk_shapes(served: Served) -> None:
    body = {"model": "weather", "input": "Weather?", "stream": True}
    with httpx.stream("POST", f"{served.url}/v1/responses", json=body, timeout=30) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        pairs = list(sse_data(response))
    assert pairs
    for name, data in pairs:
        event = EVENTS.validate_python(json.loads(data))
        assert event.type == name  # the SSE event name is the event's type


def test_the_sdk_stream_helper_assembles_the_same_response(served: Served) -> None:
    with client(served).responses.stream(model="weather", input="Weather?") as stream:
        for _ in stream:
            pass
        final = stream.get_final_response()
    assert final.output_text == "It is sunny in Paris."
    assert [item.type for item in final.output] == [
        "reasoning",
        "function_call",
        "function_call_output",
        "message",
    ]


def test_reasoning_streams_as_a_reasoning_item(served: Served) -> None:
    events = list(client(served).responses.create(model="thinker", input="Sky?", stream=True))
    kinds = [e.type for e in events]
    assert "response.reasoning_text.delta" in kinds
    final = events[-1]
    assert final.type == "response.completed"
    reasoning = [item for item in final.response.output if item.type == "reasoning"]
    assert len(reasoning) == 2  # one per model step
    assert all(r.content and r.content[0].text == "Thinking about the sky." for r in reasoning)
    assert final.response.output_text == "It is sunny in Paris."


def test_previous_response_id_continues_the_conversation(served: Served) -> None:
    sdk = client(served)
    first = sdk.responses.create(model="weather", input="Weather in Paris?")
    second = sdk.responses.create(
        model="weather", input="And tomorrow?", previous_response_id=first.id, stream=True
    )
    events = list(second)
    second_id = events[0].response.id  # type: ignore[union-attr]
    request = served.models["weather"].requests[-1]
    users = [m.content for m in request.messages if isinstance(m, UserMessage)]
    assert users[0] == "Weather in Paris?"  # the first turn came back from memory
    assert "And tomorrow?" in users[-1]
    answers = [m.content for m in request.messages if isinstance(m, AssistantMessage)]
    assert "It is sunny in Paris." in answers
    third = sdk.responses.create(model="weather", input="Thanks!", previous_response_id=second_id)
    request = served.models["weather"].requests[-1]
    users = [m.content for m in request.messages if isinstance(m, UserMessage)]
    assert users[:2] == ["Weather in Paris?", "And tomorrow?"]
    assert third.previous_response_id == second_id
    assert len({first.id, second_id, third.id}) == 3
    chain = first.id.rsplit("_", 1)[0]  # the three are one conversation, in the server's memory
    assert {r.rsplit("_", 1)[0] for r in (second_id, third.id)} == {chain}
    assert served.hub.memory is not None
    stored = asyncio.run(served.hub.memory.load(chain))
    assert [m.content for m in stored if isinstance(m, UserMessage)] == [
        "Weather in Paris?",
        "And tomorrow?",
        "Thanks!",
    ]


def test_unknown_or_unstored_previous_response_is_404(served: Served) -> None:
    sdk = client(served)
    unstored = sdk.responses.create(model="weather", input="Weather?", store=False)
    for previous in (unstored.id, "resp_nothing_here", "not-an-id"):
        with pytest.raises(openai.NotFoundError) as caught:
            sdk.responses.create(model="weather", input="Again?", previous_response_id=previous)
        assert caught.value.code == "previous_response_not_found"


def test_instructions_are_added_to_the_agents(served: Served) -> None:
    client(served).responses.create(
        model="weather",
        input=[
            {"role": "developer", "content": "Answer in French."},
            {"role": "user", "content": "Earlier question"},
            {"role": "assistant", "content": "Earlier answer"},
            {"role": "user", "content": [{"type": "input_text", "text": "Weather?"}]},
        ],
        instructions="Be brief.",
    )
    request = served.models["weather"].requests[-1]
    system = request.messages[0].content
    assert system == "You report the weather.\n\nAnswer in French.\n\nBe brief."
    assert [type(m).__name__ for m in request.messages[1:3]] == [
        "UserMessage",
        "AssistantMessage",
    ]
    assert request.messages[1].content == "Earlier question"


def test_json_schema_format_runs_with_that_output_type(served: Served) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "sky": {"type": "string"}},
        "required": ["city", "sky"],
        "additionalProperties": False,
    }
    response = client(served).responses.create(
        model="weather",
        input="Weather?",
        text={"format": {"type": "json_schema", "name": "weather", "schema": schema}},
    )
    assert json.loads(response.output_text) == {"city": "Paris", "sky": "sunny"}
    request = served.models["weather"].requests[-1]
    assert request.output is not None and request.output.schema["required"] == ["city", "sky"]
    assert response.text is not None and response.text.format.type == "json_schema"


def test_tool_results_are_answered_calls(served: Served) -> None:
    """Every function_call item has its function_call_output: a client has nothing to run."""
    response = client(served).responses.create(model="weather", input="Weather?")
    calls = {i.call_id for i in response.output if i.type == "function_call"}
    outputs = {i.call_id for i in response.output if i.type == "function_call_output"}
    assert calls and calls == outputs
    request = served.models["weather"].requests[-1]
    assert any(isinstance(m, ToolResult) for m in request.messages)


def test_store_false_continues_without_saving(served: Served) -> None:
    sdk = client(served)
    first = sdk.responses.create(model="weather", input="Weather in Paris?")
    aside = sdk.responses.create(
        model="weather", input="An aside", previous_response_id=first.id, store=False
    )
    request = served.models["weather"].requests[-1]
    assert next(m.content for m in request.messages if isinstance(m, UserMessage)) == (
        "Weather in Paris?"
    )
    assert aside.store is False
    sdk.responses.create(model="weather", input="Next", previous_response_id=first.id)
    request = served.models["weather"].requests[-1]
    users = [m.content for m in request.messages if isinstance(m, UserMessage)]
    assert "An aside" not in str(users)  # the unsaved turn is not in the conversation
    assert users[0] == "Weather in Paris?"


def test_a_run_that_pauses_for_approval_is_refused_clearly(served: Served) -> None:
    sdk = client(served)
    with pytest.raises(openai.ConflictError) as caught:
        sdk.responses.create(model="approver", input="Weather?")
    assert caught.value.code == "approval_required"
    assert "'get_weather'" in caught.value.message and "/runs" in caught.value.message
    events = list(sdk.responses.create(model="approver", input="Weather?", stream=True))
    last = events[-1]
    assert last.type == "response.failed"
    assert last.response.error is not None and "/runs" in last.response.error.message
    assert [i.type for i in last.response.output] == ["function_call"]


def test_earlier_output_sent_back_as_input_is_history(served: Served) -> None:
    sdk = client(served)
    first = sdk.responses.create(model="weather", input="Weather in Paris?", store=False)
    items: list[Any] = [item.model_dump(exclude_none=True) for item in first.output]
    sdk.responses.create(
        model="weather",
        input=[
            {"role": "user", "content": "Weather in Paris?"},
            *items,
            {"role": "user", "content": "And tomorrow?"},
        ],
        store=False,
    )
    request = served.models["weather"].requests[-1]
    kinds = [type(m).__name__ for m in request.messages]
    assert kinds[:6] == [
        "SystemMessage",
        "UserMessage",
        "AssistantMessage",
        "ToolResult",
        "AssistantMessage",
        "UserMessage",
    ]
    call_message, result = request.messages[2], request.messages[3]
    assert isinstance(call_message, AssistantMessage) and isinstance(result, ToolResult)
    assert [c.name for c in call_message.tool_calls] == ["get_weather"]
    assert (result.tool_call_id, result.tool_name, result.content) == (
        call_message.tool_calls[0].id,
        "get_weather",
        "sunny",
    )
    assert request.messages[4].content == "It is sunny in Paris."
