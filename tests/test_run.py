"""End-to-end behaviour of the loop through run, run.stream and run.sync."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncGenerator
from dataclasses import replace

import pytest

from exo import (
    Agent,
    AgentError,
    ConfigError,
    MaxStepsExceeded,
    ModelError,
    OutputTruncated,
    run,
)
from exo._retry import RetryPolicy
from exo.models.base import ModelChunk, ModelRequest, ModelResponse, Provider, TextDelta
from exo.testing import FunctionModel, ScriptedModel, call
from exo.types import (
    AssistantMessage,
    ErrorEvent,
    ImageBlock,
    Message,
    RunCompleteEvent,
    StreamEvent,
    SystemMessage,
    TextBlock,
    ToolCall,
    ToolResult,
    Usage,
    UserMessage,
)


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


AGENT = Agent(name="calc", model="test:m", instructions="You add.", tools=[add])


def script() -> list[object]:
    return [
        ToolCall(id="c1", name="add", arguments='{"a": 1, "b": 2}'),
        [
            ToolCall(id="c2", name="add", arguments='{"a": 3, "b": 4}'),
            ToolCall(id="c3", name="add", arguments='{"a": 5, "b": 6}'),
        ],
        "The answers are 3, 7 and 11.",
    ]


async def collect(agent: Agent, task: object, **kw: object) -> list[StreamEvent]:
    return [e async for e in run.stream(agent, task, **kw)]  # type: ignore[arg-type]


async def test_tool_rounds_give_an_honest_result() -> None:
    model = ScriptedModel(script())  # type: ignore[arg-type]
    result = await run(AGENT, "Add some numbers", provider=model)
    assert result.output == "The answers are 3, 7 and 11."
    assert result.steps == 3
    assert result.usage.requests == 3
    assert result.usage == result.execute_usage
    assert result.usage.input_tokens > 0 and result.usage.output_tokens > 0
    assert [type(m).__name__ for m in result.messages] == [
        "SystemMessage",
        "UserMessage",
        "AssistantMessage",
        "ToolResult",
        "AssistantMessage",
        "ToolResult",
        "ToolResult",
        "AssistantMessage",
    ]
    assert [m.content for m in result.messages if isinstance(m, ToolResult)] == ["3", "7", "11"]
    assert result.new_messages == result.messages[1:]
    # the model saw the growing transcript each time
    assert [len(r.messages) for r in model.requests] == [2, 4, 7]
    assert [t.name for t in model.requests[0].tools] == ["add"]


async def test_stream_and_run_return_the_same_result() -> None:
    r1 = await run(AGENT, "Add", provider=ScriptedModel(script()))  # type: ignore[arg-type]
    events = await collect(AGENT, "Add", provider=ScriptedModel(script()))  # type: ignore[arg-type]
    final = events[-1]
    assert isinstance(final, RunCompleteEvent)
    assert final.result == r1
    text = "".join(e.text for e in events if e.type == "text")
    assert text == r1.output
    assert len([e for e in events if e.type == "text"]) == 3  # streamed in pieces


async def test_default_stream_events_in_order() -> None:
    events = await collect(AGENT, "Add", provider=ScriptedModel(script()))  # type: ignore[arg-type]
    kinds = [e.type for e in events]
    assert kinds == [
        "tool_call",
        "tool_result",
        "tool_call",
        "tool_call",
        "tool_result",
        "tool_result",
        "text",
        "text",
        "text",
        "run_complete",
    ]


async def test_detailed_stream_events_in_order() -> None:
    model = ScriptedModel([ToolCall(id="c1", name="add", arguments='{"a": 1, "b": 2}'), "3"])
    events = await collect(AGENT, "Add", provider=model, detailed=True)
    assert [e.type for e in events] == [
        "run_start",
        "step",
        "usage",
        "tool_call",
        "tool_result",
        "step",
        "step",
        "text",
        "usage",
        "step",
        "run_complete",
    ]
    assert all(e.agent_name == "calc" for e in events)


async def test_max_steps_raises_with_partial_result() -> None:
    agent = AGENT.replace(max_steps=3)
    model = FunctionModel(lambda msgs, info: call("add", a=1, b=1))
    with pytest.raises(MaxStepsExceeded) as err:
        await run(agent, "loop forever", provider=model)
    assert len(model.requests) == 3
    partial = err.value.result
    assert partial.steps == 3 and partial.usage.requests == 3
    assert sum(isinstance(m, ToolResult) for m in partial.messages) == 3
    assert "used all 3 steps" in str(err.value)

    stream_model = FunctionModel(lambda msgs, info: call("add", a=1, b=1))
    events: list[StreamEvent] = []
    with pytest.raises(MaxStepsExceeded):
        async for e in run.stream(agent, "loop forever", provider=stream_model):
            events.append(e)
    assert len(stream_model.requests) == 3
    assert isinstance(events[-1], ErrorEvent) and events[-1].error_type == "MaxStepsExceeded"


async def test_length_finish_is_never_a_silent_answer() -> None:
    cut = ModelResponse(
        message=AssistantMessage(content="The answer is"),
        usage=Usage(requests=1, output_tokens=3),
        finish_reason="length",
    )
    with pytest.raises(OutputTruncated) as err:
        await run(AGENT, "x", provider=ScriptedModel([cut]))
    assert err.value.result.output == "The answer is"
    assert "max_tokens" in str(err.value)


async def test_malformed_tool_call_is_reported_and_the_run_goes_on() -> None:
    model = ScriptedModel([call("add", '{"a": 1, "b"'), call("add", a=1, b=2), "3"])
    result = await run(AGENT, "Add", provider=model)
    assert result.output == "3"
    first = result.messages[3]
    assert isinstance(first, ToolResult) and first.is_error
    assert "not valid JSON" in str(first.content)
    assert model.requests[1].messages[-1] == first  # the model saw the error


async def test_model_errors_propagate_from_every_entry_point() -> None:
    err = ModelError("bad request", backend="test", model="m", status=400)
    with pytest.raises(ModelError, match="HTTP 400"):
        await run(AGENT, "x", provider=ScriptedModel([err]))
    with pytest.raises(ModelError):
        await collect(AGENT, "x", provider=ScriptedModel([err]))


async def test_retryable_errors_are_retried_by_one_layer() -> None:
    slept: list[float] = []

    async def fake_sleep(s: float) -> None:
        slept.append(s)

    flaky = ModelError(
        "overloaded", backend="test", model="m", status=529, retryable=True, retry_after=2.0
    )
    model = ScriptedModel([flaky, flaky, "ok"])
    policy = RetryPolicy(max_retries=2, sleep=fake_sleep)
    result = await run(AGENT, "x", provider=model, retry=policy)
    assert result.output == "ok" and len(model.requests) == 3
    assert len(slept) == 2 and all(s >= 2.0 for s in slept)
    with pytest.raises(ModelError):
        await run(AGENT, "x", provider=ScriptedModel([flaky, flaky, flaky, "ok"]), retry=policy)


class SlowStream:
    """A provider that streams forever, recording whether its stream was closed."""

    backend = "test"
    model = "slow"

    def __init__(self) -> None:
        self.closed = 0
        self.started = 0

    async def complete(self, request: ModelRequest) -> ModelResponse:
        await asyncio.sleep(3600)
        raise AssertionError

    async def stream(self, request: ModelRequest) -> AsyncGenerator[ModelChunk, None]:
        self.started += 1
        try:
            while True:
                yield TextDelta(text="tick ")
                await asyncio.sleep(0.001)
        finally:
            self.closed += 1

    def with_model(self, model: str) -> Provider:
        return self

    async def aclose(self) -> None:
        pass


async def test_leaving_the_stream_early_closes_the_model_stream() -> None:
    provider = SlowStream()
    before = asyncio.all_tasks()
    async with __import__("contextlib").aclosing(run.stream(AGENT, "x", provider=provider)) as s:
        n = 0
        async for _ in s:
            n += 1
            if n == 3:
                break
    assert provider.started == 1 and provider.closed == 1
    assert asyncio.all_tasks() == before


async def test_cancelling_run_cancels_running_tools() -> None:
    started = asyncio.Event()
    cancelled: list[str] = []

    async def wait_forever(name: str) -> str:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.append(name)
            raise
        return name

    agent = Agent(name="w", model="test:m", tools=[wait_forever])
    model = ScriptedModel([[call("wait_forever", name="a"), call("wait_forever", name="b")]])
    before = asyncio.all_tasks()
    task = asyncio.create_task(run(agent, "x", provider=model))
    await asyncio.wait_for(started.wait(), 2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(cancelled) == ["a", "b"]
    await asyncio.sleep(0)
    assert asyncio.all_tasks() == before


def test_run_sync_in_a_script_and_inside_a_loop() -> None:
    result = run.sync(AGENT, "x", provider=ScriptedModel(["hi"]))
    assert result.output == "hi"

    async def inside() -> None:
        with pytest.raises(AgentError, match="inside a running event loop"):
            run.sync(AGENT, "x", provider=ScriptedModel(["hi"]))

    asyncio.run(inside())


async def test_unknown_backend_is_an_agent_error_at_run_time() -> None:
    agent = Agent(name="a", model="nosuch:model")  # construction is fine
    with pytest.raises(AgentError, match=r"no backend 'nosuch' \(known: anthropic, .*openai"):
        await run(agent, "x")


async def test_bad_input_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="input must be a string or a list of content blocks"):
        await run(AGENT, 42, provider=ScriptedModel(["x"]))  # type: ignore[arg-type]


@pytest.mark.parametrize("empty", [[], (), b""])
async def test_empty_block_input_is_a_config_error(empty: object) -> None:
    model = ScriptedModel(["x"])
    with pytest.raises(ConfigError, match="input must be a string or a list of content blocks"):
        await run(AGENT, empty, provider=model)  # type: ignore[arg-type]
    assert model.requests == []


async def test_content_block_input_reaches_the_model() -> None:
    model = ScriptedModel(["a cat"])
    blocks = [TextBlock(text="What is this?"), ImageBlock(url="https://example.com/cat.png")]
    result = await run(AGENT, blocks, provider=model)
    assert model.requests[0].messages[-1] == UserMessage(content=blocks)
    assert result.new_messages[0] == UserMessage(content=blocks)


async def test_callable_instructions_sync_and_async() -> None:
    async def instructions(agent: Agent) -> str:
        return f"You are {agent.name}."

    model = ScriptedModel(["ok", "ok"])
    await run(AGENT.replace(instructions=instructions), "x", provider=model)
    await run(AGENT.replace(instructions=lambda: "Static."), "x", provider=model)
    assert model.requests[0].messages[0] == SystemMessage(content="You are calc.")
    assert model.requests[1].messages[0] == SystemMessage(content="Static.")


async def test_history_messages_are_continued() -> None:
    history: list[Message] = [UserMessage(content="Hi"), AssistantMessage(content="Hello!")]
    model = ScriptedModel(["Again?"])
    result = await run(AGENT, "Hi again", provider=model, messages=history)
    assert model.requests[0].messages[1:3] == history
    assert result.new_messages == [
        UserMessage(content="Hi again"),
        AssistantMessage(content="Again?"),
    ]


async def test_one_agent_serves_concurrent_runs_without_sharing_state() -> None:
    def reply(msgs: list[Message], info: object) -> str:
        return f"echo {msgs[-1].content}"

    model = FunctionModel(reply)
    results = await asyncio.gather(*(run(AGENT, f"task {i}", provider=model) for i in range(50)))
    assert [r.output for r in results] == [f"echo task {i}" for i in range(50)]
    assert all(len(r.messages) == 3 for r in results)


async def test_settings_reach_the_model() -> None:
    model = ScriptedModel(["ok"])
    await run(replace(AGENT, temperature=0.2, max_tokens=50), "x", provider=model)
    assert model.requests[0].settings.temperature == 0.2
    assert model.requests[0].settings.max_tokens == 50
    assert model.requests[0].agent_name == "calc"


async def test_window_max_tokens_bounds_what_each_request_sends() -> None:
    agent = AGENT.replace(window_max_tokens=60, max_steps=20)
    model = FunctionModel(lambda msgs, info: call("add", a=1, b=2))
    with pytest.raises(MaxStepsExceeded) as err:
        await run(agent, "Add forever " + "x" * 40, provider=model)
    full = err.value.result.messages
    assert len(full) == 2 + 2 * 20  # the transcript itself stays whole
    last = model.requests[-1].messages
    assert len(last) < len(full)
    assert last[0] == full[0]  # the system prompt never moves
    for i, m in enumerate(last):  # no tool result without its call
        if isinstance(m, ToolResult):
            assert any(
                isinstance(p, AssistantMessage)
                and any(c.id == m.tool_call_id for c in p.tool_calls)
                for p in last[:i]
            )


async def test_run_state_is_plain_serializable_data() -> None:
    from exo._state import RunState

    seen: list[RunState] = []

    from exo import ToolContext

    def snapshot(ctx: ToolContext) -> str:
        """Snapshot the run."""
        seen.append(RunState.from_json(ctx.state.to_json()))
        return "ok"

    agent = Agent(name="s", model="test:m", tools=[snapshot], planning_enabled=True)
    model = ScriptedModel({"s_planner": ["1. snapshot"], "s": [call("snapshot"), "done"]})
    result = await run(agent, [TextBlock(text="go")], provider=model)
    (state,) = seen
    assert state.agent_name == "s" and state.steps == 1
    assert state.plan is not None and state.plan.text == "1. snapshot"
    assert state.messages == result.messages[: len(state.messages)]
    assert state.original_input == UserMessage(content=[TextBlock(text="go")])


async def test_events_a_sync_tool_emits_reach_the_stream_while_it_runs() -> None:
    from exo import ToolContext
    from exo.types import StepEvent

    seen = threading.Event()

    def slow(ctx: ToolContext) -> str:
        """Report progress, then wait until the caller has seen it."""
        time.sleep(0.1)  # let the event loop go idle first: then only a wake-up reaches it
        ctx.emit(StepEvent(agent_name="progress", step=1, status="started"))
        return "acknowledged" if seen.wait(timeout=5) else "never seen"

    agent = Agent(name="p", model="test:m", tools=[slow])
    model = ScriptedModel({"p": [call("slow"), "done"]})
    results = []
    async for event in run.stream(agent, "go", provider=model, detailed=True):
        if isinstance(event, StepEvent) and event.agent_name == "progress":
            seen.set()
        if isinstance(event, RunCompleteEvent):
            results = [m for m in event.result.messages if isinstance(m, ToolResult)]
    assert [r.content for r in results] == ["acknowledged"]
