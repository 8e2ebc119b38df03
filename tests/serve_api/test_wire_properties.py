"""Any sequence of run events makes a well-formed Responses and AG-UI stream (hypothesis).

Each event validates against the official types (openai's ResponseStreamEvent, ag-ui's
Event), sequence numbers count up from 0, every item or message opened is closed once, and the
final Response holds exactly what the deltas said.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pydantic_core
from ag_ui.core import EventType, RunAgentInput
from ag_ui.core.events import Event as AguiEvent
from ag_ui.encoder import EventEncoder
from ag_ui_validate.pytest_plugin import assert_valid_agui
from hypothesis import given, settings
from hypothesis import strategies as st
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from exo.serve._responses import ResponseBuilder
from exo.serve.agui import AguiStream
from exo.types import (
    AssistantMessage,
    PlanCompleteEvent,
    PlanResult,
    ReasoningEvent,
    RunResult,
    StepEvent,
    StreamEvent,
    TextEvent,
    ToolCallEvent,
    ToolResultEvent,
    Usage,
    WarningEvent,
)

RESPONSES: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
AGUI: TypeAdapter[Any] = TypeAdapter(AguiEvent)

text = st.text(min_size=1, max_size=12)
lineage = st.sampled_from([(), ("parent",)])
events = st.lists(
    st.one_of(
        st.builds(TextEvent, agent_name=st.just("a"), text=text, lineage=lineage),
        st.builds(ReasoningEvent, agent_name=st.just("a"), text=text),
        st.builds(
            ToolCallEvent,
            agent_name=st.just("a"),
            tool_call_id=st.sampled_from(["c1", "c2"]),
            tool_name=st.sampled_from(["search", "final_result"]),
            arguments=st.sampled_from(["{}", '{"q": "x"}']),
        ),
        st.builds(
            ToolResultEvent,
            agent_name=st.just("a"),
            tool_call_id=st.sampled_from(["c1", "c2"]),
            tool_name=st.sampled_from(["search", "final_result"]),
            content=text,
        ),
        st.builds(
            StepEvent,
            agent_name=st.just("a"),
            step=st.integers(1, 3),
            status=st.sampled_from(["started", "completed"]),
        ),
        st.builds(
            PlanCompleteEvent,
            agent_name=st.just("a"),
            plan=st.builds(PlanResult, text=st.text(max_size=10), model=st.just("m")),
        ),
        st.builds(WarningEvent, agent_name=st.just("a"), code=st.just("w"), message=text),
    ),
    max_size=25,
)


def _result() -> RunResult[Any]:
    usage = Usage(requests=1, input_tokens=3, output_tokens=2)
    return RunResult(output="done", messages=[AssistantMessage(content="done")], usage=usage)


@settings(max_examples=150, deadline=None)
@given(events, st.booleans())
def test_responses_stream_is_well_formed(run: list[StreamEvent], fails: bool) -> None:
    builder = ResponseBuilder(response_id="resp_1", model="a", echo={})
    out = builder.start()
    for event in run:
        out += builder.feed(event)
    out += builder.fail("it broke") if fails else builder.complete(_result())
    parsed = [RESPONSES.validate_python(json.loads(pydantic_core.to_json(e))) for e in out]
    assert [e.sequence_number for e in parsed] == list(range(len(parsed)))
    final = parsed[-1].response
    Response.model_validate(final.model_dump(mode="json"))
    added = {e.output_index: e.item.id for e in parsed if e.type == "response.output_item.added"}
    done = [(e.output_index, e.item.id) for e in parsed if e.type == "response.output_item.done"]
    assert sorted(done) == sorted(added.items())  # every item opened is closed, once
    assert len(final.output) == len(added)
    deltas = "".join(e.delta for e in parsed if e.type == "response.output_text.delta")
    assert deltas == final.output_text
    top = "".join(e.text for e in run if isinstance(e, TextEvent) and not e.lineage)
    assert deltas == top  # children's text stays out, the agent's all goes in
    assert parsed[-1].type == ("response.failed" if fails else "response.completed")


def _as_exo_streams(run: list[StreamEvent]) -> list[StreamEvent]:
    """The order exo keeps: each call has an id of its own, and a result follows its call
    (once); results of no call are dropped."""
    out: list[StreamEvent] = []
    waiting: list[ToolCallEvent] = []
    for n, event in enumerate(run):
        if isinstance(event, ToolCallEvent):
            event = dataclasses.replace(event, tool_call_id=f"call_{n}")
            waiting.append(event)
        elif isinstance(event, ToolResultEvent):
            if not waiting:
                continue
            call = waiting.pop(0)
            event = dataclasses.replace(
                event, tool_call_id=call.tool_call_id, tool_name=call.tool_name
            )
        out.append(event)
    return out


@settings(max_examples=150, deadline=None)
@given(events.map(_as_exo_streams), st.booleans())
def test_agui_stream_is_well_formed(run: list[StreamEvent], fails: bool) -> None:
    body = RunAgentInput(thread_id="t", run_id="r", messages=[])
    stream = AguiStream(body, EventEncoder())
    out = []
    for event in run:
        handle = None if event.lineage else stream._feeds.get(event.type)
        out += handle(event) if handle is not None else []
    out += stream._close() if fails else stream._finish(_result())
    raw = [json.loads(stream._encode(e)[6:]) for e in out]
    started = {"type": "RUN_STARTED", "threadId": "t", "runId": "r"}
    if not fails:  # an independent conformance validator agrees (a stream cut short is not one)
        assert_valid_agui([started, *raw], max_warnings=0)
    parsed = [AGUI.validate_python(event) for event in raw]
    open_text: str | None = None
    for event in parsed:
        if event.type == EventType.TEXT_MESSAGE_START:
            assert open_text is None
            open_text = event.message_id
        elif event.type == EventType.TEXT_MESSAGE_CONTENT:
            assert event.message_id == open_text
        elif event.type == EventType.TEXT_MESSAGE_END:
            assert event.message_id == open_text
            open_text = None
    assert open_text is None  # every message is closed
    starts = [e.tool_call_id for e in parsed if e.type == EventType.TOOL_CALL_START]
    ends = [e.tool_call_id for e in parsed if e.type == EventType.TOOL_CALL_END]
    assert starts == ends
