"""Limits hold at the HTTP boundary: max_steps, the planner's own limits, and bad input.

``max_steps`` counts model calls (a retried call is still one step), the planner keeps to
``planning_max_steps`` (or inherits ``max_steps``), and what can be checked before a run is
a ConfigError at construction while what needs the environment fails at run time.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import aclosing
from typing import Any

import pytest

from exo import Agent, AgentError, ConfigError, MaxStepsExceeded, PlanningError, run
from exo.models.base import Provider
from exo.types import AssistantMessage, ErrorEvent, PlanSkippedEvent, StreamEvent, ToolResult
from reliability.fakeserver import Attempt, FakeServer, Reply, answer, fail, tools
from reliability.support import BACKENDS, FakeClock, drive, policy

ProviderFactory = Callable[..., Provider]
modes = pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
PLANNER_SAYS = "You plan. Never answer."


def lookup(query: str) -> str:
    """Look something up."""
    return f"more about {query}"


AGENT = Agent(name="looper", model="test:m", instructions="Work.", tools=[lookup])


def _always_a_tool_call(attempt: Attempt) -> Reply:
    return tools(("lookup", f'{{"query": "step {attempt.seen.rounds + 1}"}}'))


@pytest.mark.parametrize("max_steps", [1, 3])
@pytest.mark.parametrize("backend", BACKENDS)
@modes
async def test_max_steps_is_exactly_that_many_model_calls(
    server: FakeServer, providers: ProviderFactory, max_steps: int, backend: str, stream: bool
) -> None:
    server.responder = _always_a_tool_call
    agent = AGENT.replace(max_steps=max_steps)
    with pytest.raises(MaxStepsExceeded) as caught:
        await drive(agent, "never stop", provider=providers(backend), stream=stream)
    partial = caught.value.result
    assert server.count() == max_steps
    assert partial.steps == max_steps and partial.usage.requests == max_steps
    assert partial.output == ""
    kinds = [type(m) for m in partial.messages[2:]]
    assert kinds == [AssistantMessage, ToolResult] * max_steps  # the whole partial transcript
    assert f"all {max_steps} steps" in str(caught.value)


@pytest.mark.parametrize("backend", BACKENDS)
@modes
async def test_a_retried_call_is_still_one_step(
    server: FakeServer, providers: ProviderFactory, backend: str, stream: bool
) -> None:
    server.script(fail(503), tools(("lookup", '{"query": "a"}')), fail(429), answer("done"))
    agent = AGENT.replace(max_steps=2)
    result = await drive(
        agent, "go", provider=providers(backend), stream=stream, retry=policy(FakeClock())
    )
    assert result.output == "done" and result.steps == 2 and server.count() == 4


def _planner_loops(attempt: Attempt) -> Reply:
    if PLANNER_SAYS in attempt.seen.system:
        return _always_a_tool_call(attempt)
    return _always_a_tool_call(attempt) if attempt.seen.rounds < 1 else answer("executed")


def _split(server: FakeServer) -> tuple[int, int]:
    planner = sum(1 for a in server.attempts if PLANNER_SAYS in a.seen.system)
    return planner, server.count() - planner


@pytest.mark.parametrize("backend", BACKENDS)
@modes
async def test_the_planner_keeps_to_planning_max_steps(
    server: FakeServer, providers: ProviderFactory, backend: str, stream: bool
) -> None:
    server.responder = _planner_loops
    agent = AGENT.replace(
        max_steps=5,
        planning_enabled=True,
        planning_instructions=PLANNER_SAYS,
        planning_max_steps=2,
    )
    with pytest.raises(PlanningError) as caught:
        await drive(agent, "plan forever", provider=providers(backend), stream=stream)
    assert isinstance(caught.value.__cause__, MaxStepsExceeded)
    assert _split(server) == (2, 0)  # two planner calls, and the executor never ran

    server.reset()
    server.responder = _planner_loops
    skipping = agent.replace(planning_on_error="skip")
    events: list[StreamEvent] = []
    async with aclosing(run.stream(skipping, "plan forever", provider=providers(backend))) as s:
        events = [e async for e in s]
    assert any(isinstance(e, PlanSkippedEvent) for e in events)
    result = events[-1].result  # type: ignore[union-attr]
    assert result.output == "executed" and result.steps == 2
    assert result.plan is not None and result.plan.steps == 2 and result.plan.skipped
    assert result.usage.requests == 4  # the planner's calls are counted too
    assert _split(server) == (2, 2)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_the_planner_inherits_max_steps(
    server: FakeServer, providers: ProviderFactory, backend: str
) -> None:
    server.responder = _planner_loops
    agent = AGENT.replace(max_steps=3, planning_enabled=True, planning_instructions=PLANNER_SAYS)
    with pytest.raises(PlanningError):
        await run(agent, "plan forever", provider=providers(backend))
    assert _split(server) == (3, 0)


# --------------------------------------------------------------------------- bad input


async def test_an_unknown_backend_fails_the_stream_at_run_time_with_an_error_event() -> None:
    agent = Agent(name="a", model="nosuch:model")  # construction is fine
    events: list[StreamEvent] = []
    with pytest.raises(AgentError, match="no backend 'nosuch'"):
        async for event in run.stream(agent, "hi"):
            events.append(event)
    assert [type(e) for e in events] == [ErrorEvent]
    assert events[0].error_type == "AgentError"  # type: ignore[union-attr]


async def test_an_unknown_planning_backend_fails_at_run_time_not_construction(
    server: FakeServer, providers: ProviderFactory
) -> None:
    agent = AGENT.replace(planning_enabled=True, planning_model="nosuch:planner")
    with pytest.raises(AgentError, match="planning_model 'nosuch:planner'"):
        await run(agent, "hi", provider=providers("openai"))
    assert server.count() == 0  # nothing was sent: the failure is before any call


@pytest.mark.parametrize(
    ("model", "variable"),
    [
        ("openai:gpt-4o", "OPENAI_API_KEY"),
        ("openai-responses:gpt-4o", "OPENAI_API_KEY"),
        ("anthropic:claude-sonnet-4-6", "ANTHROPIC_API_KEY"),
    ],
)
async def test_a_missing_api_key_is_a_run_time_error_naming_the_variable(
    model: str, variable: str
) -> None:
    agent = Agent(name="a", model=model)  # no key needed to build an agent
    with pytest.raises(AgentError, match=variable):
        await run(agent, "hi")


def _kwargs_tool(**options: Any) -> str:
    """Take anything."""
    return ""


def _unresolvable(x: NoSuchType) -> str:  # type: ignore[name-defined]  # noqa: F821
    """Refer to a type that does not exist."""
    return ""


class Opaque:
    """A class pydantic cannot describe."""

    def __init__(self, handle: int) -> None:
        self.handle = handle


def _opaque(thing: Opaque) -> str:
    """Take an object no JSON can build."""
    return ""


@pytest.mark.parametrize(
    ("fn", "fragment"),
    [
        (_kwargs_tool, "parameters are not supported"),
        (_unresolvable, "cannot read its signature"),
        (_opaque, "cannot build a JSON schema"),
    ],
    ids=["var-keyword", "unresolvable-hint", "opaque-type"],
)
def test_tools_with_unsupported_signatures_fail_at_construction(
    fn: Callable[..., str], fragment: str
) -> None:
    with pytest.raises(ConfigError, match=fragment) as caught:
        Agent(name="a", model="openai:gpt-4o", tools=[fn])
    assert caught.value.parameter == "tools" and caught.value.hint
