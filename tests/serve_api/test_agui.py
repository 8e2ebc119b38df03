"""``POST /agui/{agent}``: a client parsing the stream with the ag-ui-protocol types."""

from __future__ import annotations

import json
from typing import Any

import httpx2 as httpx
from ag_ui.core import (
    AssistantMessage,
    EventType,
    FunctionCall,
    RunAgentInput,
    RunFinishedEvent,
    StateSnapshotEvent,
    ToolCall,
    ToolCallResultEvent,
    ToolMessage,
    UserMessage,
)
from ag_ui.core.events import Event
from ag_ui_validate.pytest_plugin import assert_valid_agui
from pydantic import TypeAdapter
from tests.serve_api.conftest import Served
from tests.serve_api.support import PLAN, sse_data

from exo.types import AssistantMessage as ExoAssistant
from exo.types import ToolResult

EVENTS: TypeAdapter[Any] = TypeAdapter(Event)


def run_agent(
    served: Served, agent: str, body: RunAgentInput, features: tuple[str, ...] = ()
) -> list[Any]:
    """POST the input, check the stream with an independent AG-UI conformance validator, and
    parse every event of it as an AG-UI event."""
    payload = body.model_dump(by_alias=True, exclude_none=True)
    with httpx.stream("POST", f"{served.url}/agui/{agent}", json=payload, timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = [json.loads(data) for _, data in sse_data(response)]
    assert_valid_agui(raw, features=list(features), max_warnings=0)
    return [EVENTS.validate_python(event) for event in raw]


def test_a_run_streams_plan_steps_tools_and_text(served: Served) -> None:
    body = RunAgentInput(
        thread_id="t1",
        run_id="r1",
        state={"user": "ada"},
        messages=[UserMessage(id="u1", content="Weather in Paris?")],
    )
    events = run_agent(served, "weather", body, ("backend-tool-rendering", "shared-state"))
    kinds = [e.type for e in events]
    contents = kinds.count(EventType.TEXT_MESSAGE_CONTENT)
    assert contents > 1
    assert kinds == [
        EventType.RUN_STARTED,
        EventType.STEP_STARTED,  # plan
        EventType.STATE_SNAPSHOT,
        EventType.STEP_FINISHED,
        EventType.STEP_STARTED,  # step 1
        EventType.TOOL_CALL_START,
        EventType.TOOL_CALL_ARGS,
        EventType.TOOL_CALL_END,
        EventType.TOOL_CALL_RESULT,
        EventType.STEP_FINISHED,
        EventType.STEP_STARTED,  # step 2
        EventType.TEXT_MESSAGE_START,
        *[EventType.TEXT_MESSAGE_CONTENT] * contents,
        EventType.TEXT_MESSAGE_END,
        EventType.STEP_FINISHED,
        EventType.RUN_FINISHED,
    ]
    steps = [e.step_name for e in events if e.type == EventType.STEP_STARTED]
    assert steps == ["plan", "step 1", "step 2"]
    snapshot = next(e for e in events if isinstance(e, StateSnapshotEvent))
    assert snapshot.snapshot == {"user": "ada", "plan": PLAN}
    start = next(e for e in events if e.type == EventType.TOOL_CALL_START)
    args = next(e for e in events if e.type == EventType.TOOL_CALL_ARGS)
    result = next(e for e in events if isinstance(e, ToolCallResultEvent))
    assert start.tool_call_name == "get_weather" and json.loads(args.delta) == {"city": "Paris"}
    assert result.tool_call_id == start.tool_call_id and result.content == "sunny"
    text = "".join(e.delta for e in events if e.type == EventType.TEXT_MESSAGE_CONTENT)
    assert text == "It is sunny in Paris."
    finished = events[-1]
    assert isinstance(finished, RunFinishedEvent)
    assert (finished.thread_id, finished.run_id) == ("t1", "r1")
    assert finished.result == "It is sunny in Paris."
    assert finished.usage and finished.usage[0].total_tokens and finished.usage[0].total_tokens > 0


def test_reasoning_streams_as_reasoning_events(served: Served) -> None:
    body = RunAgentInput(thread_id="t", run_id="r", messages=[UserMessage(id="u", content="Sky?")])
    kinds = [e.type for e in run_agent(served, "thinker", body)]
    first = kinds.index(EventType.REASONING_START)
    assert kinds[first : first + 5] == [
        EventType.REASONING_START,
        EventType.REASONING_MESSAGE_START,
        EventType.REASONING_MESSAGE_CONTENT,
        EventType.REASONING_MESSAGE_CONTENT,
        EventType.REASONING_MESSAGE_END,
    ]
    assert kinds.count(EventType.REASONING_END) == kinds.count(EventType.REASONING_START) == 2


def test_the_thread_history_reaches_the_model(served: Served) -> None:
    body = RunAgentInput(
        thread_id="t",
        run_id="r2",
        messages=[
            UserMessage(id="u1", content="Weather in Paris?"),
            AssistantMessage(
                id="a1",
                tool_calls=[
                    ToolCall(id="call_9", function=FunctionCall(name="get_weather", arguments="{}"))
                ],
            ),
            ToolMessage(id="t1", tool_call_id="call_9", content="rainy"),
            AssistantMessage(id="a2", content="It is rainy in Paris."),
            UserMessage(id="u2", content="And now?"),
        ],
        context=[{"description": "Units", "value": "metric"}],  # type: ignore[list-item]
    )
    events = run_agent(served, "weather", body)
    assert events[-1].type == EventType.RUN_FINISHED
    request = served.models["weather"].requests[-1]
    assert request.messages[0].content == "You report the weather.\n\nUnits: metric"
    results = [m for m in request.messages if isinstance(m, ToolResult)]
    assert (results[0].tool_call_id, results[0].tool_name, results[0].content) == (
        "call_9",
        "get_weather",
        "rainy",
    )
    answers = [m.content for m in request.messages if isinstance(m, ExoAssistant)]
    assert "It is rainy in Paris." in answers


def test_a_failing_run_ends_with_run_error(served: Served) -> None:
    body = RunAgentInput(thread_id="t", run_id="r", messages=[UserMessage(id="u", content="Hi")])
    events = run_agent(served, "refuser", body)
    kinds = [e.type for e in events]
    assert kinds == [EventType.RUN_STARTED, EventType.STEP_STARTED, EventType.RUN_ERROR]
    assert "the provider is down" in events[-1].message
    assert events[-1].code == "model_error"


def test_unknown_agent_and_bad_input_are_json_errors(served: Served) -> None:
    user = {"id": "u", "role": "user", "content": "x"}
    good = {"threadId": "t", "runId": "r", "messages": [user]}
    missing = httpx.post(f"{served.url}/agui/nobody", json=good)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "model_not_found"
    bad = httpx.post(f"{served.url}/agui/weather", json={"threadId": "t"})
    assert bad.status_code == 400
    assert bad.json()["error"]["type"] == "invalid_request_error"
    no_task = {**good, "messages": [{"id": "a", "role": "assistant", "content": "x"}]}
    assert httpx.post(f"{served.url}/agui/weather", json=no_task).status_code == 400


def test_a_run_that_pauses_for_approval_ends_with_run_error(served: Served) -> None:
    body = RunAgentInput(thread_id="t", run_id="r", messages=[UserMessage(id="u", content="Hi")])
    events = run_agent(served, "approver", body)
    assert events[-1].type == EventType.RUN_ERROR
    assert events[-1].code == "approval_required"
    assert EventType.TOOL_CALL_START in [e.type for e in events]
