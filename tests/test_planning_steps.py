"""Structured plans (``planning_format="steps"``): typed steps, the text fallback, the todo
list, step events, and the spec's default left exactly as it was."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from exo import Agent, ConfigError, Context, run
from exo._state import RunState
from exo.planning import STRING_TEMPLATE, SYSTEM_TEMPLATE
from exo.plans import TICK_LINE, PlannedSteps, ReplanPolicy, parse_steps, render_steps
from exo.testing import ScriptedModel, call
from exo.types import PlanStep, PlanStepEvent, SystemMessage, TextBlock, UserMessage

STEPS = {
    "steps": [
        {"title": "Look up the order", "done_when": "its status is known", "tools": ["get_order"]},
        {"title": "Answer the customer", "done_when": "", "tools": []},
    ]
}
RENDERED = (
    "1. Look up the order\n"
    "   Done when: its status is known\n"
    "   Tools: get_order\n"
    "2. Answer the customer\n"
    "\n"
    "Mark each step done with complete_todo(<number>) as soon as it is done."
)


def get_order(order_id: str) -> str:
    """Look an order up."""
    return f"order {order_id}: shipped"


def support(**kw: Any) -> Agent:
    base: dict[str, Any] = dict(
        name="support",
        model="test:x",
        tools=[get_order],
        planning_enabled=True,
        planning_format="steps",
    )
    base.update(kw)
    return Agent(**base)


async def test_typed_steps_are_injected_as_numbered_text_inside_the_spec_template() -> None:
    model = ScriptedModel({"support_planner": [json.dumps(STEPS)], "support": ["Shipped."]})
    result = await run(support(), "Where is order 7?", provider=model)
    planner, executor = model.requests
    assert planner.output is not None and planner.output.name == "PlannedSteps"
    assert executor.messages[-1] == UserMessage(
        content=STRING_TEMPLATE.format(task="Where is order 7?", plan=RENDERED)
    )
    assert result.plan is not None and result.plan.text == RENDERED
    assert result.plan.checklist == (
        PlanStep(
            title="Look up the order",
            done_when="its status is known",
            tools=("get_order",),
            todo=1,
        ),
        PlanStep(title="Answer the customer", todo=2),
    )
    # memory keeps the user's own words, never the plan-wrapped text
    assert result.new_messages[0] == UserMessage(content="Where is order 7?")


async def test_the_planner_is_asked_for_a_strict_schema_and_partial_json_still_reads() -> None:
    partial = '{"steps": [{"title": "Look up the order"}, "Answer"]}'  # keys missing
    model = ScriptedModel({"support_planner": [partial], "support": ["Shipped."]})
    result = await run(support(), "Where is order 7?", provider=model)
    spec = model.requests[0].output
    assert spec is not None and spec.strict  # every key required: OpenAI can enforce it
    assert model.agents == ["support_planner", "support"]  # no correction round trip
    assert result.plan is not None
    assert [s.title for s in result.plan.checklist] == ["Look up the order", "Answer"]


async def test_a_plan_written_as_a_list_is_read_without_a_correction_round_trip() -> None:
    text = "Here is my plan:\n1. **Look up the order** - done when: status known\n2) Answer"
    model = ScriptedModel({"support_planner": [text], "support": ["Shipped."]})
    result = await run(support(), "Where is order 7?", provider=model)
    assert model.agents == ["support_planner", "support"]  # no second planner call
    assert result.plan is not None
    assert [(s.title, s.done_when) for s in result.plan.checklist] == [
        ("Look up the order", "status known"),
        ("Answer", ""),
    ]
    assert result.plan.text == "1. Look up the order\n   Done when: status known\n2. Answer\n\n" + (
        TICK_LINE
    )


async def test_the_steps_become_the_todo_list_and_ticks_are_recorded_and_streamed() -> None:
    context = Context()
    model = ScriptedModel(
        {
            "support_planner": [json.dumps(STEPS)],
            "support": [
                call("get_order", order_id="7"),
                call("complete_todo", number=1),
                "Order 7 has shipped.",
            ],
        }
    )
    events = [
        e
        async for e in run.stream(
            support(), "Where is order 7?", provider=model, context=context, detailed=True
        )
    ]
    assert [(t.text, t.done) for t in context.todos] == [
        ("Look up the order", True),
        ("Answer the customer", False),
    ]
    ticks = [e for e in events if isinstance(e, PlanStepEvent)]
    assert [(e.index, e.step.title, e.step.status) for e in ticks] == [
        (1, "Look up the order", "done")
    ]
    # the tick is reported right after the turn that made it
    types = [e.type for e in events]
    assert types[types.index("plan_step") - 2 : types.index("plan_step") + 1] == [
        "tool_result",
        "step",
        "plan_step",
    ]
    result = events[-1].result  # type: ignore[union-attr]
    assert [s.status for s in result.plan.checklist] == ["done", "pending"]
    executor_tools = [t.name for t in model.requests[1].tools]
    assert executor_tools == [
        "get_order",
        "add_todo",
        "complete_todo",
        "list_todos",
        "list_notes",
        "read_note",
    ]
    assert [t.name for t in model.requests[0].tools] == ["get_order"]  # the planner: its own


async def test_step_events_stay_out_of_the_plain_stream() -> None:
    model = ScriptedModel(
        {
            "support_planner": [json.dumps(STEPS)],
            "support": [call("complete_todo", number=1), "Done."],
        }
    )
    events = [e async for e in run.stream(support(), "x", provider=model)]
    assert "plan_step" not in [e.type for e in events]
    assert events[-1].result.plan.checklist[0].status == "done"  # type: ignore[union-attr]


async def test_step_numbers_follow_todos_already_on_a_shared_context() -> None:
    context = Context()
    context.add_todo("an item from an earlier run")
    model = ScriptedModel(
        {
            "support_planner": [json.dumps(STEPS)],
            "support": [call("complete_todo", number=2), "Done."],
        }
    )
    result = await run(support(context=context), "x", provider=model)
    assert result.plan is not None
    assert result.plan.text.splitlines()[0] == "2. Look up the order"
    assert result.plan.text.splitlines()[3] == "3. Answer the customer"
    assert [s.status for s in result.plan.checklist] == ["done", "pending"]
    assert not context.todos[0].done


async def test_content_block_input_gets_the_steps_in_the_system_template() -> None:
    model = ScriptedModel({"support_planner": [json.dumps(STEPS)], "support": ["Ok."]})
    await run(support(), [TextBlock(text="Where is order 7?")], provider=model)
    assert model.requests[1].messages[-2] == SystemMessage(
        content=SYSTEM_TEMPLATE.format(plan=RENDERED)
    )


async def test_a_plan_edited_at_approval_is_read_again_from_its_text() -> None:
    model = ScriptedModel({"support_planner": [json.dumps(STEPS)], "support": ["Ok."]})
    agent = support(approve_plan=True, approval_handler=lambda request: "1. Only this step")
    result = await run(agent, "x", provider=model)
    assert result.plan is not None
    assert [s.title for s in result.plan.checklist] == ["Only this step"]
    assert result.plan.text == "1. Only this step\n\n" + TICK_LINE


async def test_a_plan_rejected_at_approval_is_not_tracked() -> None:
    context = Context()
    model = ScriptedModel({"support_planner": [json.dumps(STEPS)], "support": ["Ok."]})
    agent = support(approve_plan=True, approval_handler=lambda request: False)
    await run(agent, "hello", provider=model, context=context)
    assert model.requests[1].messages[-1] == UserMessage(content="hello")
    assert [t.name for t in model.requests[1].tools] == ["get_order"]
    assert context.todos == []


async def test_an_empty_steps_plan_injects_nothing_and_adds_no_tools() -> None:
    model = ScriptedModel({"support_planner": ['{"steps": []}'], "support": ["Ok."]})
    result = await run(support(), "hello", provider=model)
    assert model.requests[1].messages[-1] == UserMessage(content="hello")
    assert [t.name for t in model.requests[1].tools] == ["get_order"]
    assert result.plan is not None and result.plan.text == "" and result.plan.checklist == ()


async def test_the_default_stays_the_spec_byte_for_byte() -> None:
    plan = "1. Research React\n2. Research Svelte"
    model = ScriptedModel({"support_planner": [plan], "support": ["Done."]})
    agent = Agent(name="support", model="test:x", tools=[get_order], planning_enabled=True)
    assert agent.planning_format == "text" and agent.replan_on is None
    result = await run(agent, "Compare React vs Svelte", provider=model)
    assert model.requests[0].output is None  # the planner is asked for free text
    assert model.requests[1].messages[-1] == UserMessage(
        content="Original task:\nCompare React vs Svelte\n\nPlanner output:\n"
        "1. Research React\n2. Research Svelte\n\n"
        "Use the planner output while completing the task."
    )
    assert [t.name for t in model.requests[1].tools] == ["get_order"]
    assert result.plan is not None and result.plan.checklist == () and result.plan.replans == 0
    blocks = ScriptedModel({"support_planner": [plan], "support": ["Done."]})
    await run(agent, [TextBlock(text="Compare")], provider=blocks)
    assert blocks.requests[1].messages[-2] == SystemMessage(
        content="Planner output:\n1. Research React\n2. Research Svelte\n\n"
        "Use the planner output while responding to the next user task."
    )


async def test_the_checklist_survives_serialization() -> None:
    model = ScriptedModel({"support_planner": [json.dumps(STEPS)], "support": ["Ok."]})
    result = await run(support(), "x", provider=model)
    data = result.to_dict()
    assert data["plan"]["checklist"][0]["title"] == "Look up the order"
    assert data["plan"]["replans"] == 0
    state = RunState(agent_name="a", model="m", plan=result.plan)
    assert RunState.from_json(state.to_json()).plan == result.plan


def test_the_settings_are_checked_at_construction() -> None:
    with pytest.raises(ConfigError, match="planning_format must be 'text' or 'steps'"):
        support(planning_format="json")
    with pytest.raises(ConfigError, match="replan_on needs planning_format='steps'"):
        support(planning_format="text", replan_on=True)
    with pytest.raises(ConfigError, match="max_replans must be from 0 to 20"):
        support(max_replans=21)
    with pytest.raises(ConfigError, match="replan_on must be a ReplanPolicy"):
        support(replan_on="always")
    with pytest.raises(ConfigError, match="tool_failures must be an integer"):
        ReplanPolicy(tool_failures=0)
    with pytest.raises(ConfigError, match="'complete_todo' is the name of a built-in tool"):

        def complete_todo(number: int) -> str:
            """Clash."""
            return ""

        support(tools=[complete_todo])
    with pytest.raises(ConfigError, match="'request_replan' is the name of a built-in tool"):

        def request_replan(reason: str) -> str:
            """Clash."""
            return ""

        support(tools=[request_replan], replan_on=True)
    assert support(replan_on=True).replan_on == ReplanPolicy()
    # spawned children copy the agent with planning off: the settings must still hold
    assert support(replan_on=True).replace(planning_enabled=False).replan_on == ReplanPolicy()


# --------------------------------------------------------------------------- the text parser


def test_parse_steps_reads_the_shapes_models_write() -> None:
    assert [s.title for s in parse_steps("Step 1: Fetch\nStep 2: Sum")] == ["Fetch", "Sum"]
    assert [s.title for s in parse_steps("- fetch\n- sum\n\nthat's it")] == ["fetch", "sum"]
    assert [s.title for s in parse_steps("fetch\nsum")] == ["fetch", "sum"]
    assert [s.title for s in parse_steps('```json\n["a", "b"]\n```')] == ["a", "b"]
    numbered = parse_steps("1. Fetch\n   Tools: get_order, search\n   why: context\n2. Sum")
    assert numbered[0].tools == ("get_order", "search") and len(numbered) == 2
    assert parse_steps("") == [] and parse_steps("{not json") == [PlanStep(title="{not json")]


_title = (
    st.text(
        alphabet=st.characters(whitelist_categories=("L", "N"), whitelist_characters=" ,.'?"),
        min_size=1,
        max_size=40,
    )
    .map(lambda t: " ".join(t.split()).strip(" ,."))
    .filter(lambda t: bool(t))
)
_step = st.builds(
    PlanStep,
    title=_title,
    done_when=st.one_of(st.just(""), _title),
    tools=st.lists(st.from_regex(r"[a-z][a-z_]{0,10}", fullmatch=True), max_size=3).map(tuple),
)


@given(st.lists(_step, max_size=8))
@settings(max_examples=150, deadline=None)
def test_rendered_steps_read_back_as_the_same_steps(steps: list[PlanStep]) -> None:
    assert parse_steps(render_steps(steps)) == steps


@given(st.text(max_size=400))
@settings(max_examples=300, deadline=None)
def test_parse_steps_never_raises_and_never_returns_empty_titles(text: str) -> None:
    assert all(s.title.strip() for s in parse_steps(text))


@given(st.lists(_step, min_size=1, max_size=6))
@settings(max_examples=60, deadline=None)
def test_typed_steps_json_reads_back_through_the_fallback_too(steps: list[PlanStep]) -> None:
    adapter = TypeAdapter(PlannedSteps)
    payload = adapter.dump_json(
        adapter.validate_python(
            {
                "steps": [
                    {"title": s.title, "done_when": s.done_when, "tools": s.tools} for s in steps
                ]
            }
        )
    ).decode()
    assert parse_steps(payload) == steps


async def test_a_run_paused_for_approval_resumes_its_tracking_in_a_fresh_context() -> None:
    model = ScriptedModel(
        {
            "support_planner": [json.dumps(STEPS)],
            "support": [
                call("get_order", order_id="7"),
                call("complete_todo", number=1),
                "Shipped.",
            ],
        }
    )
    agent = support(approve_tools=["get_order"])
    paused = await run(agent, "Where is order 7?", provider=model)
    assert paused.status == "paused"
    state = json.loads(json.dumps(paused.state))  # as if in another process
    context = Context()  # the first run's todos are not there
    done = await run(
        agent,
        resume=state,
        approvals={paused.pending[0].call_id: True},
        provider=model,
        context=context,
    )
    assert done.output == "Shipped."
    assert model.agents.count("support_planner") == 1
    assert [(t.text, t.done) for t in context.todos] == [
        ("Look up the order", True),
        ("Answer the customer", False),
    ]
    assert done.plan is not None
    assert [s.status for s in done.plan.checklist] == ["done", "pending"]
