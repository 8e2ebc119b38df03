"""How exo messages become a Messages API request body, checked on the body the SDK sent.

The responses here are synthetic fixtures (a minimal valid Messages API reply).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx2
import pytest

from exo.models.anthropic import AnthropicProvider
from exo.models.base import ModelRequest, ModelSettings, ToolSpec
from exo.types import (
    AssistantMessage,
    DocumentBlock,
    ImageBlock,
    Message,
    ReasoningBlock,
    SystemMessage,
    TextBlock,
    ToolCall,
    ToolResult,
    UserMessage,
)

PATHS = pytest.mark.parametrize("raw", [True, False], ids=["raw", "sdk"])

REPLY = {
    "id": "msg_fixture",
    "type": "message",
    "role": "assistant",
    "model": "claude-fixture",
    "content": [{"type": "text", "text": "ok"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 3, "output_tokens": 1},
}


async def sent_body(
    messages: list[Message],
    *,
    raw: bool = True,
    model: str = "claude-test",
    tools: list[ToolSpec] | None = None,
    settings: ModelSettings | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Make one call through the SDK and return the JSON body it put on the wire."""
    bodies: list[dict[str, Any]] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        bodies.append(json.loads(request.content))
        return httpx2.Response(200, json=REPLY)

    client = httpx2.AsyncClient(transport=httpx2.MockTransport(handler))
    provider = AnthropicProvider(model, api_key="k", http_client=client, raw=raw, **options)
    request = ModelRequest(
        messages=messages, tools=tools or [], settings=settings or ModelSettings()
    )
    response = await provider.complete(request)
    assert response.message.content == "ok"
    await provider.aclose()
    (body,) = bodies
    return body


@PATHS
async def test_every_system_message_reaches_system_in_order(raw: bool) -> None:
    body = await sent_body(
        [
            SystemMessage(content="You are terse."),
            UserMessage(content="Plan a trip."),
            AssistantMessage(content="Where to?"),
            UserMessage(content="Lisbon."),
            SystemMessage(content="Planner output:\n1. book a flight"),
        ],
        raw=raw,
    )
    assert body["system"] == [
        {"type": "text", "text": "You are terse."},
        {"type": "text", "text": "Planner output:\n1. book a flight"},
    ]
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert "system" not in json.dumps(body["messages"])


async def test_no_system_field_without_system_messages() -> None:
    body = await sent_body([UserMessage(content="hi")])
    assert "system" not in body
    assert body["messages"] == [{"role": "user", "content": "hi"}]


@PATHS
async def test_consecutive_tool_results_merge_into_one_user_message(raw: bool) -> None:
    calls = [
        ToolCall(id="toolu_1", name="look", arguments='{"q": "a"}'),
        ToolCall(id="toolu_2", name="shot", arguments="{}"),
    ]
    image = ImageBlock(data="aGVsbG8=", media_type="image/jpeg")
    body = await sent_body(
        [
            UserMessage(content="go"),
            AssistantMessage(content="Looking.", tool_calls=calls),
            ToolResult(tool_call_id="toolu_1", tool_name="look", content="boom", is_error=True),
            ToolResult(
                tool_call_id="toolu_2", tool_name="shot", content=[TextBlock(text="x"), image]
            ),
            UserMessage(content="and then?"),
        ],
        raw=raw,
    )
    assert len(body["messages"]) == 3
    assistant, results = body["messages"][1], body["messages"][2]
    assert assistant["content"] == [
        {"type": "text", "text": "Looking."},
        {"type": "tool_use", "id": "toolu_1", "name": "look", "input": {"q": "a"}},
        {"type": "tool_use", "id": "toolu_2", "name": "shot", "input": {}},
    ]
    assert results == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "boom", "is_error": True},
            {
                "type": "tool_result",
                "tool_use_id": "toolu_2",
                "content": [
                    {"type": "text", "text": "x"},
                    {
                        "type": "image",
                        "source": {
                            "type": "base64",
                            "media_type": "image/jpeg",
                            "data": "aGVsbG8=",
                        },
                    },
                ],
            },
            {"type": "text", "text": "and then?"},
        ],
    }


@PATHS
async def test_malformed_tool_arguments_are_sent_as_an_empty_object(raw: bool) -> None:
    calls = [
        ToolCall(id="t1", name="f", arguments='{"city": "Par'),
        ToolCall(id="t2", name="f", arguments="[1, 2]"),
        ToolCall(id="t3", name="f", arguments=""),
        ToolCall(id="t4", name="f", arguments='{"city": "Paris"}'),
    ]
    body = await sent_body(
        [
            UserMessage(content="go"),
            AssistantMessage(tool_calls=calls),
            *[ToolResult(tool_call_id=c.id, tool_name="f", content="bad") for c in calls],
        ],
        raw=raw,
    )
    inputs = [b["input"] for b in body["messages"][1]["content"]]
    assert inputs == [{}, {}, {}, {"city": "Paris"}]


async def test_consecutive_user_messages_merge() -> None:
    body = await sent_body(
        [UserMessage(content="one"), UserMessage(content=[TextBlock(text="two")])]
    )
    assert body["messages"] == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}],
        }
    ]


async def test_reasoning_goes_back_only_to_anthropic_and_verbatim() -> None:
    reasoning = [
        ReasoningBlock(text="mine", signature="sig==", provider="anthropic"),
        ReasoningBlock(redacted=True, encrypted="opaque", provider="anthropic"),
        ReasoningBlock(text="theirs", encrypted="enc", provider="openai-responses"),
        ReasoningBlock(text="unsigned", provider="anthropic"),
    ]
    body = await sent_body(
        [
            UserMessage(content="q"),
            AssistantMessage(content="a", reasoning=reasoning),
            UserMessage(content="q2"),
        ]
    )
    assert body["messages"][1]["content"] == [
        {"type": "thinking", "thinking": "mine", "signature": "sig=="},
        {"type": "redacted_thinking", "data": "opaque"},
        {"type": "text", "text": "a"},
    ]


async def test_empty_assistant_turn_is_dropped() -> None:
    body = await sent_body([UserMessage(content="a"), AssistantMessage(), UserMessage(content="b")])
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}
    ]


async def test_images_and_documents() -> None:
    pdf = base64.b64encode(b"%PDF-1.4").decode()
    note = base64.b64encode(b"plain words").decode()
    body = await sent_body(
        [
            UserMessage(
                content=[
                    ImageBlock(url="https://example.com/a.png"),
                    DocumentBlock(data=pdf, title="Spec"),
                    DocumentBlock(url="https://example.com/b.pdf"),
                    DocumentBlock(data=note, media_type="text/plain"),
                ]
            )
        ]
    )
    assert body["messages"][0]["content"] == [
        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": pdf},
            "title": "Spec",
        },
        {"type": "document", "source": {"type": "url", "url": "https://example.com/b.pdf"}},
        {
            "type": "document",
            "source": {"type": "text", "media_type": "text/plain", "data": "plain words"},
        },
    ]


@PATHS
async def test_tools_settings_and_extra_fields(raw: bool) -> None:
    schema = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}
    body = await sent_body(
        [UserMessage(content="hi")],
        raw=raw,
        tools=[ToolSpec(name="search", description="Search the web.", parameters=schema)],
        settings=ModelSettings(temperature=0.25, max_tokens=321),
        thinking={"type": "adaptive"},
        extra_body={"tool_choice": {"type": "any"}, "metadata": {"user_id": "u1"}},
    )
    assert body["tools"] == [
        {"name": "search", "description": "Search the web.", "input_schema": schema}
    ]
    assert (body["temperature"], body["max_tokens"]) == (0.25, 321)
    assert body["thinking"] == {"type": "adaptive"}
    assert body["tool_choice"] == {"type": "any"}
    assert body["metadata"] == {"user_id": "u1"}
    assert "stream" not in body or body["stream"] is False


@pytest.mark.parametrize(
    ("model", "options", "expected"),
    [
        ("claude-test", {}, 8192),
        ("claude-3-haiku-20240307", {}, 4096),
        ("claude-3-5-haiku-latest", {}, 8192),
        ("claude-test", {"max_tokens": 2000}, 2000),
    ],
)
async def test_max_tokens_is_always_sent(
    model: str, options: dict[str, Any], expected: int
) -> None:
    body = await sent_body([UserMessage(content="hi")], model=model, **options)
    assert body["max_tokens"] == expected
    assert body["model"] == model
    assert "temperature" not in body


@PATHS
async def test_a_typed_answer_with_thinking_on_is_asked_for_in_words(raw: bool) -> None:
    """The API refuses a forced tool_choice with thinking: the tool is offered, not forced."""
    from pydantic import BaseModel

    from exo.output import build_output

    class Answer(BaseModel):
        value: int

    output = build_output(Answer, 1)
    assert output is not None
    bodies: list[dict[str, Any]] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        bodies.append(json.loads(request.content))
        return httpx2.Response(200, json=REPLY)

    client = httpx2.AsyncClient(transport=httpx2.MockTransport(handler))
    provider = AnthropicProvider(
        "claude-test", api_key="k", http_client=client, raw=raw, thinking={"type": "adaptive"}
    )
    request = ModelRequest(
        messages=[SystemMessage(content="Be exact."), UserMessage(content="7?")],
        output=output.spec,
    )
    await provider.complete(request)
    await provider.aclose()
    (body,) = bodies
    assert "tool_choice" not in body
    assert body["tools"] == [
        {
            "name": "final_result",
            "description": output.spec.description,
            "input_schema": output.spec.schema,
        }
    ]
    assert body["system"][0] == {"type": "text", "text": "Be exact."}  # the prefix stays
    assert "calling the final_result tool" in body["system"][-1]["text"]
