"""Whose span is current where: a tool's own spans nest under ``execute_tool``; a consumer of
``run.stream`` never finds exo's span current; with no provider the run is not traced at all."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import time

from opentelemetry import trace
from opentelemetry.trace import StatusCode

from exo import Agent, ToolError, run
from exo.models.base import ModelResponse
from exo.testing import AgentInfo, FunctionModel, call
from exo.tracing import tracer_for_run
from exo.types import AssistantMessage, Message, Usage
from tracing.conftest import Spans, attributes


def _turns(*turns: object) -> FunctionModel:
    """A model that answers with ``turns`` in order, then "done" (children: "child done")."""
    script = list(turns)

    def reply(messages: list[Message], info: AgentInfo) -> object:
        if "_child_" in info.agent_name:
            return "child done"
        return script.pop(0) if script else "done"

    return FunctionModel(reply)


async def test_a_users_span_in_a_tool_nests_under_execute_tool(spans: Spans) -> None:
    user = spans.provider.get_tracer("user")

    async def fetch(url: str) -> str:
        """Fetch a page."""
        with user.start_as_current_span(f"GET {url}"):
            await asyncio.sleep(0)
            return "page"

    def parse(text: str) -> str:
        """Parse a page (sync: runs in a worker thread)."""
        with user.start_as_current_span("parse"):
            time.sleep(0.001)
            return "parsed"

    model = _turns([call("fetch", url="a"), call("fetch", url="b"), call("parse", text="x")])
    agent = Agent(name="u", model="test:x", tools=[fetch, parse])
    await run(agent, "go", provider=model)
    for name, parent in (("GET a", "fetch"), ("GET b", "fetch"), ("parse", "parse")):
        [span] = spans.named(name)
        owner = spans.parent_of(span)
        assert owner is not None and owner.name == f"execute_tool {parent}"
    # each fetch under its own call's span (the two ran concurrently)
    owners = {spans.parent_of(spans.one(n)) for n in ("GET a", "GET b")}
    assert len(owners) == 2


async def test_a_stream_consumer_never_sees_exos_span(spans: Spans) -> None:
    model = _turns(call("spawn_self", tasks=["one", "two"]))
    agent = Agent(name="s", model="test:x", allow_self_spawn=True)
    mine = spans.provider.get_tracer("consumer")
    seen: list[object] = []
    with mine.start_as_current_span("consumer") as own:
        async for event in run.stream(agent, "go", provider=model, detailed=True):
            seen.append(event.type)
            assert trace.get_current_span() is own, event
            await asyncio.sleep(0)
            assert trace.get_current_span() is own, event
        assert trace.get_current_span() is own
    assert trace.get_current_span() is trace.INVALID_SPAN
    assert "tool_result" in seen and seen[-1] == "run_complete"
    root = spans.one("invoke_agent s")
    assert spans.parent_of(root) is spans.one("consumer")  # the run nests under the caller


async def test_leaving_a_stream_early_ends_every_span(spans: Spans) -> None:
    model = _turns(call("spawn_self", tasks=["one"]))
    agent = Agent(name="s", model="test:x", allow_self_spawn=True)
    stream = run.stream(agent, "go", provider=model, detailed=True)
    async for event in stream:
        if event.lineage:  # the child is running: its spans and the tool's are open
            break
    await stream.aclose()
    assert trace.get_current_span() is trace.INVALID_SPAN
    names = {s.name for s in spans.all}  # only ended spans are exported
    assert {"invoke_agent s", "execute_tool spawn_self", "invoke_agent s_child_1"} <= names
    root = spans.one("invoke_agent s")
    assert root.status.status_code is StatusCode.UNSET  # leaving is not a failure
    assert attributes(root)["exo.run.status"] == "cancelled"


async def test_tool_failures_are_typed(spans: Spans) -> None:
    def strict(n: int) -> str:
        """Refuse."""
        raise ToolError("no")

    calls = [
        call("nope"),
        call("strict", n="not a number"),
        call("strict", n=1),
    ]
    await run(Agent(name="t", model="test:x", tools=[strict]), "go", provider=_turns(calls))
    types = {
        attributes(s)["gen_ai.tool.call.id"]: attributes(s)["error.type"]
        for s in spans.all
        if s.name.startswith("execute_tool")
    }
    assert types == {
        calls[0].id: "unknown_tool",
        calls[1].id: "invalid_arguments",
        calls[2].id: "exo.errors.ToolError",
    }
    assert spans.one("invoke_agent t").status.status_code is StatusCode.UNSET


async def test_a_skipped_plan_fails_the_planner_span_only(spans: Spans) -> None:
    def reply(messages: list[Message], info: AgentInfo) -> object:
        if info.agent_name.endswith("_planner"):
            raise RuntimeError("planner broke")
        return "answer"

    agent = Agent(name="p", model="test:x", planning_enabled=True, planning_on_error="skip")
    result = await run(agent, "go", provider=FunctionModel(reply))
    assert result.output == "answer"
    planner = spans.one("invoke_agent p_planner")
    assert planner.status.status_code is StatusCode.ERROR
    assert attributes(planner)["error.type"] == "planning_failed"
    assert spans.one("invoke_agent p").status.status_code is StatusCode.UNSET


async def test_no_provider_means_the_untraced_path() -> None:
    # No provider for this context and none set globally: the API's proxy provider.
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    assert tracer_for_run() is None
    stream = run.stream(Agent(name="o", model="test:x"), "go")
    assert stream.ag_code.co_qualname == "Runner._events"  # the engine itself, no wrapper
    await stream.aclose()


def test_a_globally_set_provider_traces_runs() -> None:
    script = textwrap.dedent(
        """
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from exo import Agent, run

        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        run.sync(Agent(name="g", model="test:x"), "go")
        print(sorted(s.name for s in exporter.get_finished_spans()))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "['chat x', 'invoke_agent g']"


async def test_concurrent_runs_make_trees_of_their_own(spans: Spans) -> None:
    # Two runs at once: each one's spans form a tree of their own.
    agent = Agent(name="c", model="test:x", tools=[])
    await asyncio.gather(
        run(agent, "one", provider=_turns("a")), run(agent, "two", provider=_turns("b"))
    )
    roots = [s for s in spans.all if s.parent is None]
    assert len(roots) == 2
    assert {s.context.trace_id for s in roots} == {s.context.trace_id for s in spans.all}
    for chat in spans.named("chat x"):
        assert spans.parent_of(chat) in roots


async def test_cache_and_reasoning_tokens_when_there_are_some(spans: Spans) -> None:
    usage = Usage(
        requests=1,
        input_tokens=100,
        output_tokens=9,
        cache_read_tokens=60,
        cache_write_tokens=30,
        reasoning_tokens=4,
    )
    response = ModelResponse(message=AssistantMessage(content="ok"), usage=usage, model="m-1")
    await run(Agent(name="c", model="test:x"), "go", provider=FunctionModel(lambda m, i: response))
    chat = attributes(spans.one("chat function"))
    assert {k: v for k, v in chat.items() if k.startswith("gen_ai.usage.")} == {
        "gen_ai.usage.input_tokens": 100,
        "gen_ai.usage.output_tokens": 9,
        "gen_ai.usage.cache_read.input_tokens": 60,
        "gen_ai.usage.cache_creation.input_tokens": 30,
        "gen_ai.usage.reasoning.output_tokens": 4,
        "gen_ai.usage.cost": 0.0,  # a test backend is free, as local models are
    }
    assert chat["gen_ai.response.model"] == "m-1"
    root = attributes(spans.one("invoke_agent c"))
    assert root["exo.usage.cache_read.input_tokens"] == 60
    assert root["exo.usage.cache_creation.input_tokens"] == 30


async def test_conversation_id_and_typed_output(spans: Spans) -> None:
    from pydantic import BaseModel

    class Answer(BaseModel):
        city: str

    agent = Agent(name="m", model="test:x", memory="memory", output_type=Answer)
    result = await run(agent, "where?", conversation_id="conv-1")
    assert isinstance(result.output, Answer)
    assert attributes(spans.one("invoke_agent m"))["gen_ai.conversation.id"] == "conv-1"
    assert attributes(spans.one("chat x"))["gen_ai.output.type"] == "json"
