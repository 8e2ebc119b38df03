"""The span tree is the run's real shape, and each span carries the conventions' attributes."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from exo.models.base import Provider
from reliability.fakeserver import FakeServer
from tracing.conftest import Spans, attributes
from tracing.scenario import EXPECTED_TREE, FINAL, run_scenario


@pytest.mark.parametrize("stream", [False, True], ids=["run", "stream"])
async def test_the_tree_is_the_runs_shape(
    spans: Spans, server: FakeServer, providers: Callable[..., Provider], stream: bool
) -> None:
    result, _ = await run_scenario(server, providers("openai"), stream=stream)
    assert result.output == FINAL
    assert spans.tree() == EXPECTED_TREE
    assert len({s.context.trace_id for s in spans.all}) == 1
    # 7 HTTP requests: the planner's 429 and its retry, 3 executor calls, 2 children.
    assert server.count() == 7
    kinds = {s.name.split()[0]: s.kind for s in spans.all}
    assert kinds == {
        "invoke_agent": SpanKind.INTERNAL,
        "chat": SpanKind.CLIENT,
        "execute_tool": SpanKind.INTERNAL,
    }


async def test_a_retried_429_is_an_event_on_its_chat_span(
    spans: Spans, server: FakeServer, providers: Callable[..., Provider]
) -> None:
    await run_scenario(server, providers("openai"), stream=False)
    planner = spans.one("invoke_agent boss_planner")
    [chat] = [s for s in spans.named("chat gpt-4o") if spans.parent_of(s) == planner]
    assert [(e.name, dict(e.attributes or {})) for e in chat.events] == [
        ("exo.attempt_failed", {"exo.attempt": 1, "error.type": "429", "exo.retry_after": 0.0})
    ]
    assert attributes(chat)["exo.retries"] == 1
    assert chat.status.status_code is StatusCode.UNSET  # the retry succeeded
    others = [s for s in spans.named("chat gpt-4o") if s is not chat]
    assert all(not s.events and "exo.retries" not in attributes(s) for s in others)


async def test_a_failed_tool_fails_its_span_not_the_run(
    spans: Spans, server: FakeServer, providers: Callable[..., Provider]
) -> None:
    await run_scenario(server, providers("openai"), stream=False)
    convert = spans.one("execute_tool convert")
    assert convert.status.status_code is StatusCode.ERROR
    assert convert.status.description is None  # the error text is content: not by default
    assert attributes(convert)["error.type"] == "ValueError"
    for name in ("execute_tool lookup", "execute_tool spawn_self", "invoke_agent boss"):
        span = spans.one(name)
        assert span.status.status_code is StatusCode.UNSET, name
        assert "error.type" not in attributes(span), name


@pytest.mark.parametrize("stream", [False, True], ids=["run", "stream"])
async def test_chat_spans_carry_the_conventions_attributes(
    spans: Spans, server: FakeServer, providers: Callable[..., Provider], stream: bool
) -> None:
    await run_scenario(server, providers("openai"), stream=stream)
    root = spans.one("invoke_agent boss")
    first = next(s for s in spans.named("chat gpt-4o") if spans.parent_of(s) == root)
    got = attributes(first)
    response_id = got.pop("gen_ai.response.id")
    assert isinstance(response_id, str) and response_id
    first_chunk = got.pop("gen_ai.response.time_to_first_chunk", None)
    assert (first_chunk is not None) is stream
    assert first_chunk is None or 0 < first_chunk < 60
    expected = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "server.address": "127.0.0.1",
        "server.port": server.port,
        "gen_ai.request.temperature": 0.5,
        "gen_ai.request.max_tokens": 300,
        "gen_ai.response.model": "gpt-4o",
        "gen_ai.response.finish_reasons": ["tool_calls"],
        "gen_ai.usage.input_tokens": 11,
        "gen_ai.usage.output_tokens": 7,
        # gpt-4o at $2.50 / $10 per million input / output tokens: 11 * 2.5e-6 + 7 * 1e-5
        "gen_ai.usage.cost": pytest.approx(9.75e-05),
    }
    if stream:
        expected["gen_ai.request.stream"] = True
    assert got == expected


async def test_run_spans_carry_totals_under_exo_names_only(
    spans: Spans, server: FakeServer, providers: Callable[..., Provider]
) -> None:
    result, _ = await run_scenario(server, providers("openai"), stream=False)
    usage = result.usage
    assert usage.requests == 6  # every model call, the planner's and the children's too
    assert attributes(spans.one("invoke_agent boss")) == {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "boss",
        "gen_ai.request.model": "gpt-4o",
        "exo.agent.depth": 0,
        "exo.usage.input_tokens": usage.input_tokens,
        "exo.usage.output_tokens": usage.output_tokens,
        "exo.usage.requests": 6,
        "exo.steps": 3,
        "exo.run.status": "completed",
        "exo.children": 2,
        "exo.cost.total": pytest.approx(float(result.cost.total or -1)),
        "exo.cost.plan": pytest.approx(9.75e-05),  # the planner's one call (see above)
        "exo.cost.execute": pytest.approx(float(result.cost.execute or -1)),
        "exo.cost.children": pytest.approx(float(result.cost.children or -1)),
    }
    assert attributes(spans.one("invoke_agent boss_planner")) == {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "boss_planner",
        "gen_ai.request.model": "gpt-4o",
        "exo.agent.depth": 0,
        "exo.usage.input_tokens": 11,
        "exo.usage.output_tokens": 7,
        "exo.usage.requests": 1,
        "exo.steps": 1,
    }
    child = attributes(spans.one("invoke_agent boss_child_2"))
    assert child["exo.agent.depth"] == 1
    assert child["exo.agent.lineage"] == ["boss"]
    # Tokens are counted once: summing gen_ai.usage over chat spans gives the run's total.
    chats = [attributes(s) for s in spans.all if s.name.startswith("chat ")]
    assert sum(c["gen_ai.usage.input_tokens"] for c in chats) == usage.input_tokens
    assert sum(c["gen_ai.usage.output_tokens"] for c in chats) == usage.output_tokens
    assert not any(
        k.startswith("gen_ai.usage.")
        for s in spans.all
        if not s.name.startswith("chat ")
        for k in attributes(s)
    )


async def test_tool_spans_carry_call_id_type_and_description(
    spans: Spans, server: FakeServer, providers: Callable[..., Provider]
) -> None:
    result, _ = await run_scenario(server, providers("openai"), stream=False)
    call_ids = {
        c.name: c.id for m in result.messages if m.role == "assistant" for c in m.tool_calls
    }
    assert attributes(spans.one("execute_tool lookup")) == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "lookup",
        "gen_ai.tool.call.id": call_ids["lookup"],
        "gen_ai.tool.type": "function",
        "gen_ai.tool.description": "Look a key up.",
    }
    spawn = attributes(spans.one("execute_tool spawn_self"))
    assert spawn["gen_ai.tool.call.id"] == call_ids["spawn_self"]
    assert spawn["gen_ai.tool.description"].startswith("Run copies of yourself")


async def test_anthropic_cache_reads_and_the_provider_name(
    spans: Spans, server: FakeServer, providers: Callable[..., Provider]
) -> None:
    from exo import Agent, run
    from reliability.fakeserver import answer

    server.script(answer("hi", input_tokens=40, cache_read_tokens=30))
    agent = Agent(name="a", model="anthropic:claude-sonnet-4-6")
    await run(agent, "hello", provider=providers("anthropic"))
    got = attributes(spans.one("chat claude-sonnet-4-6"))
    assert got["gen_ai.provider.name"] == "anthropic"
    assert got["server.address"] == "127.0.0.1"
    assert got["gen_ai.usage.input_tokens"] == 40
    assert got["gen_ai.usage.cache_read.input_tokens"] == 30
    assert got["gen_ai.response.finish_reasons"] == ["stop"]
