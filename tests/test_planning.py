"""The planner pre-pass, sentence by sentence of the planning spec (docs/planning.md holds it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from exo import Agent, AgentError, ConfigError, ModelError, PlanningError, run
from exo.context import Context
from exo.models import register_provider, unregister_provider
from exo.models.base import Provider
from exo.planning import STRING_TEMPLATE, SYSTEM_TEMPLATE, build_planner
from exo.testing import FunctionModel, Reply, ScriptedModel, call
from exo.types import (
    ImageBlock,
    Message,
    PlanSkippedEvent,
    SystemMessage,
    TextBlock,
    ToolResult,
    UserMessage,
)

PLAN = "1. Research React\n2. Research Svelte\n3. Compare\n4. Synthesize"


def search(query: str) -> str:
    """Search the web."""
    return f"results for {query}"


def summarize(text: str) -> str:
    """Summarize text."""
    return text[:20]


def researcher(**kw: object) -> Agent:
    base: dict[str, object] = dict(
        name="researcher",
        model="test:exec",
        instructions="You are a thorough research assistant.",
        tools=[search, summarize],
        planning_enabled=True,
    )
    base.update(kw)
    return Agent(**base)  # type: ignore[arg-type]


async def test_planner_runs_first_and_plan_is_injected_into_string_input() -> None:
    model = ScriptedModel({"researcher_planner": [f"  {PLAN}\n"], "researcher": ["Done."]})
    result = await run(researcher(), "Compare React vs Svelte for a new project", provider=model)
    assert model.agents == ["researcher_planner", "researcher"]
    executor_input = model.requests[1].messages[-1]
    assert executor_input == UserMessage(
        content=(
            "Original task:\nCompare React vs Svelte for a new project\n\n"
            f"Planner output:\n{PLAN}\n\n"
            "Use the planner output while completing the task."
        )
    )
    assert result.plan is not None and result.plan.text == PLAN  # stripped
    assert STRING_TEMPLATE.format(task="t", plan="p").endswith("completing the task.")


async def test_planner_is_a_full_agent_running_tools_on_the_original_input() -> None:
    model = ScriptedModel(
        {
            "researcher_planner": [call("search", query="svelte"), PLAN],
            "researcher": ["Done."],
        }
    )
    result = await run(researcher(), "Compare", provider=model)
    planner_requests = [r for r in model.requests if r.agent_name == "researcher_planner"]
    assert planner_requests[0].messages[-1] == UserMessage(content="Compare")
    assert isinstance(planner_requests[1].messages[-1], ToolResult)
    # the planner's transcript is discarded: the executor sees none of its tool traffic
    executor = model.requests[-1]
    assert [type(m).__name__ for m in executor.messages] == ["SystemMessage", "UserMessage"]
    assert not any(isinstance(m, ToolResult) for m in result.messages)
    assert result.plan is not None and result.plan.steps == 2


async def test_planner_properties_table() -> None:
    ctx = Context()
    agent = researcher(
        planning_model="test:cheap",
        planning_instructions="Only plan.",
        max_steps=7,
        temperature=0.3,
        max_tokens=99,
        context=ctx,
        memory="memory",
    )
    planner = build_planner(agent)
    assert planner.name == "researcher_planner"
    assert planner.model == "test:cheap"
    assert planner.instructions == "Only plan."
    assert list(planner.tool_map) == ["search", "summarize"]
    assert planner.memory is None
    assert planner.context is ctx
    assert (planner.max_steps, planner.temperature, planner.max_tokens) == (7, 0.3, 99)
    assert planner.planning_enabled is False
    assert build_planner(agent) is not planner  # a fresh planner each run


async def test_planner_defaults_to_agent_model_and_instructions() -> None:
    planner = build_planner(researcher())
    assert planner.model == "test:exec"
    assert planner.instructions == "You are a thorough research assistant."


async def test_planning_instructions_and_settings_reach_the_planner_call() -> None:
    model = ScriptedModel({"researcher_planner": [PLAN], "researcher": ["ok"]})
    agent = researcher(
        planning_instructions="Output a numbered plan.", temperature=0.1, max_tokens=64
    )
    await run(agent, "x", provider=model)
    planner_call, executor_call = model.requests
    assert planner_call.messages[0] == SystemMessage(content="Output a numbered plan.")
    assert executor_call.messages[0] == SystemMessage(
        content="You are a thorough research assistant."
    )
    assert planner_call.settings == executor_call.settings
    assert planner_call.settings.max_tokens == 64


async def test_tools_each_phase_sends_with_self_spawn() -> None:
    model = ScriptedModel({"coordinator_planner": [PLAN], "coordinator": ["ok"]})
    agent = Agent(
        name="coordinator",
        model="test:m",
        instructions="Plan research, then delegate via spawn_self.",
        tools=[search],
        planning_enabled=True,
        planning_instructions="Create a research plan listing topics to investigate.",
        allow_self_spawn=True,
        max_spawn_children=4,
    )
    await run(agent, "Research", provider=model)
    planner_tools = [t.name for t in model.requests[0].tools]
    executor_tools = [t.name for t in model.requests[1].tools]
    assert planner_tools == ["search"]
    assert "spawn_self" not in planner_tools and "retrieve_artifact" not in planner_tools
    assert build_planner(agent).allow_self_spawn is True  # inherits the settings
    assert build_planner(agent).max_spawn_children == 4
    assert executor_tools[0] == "search"


async def test_planning_tools_restrict_the_planner() -> None:
    model = ScriptedModel({"researcher_planner": [PLAN], "researcher": ["ok"]})
    await run(researcher(planning_tools=["search"]), "x", provider=model)
    assert [t.name for t in model.requests[0].tools] == ["search"]
    assert [t.name for t in model.requests[1].tools] == ["search", "summarize"]


async def test_planning_max_steps_limits_only_the_planner() -> None:
    model = FunctionModel(
        lambda msgs, info: (
            call("search", query="x") if info.agent_name.endswith("_planner") else "ok"
        )
    )
    agent = researcher(planning_max_steps=2, planning_on_error="skip")
    result = await run(agent, "x", provider=model)
    assert model.agents == ["researcher_planner", "researcher_planner", "researcher"]
    assert result.plan is not None and result.plan.skipped is not None
    assert "used all 2 steps" in result.plan.skipped


async def test_content_block_input_gets_a_system_message_appended() -> None:
    model = ScriptedModel({"researcher_planner": [PLAN], "researcher": ["ok"]})
    blocks = [
        TextBlock(text="What framework is in this screenshot?"),
        ImageBlock(url="https://x/y.png"),
    ]
    history: list[Message] = [UserMessage(content="hi"), SystemMessage(content="be brief")]
    await run(researcher(), blocks, provider=model, messages=history)
    planner_msgs = model.requests[0].messages
    assert planner_msgs[-1] == UserMessage(content=blocks)  # the planner sees the original input
    executor_msgs = model.requests[1].messages
    assert executor_msgs[-1] == UserMessage(content=blocks)  # kept as it is
    assert executor_msgs[-2] == SystemMessage(
        content=(
            f"Planner output:\n{PLAN}\n\n"
            "Use the planner output while responding to the next user task."
        )
    )
    assert executor_msgs[1:3] == history  # appended after the history
    assert SYSTEM_TEMPLATE.startswith("Planner output:")


@pytest.mark.parametrize("empty", ["", "   \n  "])
async def test_empty_plan_is_a_no_op(empty: str) -> None:
    model = ScriptedModel({"researcher_planner": [empty], "researcher": ["ok"]})
    await run(researcher(), "Compare", provider=model)
    assert model.requests[1].messages[-1] == UserMessage(content="Compare")
    blocks = [TextBlock(text="Compare")]
    model = ScriptedModel({"researcher_planner": [empty], "researcher": ["ok"]})
    await run(researcher(), blocks, provider=model)
    assert [type(m).__name__ for m in model.requests[1].messages] == [
        "SystemMessage",
        "UserMessage",
    ]


async def test_planning_disabled_runs_no_planner() -> None:
    model = ScriptedModel(["ok"])
    result = await run(researcher(planning_enabled=False), "x", provider=model)
    assert model.agents == ["researcher"] and result.plan is None


# ---------------------------------------------------------------- provider resolution


class Recorder:
    """A registered backend that records which model names it was asked for."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, name: str) -> ScriptedModel:
        self.asked.append(name)
        return ScriptedModel([PLAN], model=name)


class CopyCountingModel(ScriptedModel):
    """A scripted model that records the copies ``with_model`` makes of it."""

    def __init__(self, replies: Mapping[str, Sequence[Reply]], *, model: str = "scripted") -> None:
        super().__init__(replies, model=model)
        self.copies: list[str] = []

    def with_model(self, model: str) -> Provider:
        self.copies.append(model)
        return super().with_model(model)


async def test_same_model_reuses_the_executor_provider() -> None:
    model = CopyCountingModel({"researcher_planner": [PLAN], "researcher": ["ok"]})
    await run(researcher(planning_model="test:exec"), "x", provider=model)
    assert model.agents == ["researcher_planner", "researcher"]
    # the planner used this very object: no copy was made (a copy would share the log)
    assert model.copies == []


async def test_same_backend_clones_with_the_new_model_name() -> None:
    model = CopyCountingModel({"researcher_planner": [PLAN], "researcher": ["ok"]}, model="exec")
    result = await run(researcher(planning_model="test:cheap"), "x", provider=model)
    # with_model() returned a copy sharing the script and request log but named "cheap"
    assert model.copies == ["cheap"]
    assert model.agents == ["researcher_planner", "researcher"]
    assert result.plan is not None and result.plan.model == "test:cheap"
    assert model.model == "exec"


async def test_different_backend_resolves_a_fresh_provider() -> None:
    recorder = Recorder()
    register_provider("cheap", recorder)
    try:
        model = ScriptedModel(["ok"])
        result = await run(researcher(planning_model="cheap:mini"), "x", provider=model)
    finally:
        unregister_provider("cheap")
    assert recorder.asked == ["mini"]
    assert model.agents == ["researcher"]
    assert result.plan is not None and result.plan.text == PLAN


async def test_unresolvable_planning_model_raises_agent_error_at_run_time() -> None:
    agent = researcher(planning_model="foo:bar")  # construction succeeds
    with pytest.raises(AgentError) as err:
        await run(agent, "x", provider=ScriptedModel(["never"]))
    assert str(err.value).startswith(
        "planning_model 'foo:bar' could not be resolved: no backend 'foo' (known: anthropic,"
    )
    with pytest.raises(AgentError, match="could not be resolved"):
        async for _ in run.stream(agent, "x", provider=ScriptedModel(["never"])):
            pass


def test_malformed_planning_model_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as err:
        researcher(planning_model="gpt-4o-mini")
    assert err.value.parameter == "planning_model"


# ---------------------------------------------------------------- streaming and cost


async def test_stream_carries_no_planner_text_or_tool_calls() -> None:
    model = ScriptedModel(
        {
            "researcher_planner": [call("search", query="p"), "PLANNER-TEXT"],
            "researcher": ["EXECUTOR-TEXT"],
        }
    )
    events = [e async for e in run.stream(researcher(), "x", provider=model)]
    assert all(e.agent_name == "researcher" for e in events)
    assert "".join(e.text for e in events if e.type == "text") == "EXECUTOR-TEXT"
    assert not [e for e in events if e.type in ("tool_call", "tool_result")]
    assert [e.type for e in events if e.type.startswith("plan")] == []


async def test_detailed_stream_shows_plan_lifecycle_first() -> None:
    model = ScriptedModel({"researcher_planner": [PLAN], "researcher": ["ok"]})
    events = [e async for e in run.stream(researcher(), "x", provider=model, detailed=True)]
    assert [e.type for e in events][:3] == ["plan_start", "plan_complete", "run_start"]
    done = events[1]
    assert done.type == "plan_complete" and done.plan.text == PLAN and done.plan.usage.requests == 1


async def test_planner_usage_is_counted_and_split_by_phase() -> None:
    model = ScriptedModel(
        {"researcher_planner": [call("search", query="q"), PLAN], "researcher": ["ok"]}
    )
    result = await run(researcher(), "x", provider=model)
    phases = result.usage_by_phase
    assert result.plan is not None
    assert phases["plan"] == result.plan.usage and phases["plan"].requests == 2
    assert phases["execute"].requests == 1
    assert result.usage == phases["plan"] + phases["execute"]
    assert result.steps == 1  # the executor's own model calls


async def test_planner_failure_raises_planning_error_or_skips() -> None:
    boom = AgentError("provider exploded")
    model = ScriptedModel({"researcher_planner": [boom], "researcher": ["ok"]})
    with pytest.raises(PlanningError, match="planning phase of agent 'researcher' failed"):
        await run(researcher(), "x", provider=model)

    model = ScriptedModel({"researcher_planner": [boom], "researcher": ["ok"]})
    events = [
        e async for e in run.stream(researcher(planning_on_error="skip"), "x", provider=model)
    ]
    skipped = [e for e in events if isinstance(e, PlanSkippedEvent)]
    assert len(skipped) == 1 and "provider exploded" in skipped[0].reason
    assert model.requests[-1].messages[-1] == UserMessage(content="x")  # unplanned


async def test_a_skipped_plan_keeps_the_usage_and_steps_the_planner_spent() -> None:
    boom = ModelError("down", backend="test", model="m", status=400)
    model = ScriptedModel(
        {"researcher_planner": [call("search", query="a"), boom], "researcher": ["ok"]}
    )
    result = await run(researcher(planning_on_error="skip"), "x", provider=model)
    plan = result.plan
    assert plan is not None and plan.skipped is not None and "down" in plan.skipped
    assert plan.usage.requests == 1  # the one call that answered; the failed one cost nothing
    assert plan.steps == 2
    assert result.usage_by_phase["plan"] == plan.usage
    assert result.usage.requests == 2


async def test_the_planner_retries_as_often_as_the_agent_allows() -> None:
    flaky = ModelError("overloaded", backend="test", model="m", status=529, retryable=True)
    model = ScriptedModel({"researcher_planner": [flaky, PLAN], "researcher": ["ok"]})
    agent = researcher(max_retries=0, planning_on_error="skip")
    result = await run(agent, "x", provider=model)
    assert model.agents == ["researcher_planner", "researcher"]  # no second planner attempt
    assert result.plan is not None and result.plan.skipped is not None


async def test_the_planner_never_gets_context_tools() -> None:
    model = ScriptedModel({"researcher_planner": [PLAN], "researcher": ["ok"]})
    agent = researcher(context_tools=True)
    await run(agent, "x", provider=model)
    planner_request, executor_request = model.requests
    assert [t.name for t in planner_request.tools] == ["search", "summarize"]
    assert "add_todo" in {t.name for t in executor_request.tools}


async def test_planner_shares_the_run_context() -> None:
    seen: list[int] = []

    from exo import ToolContext

    def remember(ctx: ToolContext) -> str:
        """Note the context."""
        seen.append(id(ctx.context))
        return "ok"

    ctx = Context()
    agent = researcher(tools=[remember])
    model = ScriptedModel(
        {"researcher_planner": [call("remember"), PLAN], "researcher": [call("remember"), "ok"]}
    )
    await run(agent, "x", provider=model, context=ctx)
    assert seen == [id(ctx), id(ctx)]


@pytest.mark.parametrize("how", ["retry", "max_retries"])
async def test_the_planner_retries_by_the_runs_retry_policy(how: str) -> None:
    """run(retry=...) / run(max_retries=...) reach the planner's model calls too."""
    from exo import RetryPolicy

    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    busy = ModelError("overloaded", backend="test", model="m", status=529, retryable=True)
    model = ScriptedModel({"r_planner": [busy, "1. look"], "r": ["done"]})
    agent = Agent(name="r", model="test:m", planning_enabled=True, max_retries=0)
    if how == "retry":
        options: dict[str, Any] = {"retry": RetryPolicy(max_retries=1, sleep=sleep)}
    else:
        options = {"max_retries": 1}
    result = await run(agent, "task", provider=model, **options)
    assert result.plan is not None and result.plan.text == "1. look"
    assert result.output == "done"
    if how == "retry":
        assert len(waits) == 1  # the run's policy (and its clock) did the waiting
