"""A refusal and unreported usage say so, the same way on every backend (synthetic bodies).

A refusal completes the run: ``result.finish_reason == "refusal"`` and ``result.refusal``
holds the model's words (or an explanation when the API sends none). Usage a server did not
report is counted in ``Usage.unreported``, never as zero tokens, and the CLI line says
``unknown``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from exo import Agent, OutputTruncated, RunResult, run
from exo._cli_render import usage_line
from exo.models._wire import REFUSED
from exo.types import RunCompleteEvent, Usage
from reliability.fuzzwire import Boundary, build, encode_stream, json_seeds, stream_seeds

WORDS = "I can't help with that."
PROTOCOLS = ["openai", "openai-responses", "anthropic"]


def refusal_json(protocol: str) -> dict[str, Any]:
    doc = json_seeds(protocol)[0]
    if protocol == "openai":
        message = {"role": "assistant", "content": None, "refusal": WORDS}
        doc["choices"] = [{"index": 0, "message": message, "finish_reason": "stop"}]
    elif protocol == "openai-responses":
        part = {"type": "refusal", "refusal": WORDS}
        doc["output"] = [{"type": "message", "id": "m1", "role": "assistant", "content": [part]}]
    else:
        doc["content"] = [{"type": "text", "text": WORDS}]
        doc["stop_reason"] = "refusal"
    return doc


def refusal_events(protocol: str) -> list[Any]:
    if protocol == "openai":
        base = {"id": "c1", "object": "chat.completion.chunk", "model": "m"}

        def piece(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return base | {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

        return [piece({"refusal": "I can't "}), piece({"refusal": "help with that."}),
                piece({}, "stop"), "[DONE]"]  # fmt: skip
    if protocol == "openai-responses":
        final = refusal_json(protocol)
        delta = {"type": "response.refusal.delta", "item_id": "m1", "delta": WORDS}
        return [delta, {"type": "response.completed", "response": final}]
    events = stream_seeds("anthropic")[0]  # text "Hello there, friend." then end_turn
    for event in events:
        if event["type"] == "content_block_delta":
            event["delta"]["text"] = ""
        if event["type"] == "message_delta":
            event["delta"]["stop_reason"] = "refusal"
    events.insert(3, {"type": "content_block_delta", "index": 0,
                      "delta": {"type": "text_delta", "text": WORDS}})  # fmt: skip
    return events


async def results(protocol: str, raw: bool, whole: bytes, streamed: bytes) -> list[RunResult]:
    """The run's result through run() (a whole response) and run.stream() (events)."""
    agent = Agent(name="a", model=f"{protocol}:fuzz-model")
    plain = await run(agent, "do it", provider=build(protocol, raw, Boundary(whole)))
    provider = build(protocol, raw, Boundary(streamed, "text/event-stream"))
    events = [e async for e in run.stream(agent, "do it", provider=provider)]
    assert isinstance(events[-1], RunCompleteEvent)
    return [plain, events[-1].result]


@pytest.mark.parametrize("raw", [True, False], ids=["raw", "sdk"])
async def test_a_refusal_completes_with_its_reason_on_every_backend(raw: bool) -> None:
    seen = []
    for protocol in PROTOCOLS:
        whole = json.dumps(refusal_json(protocol)).encode()
        streamed = encode_stream(protocol, refusal_events(protocol))
        for result in await results(protocol, raw, whole, streamed):
            seen.append((protocol, result.finish_reason, result.refusal, result.output))
    assert seen == [(p, "refusal", WORDS, WORDS) for p in PROTOCOLS for _ in range(2)]


@pytest.mark.parametrize("raw", [True, False], ids=["raw", "sdk"])
async def test_an_anthropic_refusal_without_words_is_explained(raw: bool) -> None:
    doc = refusal_json("anthropic") | {"content": []}
    agent = Agent(name="a", model="anthropic:fuzz-model")
    boundary = Boundary(json.dumps(doc).encode())
    result = await run(agent, "do it", provider=build("anthropic", raw, boundary))
    assert (result.finish_reason, result.refusal, result.output) == ("refusal", REFUSED, "")


async def test_an_ordinary_answer_says_it_stopped_and_carries_no_refusal() -> None:
    body = json.dumps(json_seeds("anthropic")[0]).encode()
    agent = Agent(name="a", model="anthropic:fuzz-model")
    result = await run(agent, "hi", provider=build("anthropic", True, Boundary(body)))
    assert (result.finish_reason, result.refusal) == ("stop", None)


def without_usage(protocol: str) -> tuple[bytes, bytes]:
    doc = json_seeds(protocol)[0]
    events = stream_seeds(protocol)[0]
    if protocol == "anthropic":
        doc.pop("usage")
        for event in events:
            event.get("message", {}).pop("usage", None)
            event.pop("usage", None)
    elif protocol == "openai-responses":
        doc["usage"] = None
        events[-1]["response"]["usage"] = None
    else:
        doc.pop("usage")
        events = [e for e in events if e == "[DONE]" or e.get("choices")]
        for event in events:
            if event != "[DONE]":
                event.pop("usage", None)
    return json.dumps(doc).encode(), encode_stream(protocol, events)


@pytest.mark.parametrize("raw", [True, False], ids=["raw", "sdk"])
@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_usage_the_server_did_not_report_is_unknown_not_zero(
    protocol: str, raw: bool
) -> None:
    whole, streamed = without_usage(protocol)
    for result in await results(protocol, raw, whole, streamed):
        assert result.output == "Hello there, friend."
        assert result.usage == Usage(requests=1, unreported=1)
        assert not result.usage.known
        assert usage_line(result).startswith("tokens: execute unknown · total unknown (1 request")


def test_unreported_usage_survives_addition_and_the_line_marks_a_lower_bound() -> None:
    known = Usage(requests=2, input_tokens=10, output_tokens=5)
    total = known + Usage(requests=1, unreported=1)
    assert (total.requests, total.unreported, total.total_tokens) == (3, 1, 15)
    result = RunResult(output="", messages=[], usage=total, execute_usage=total)
    assert usage_line(result) == (
        "tokens: execute 15+ · total 15+ (10 in, 5 out; 3 requests, 1 without reported usage)"
    )


async def test_a_truncated_answer_says_length_on_the_partial_result() -> None:
    doc = json_seeds("openai")[0]
    doc["choices"][0]["finish_reason"] = "length"
    agent = Agent(name="a", model="openai:fuzz-model")
    boundary = Boundary(json.dumps(doc).encode())
    with pytest.raises(OutputTruncated) as caught:
        await run(agent, "hi", provider=build("openai", True, boundary))
    assert (caught.value.result.finish_reason, caught.value.result.refusal) == ("length", None)
