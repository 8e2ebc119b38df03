"""``/v1/chat/completions``, ``/v1/models`` and the error shape, through the openai SDK."""

from __future__ import annotations

import json
from typing import Any

import httpx2 as httpx
import openai
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from tests.serve_api.conftest import Served
from tests.serve_api.support import sse_data

from exo.types import AssistantMessage, UserMessage


def client(served: Served) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{served.url}/v1", api_key="unused", max_retries=0)


def test_chat_completion_answers_with_the_final_text(served: Served) -> None:
    raw = client(served).chat.completions.with_raw_response.create(
        model="weather",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Earlier question"},
            {"role": "assistant", "content": "Earlier answer"},
            {"role": "user", "content": "Weather in Paris?"},
        ],
    )
    completion = raw.parse()
    ChatCompletion.model_validate(raw.http_response.json())
    choice = completion.choices[0]
    assert choice.message.content == "It is sunny in Paris."
    assert choice.finish_reason == "stop" and not choice.message.tool_calls
    assert completion.usage is not None and completion.usage.total_tokens > 0
    request = served.models["weather"].requests[-1]
    assert request.messages[0].content == "You report the weather.\n\nBe brief."
    assert [(type(m), m.content) for m in request.messages[1:3]] == [
        (UserMessage, "Earlier question"),
        (AssistantMessage, "Earlier answer"),
    ]


def test_chat_stream_sends_chunks_then_done(served: Served) -> None:
    stream = client(served).chat.completions.create(
        model="weather",
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "It is sunny in Paris."
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop" and finishes.count("stop") == 1
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens > 0


def test_chat_stream_wire_shape(served: Served) -> None:
    body = {"model": "weather", "messages": [{"role": "user", "content": "Hi"}], "stream": True}
    with httpx.stream("POST", f"{served.url}/v1/chat/completions", json=body) as response:
        data = [d for _, d in sse_data(response)]
    assert data[-1] == "[DONE]"
    for item in data[:-1]:
        ChatCompletionChunk.model_validate(json.loads(item))


def test_chat_json_schema_response_format(served: Served) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "sky": {"type": "string"}},
        "required": ["city", "sky"],
        "additionalProperties": False,
    }
    completion = client(served).chat.completions.create(
        model="weather",
        messages=[{"role": "user", "content": "Weather?"}],
        response_format={"type": "json_schema", "json_schema": {"name": "w", "schema": schema}},
    )
    assert json.loads(completion.choices[0].message.content or "") == {
        "city": "Paris",
        "sky": "sunny",
    }


def test_models_lists_the_agents(served: Served) -> None:
    sdk = client(served)
    assert sorted(m.id for m in sdk.models.list()) == sorted(served.hub.agents)
    assert sdk.models.retrieve("weather").id == "weather"
    with pytest.raises(openai.NotFoundError):
        sdk.models.retrieve("nobody")


def _error(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    error: dict[str, Any] = body["error"]
    return error


@pytest.mark.parametrize("path", ["/v1/responses", "/v1/chat/completions"])
def test_unknown_agent_is_404_in_the_openai_shape(served: Served, path: str) -> None:
    body = {"model": "nobody", "input": "Hi", "messages": [{"role": "user", "content": "Hi"}]}
    response = httpx.post(f"{served.url}{path}", json=body)
    assert response.status_code == 404
    error = _error(response)
    assert error["code"] == "model_not_found" and "'nobody'" in error["message"]
    assert "weather" in error["message"]  # it lists the served agents


def test_unknown_agent_through_the_sdk(served: Served) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client(served).responses.create(model="nobody", input="Hi")
    assert caught.value.code == "model_not_found"


def _format(schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "json_schema", "name": "x", "schema": schema}


_DANGLING = {"type": "object", "properties": {"a": {"$ref": "#/$defs/Missing"}}}


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/v1/responses", {"model": "weather"}, "input"),
        ("/v1/responses", {"model": "weather", "input": 3}, "input"),
        ("/v1/responses", {"model": "weather", "input": "Hi", "tools": [{"type": "x"}]}, "tools"),
        ("/v1/responses", {"model": "weather", "input": "Hi", "temperature": 9}, "temperature"),
        (
            "/v1/responses",
            {"model": "weather", "input": [{"type": "function_call_output", "call_id": "c"}]},
            "input[0]",
        ),
        (
            "/v1/responses",
            {"model": "weather", "input": [{"role": "assistant", "content": "Hi"}]},
            "input",
        ),
        (
            "/v1/responses",
            {"model": "weather", "input": "Hi", "text": {"format": _format({"type": "array"})}},
            "text.format.schema",
        ),
        (
            "/v1/responses",
            {"model": "weather", "input": "Hi", "text": {"format": _format(_DANGLING)}},
            "schema",
        ),
        ("/v1/chat/completions", {"model": "weather", "messages": []}, "messages"),
        (
            "/v1/chat/completions",
            {"model": "weather", "messages": [{"role": "tool", "content": "x"}]},
            "messages[0]",
        ),
        (
            "/v1/chat/completions",
            {"model": "weather", "messages": [{"role": "user", "content": "x"}], "n": 2},
            "n",
        ),
    ],
)
def test_bad_body_is_400(served: Served, path: str, body: dict[str, Any], param: str) -> None:
    response = httpx.post(f"{served.url}{path}", json=body)
    assert response.status_code == 400
    error = _error(response)
    assert error["type"] == "invalid_request_error"
    assert error["message"]
    assert param in error["message"] or error["param"] == param


@pytest.mark.parametrize("path", ["/v1/responses", "/v1/chat/completions", "/agui/weather"])
def test_invalid_json_is_400(served: Served, path: str) -> None:
    response = httpx.post(f"{served.url}{path}", content=b"{not json")
    assert response.status_code == 400
    assert _error(response)["code"] == "invalid_json"


@pytest.mark.parametrize("stream", [False, True])
def test_a_failing_run_never_leaks_a_traceback_or_key(served: Served, stream: bool) -> None:
    sdk = client(served)
    if stream:
        events = list(sdk.responses.create(model="broken", input="Hi", stream=True))
        last = events[-1]
        assert last.type == "response.failed"
        assert last.response.error is not None
        message = last.response.error.message
    else:
        with pytest.raises(openai.InternalServerError) as caught:
            sdk.responses.create(model="broken", input="Hi")
        message = str(caught.value.body)
    assert "SECRET" not in message and "sk-" not in message
    assert "Traceback" not in message and 'File "' not in message


def test_a_model_error_is_502_with_exos_message(served: Served) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        client(served).chat.completions.create(
            model="refuser", messages=[{"role": "user", "content": "Hi"}]
        )
    assert caught.value.status_code == 502
    assert caught.value.code == "model_error"
    assert "the provider is down" in caught.value.message


def test_a_chat_stream_that_fails_raises_in_the_sdk(served: Served) -> None:
    stream = client(served).chat.completions.create(
        model="refuser", messages=[{"role": "user", "content": "Hi"}], stream=True
    )
    with pytest.raises(openai.APIError, match="the provider is down"):
        list(stream)
