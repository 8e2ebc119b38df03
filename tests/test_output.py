"""Typed output offline: configuration, the loop's handling of typed answers, the planner,
children, results and the test models (the HTTP side is tests/reliability/test_typed_output)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from exo import Agent, ConfigError, OutputValidationError, run, tool
from exo.output import strict_ok
from exo.testing import ScriptedModel, TestModel, call
from exo.types import AssistantMessage, OutputEvent, ToolResult, UserMessage


class City(BaseModel):
    name: str
    population: int


@dataclass
class Point:
    x: int
    y: int


def test_str_is_the_default_and_costs_nothing() -> None:
    agent = Agent(name="a")
    assert agent.output_type is str
    assert agent.output is None


@pytest.mark.parametrize("bad", [object(), lambda: 1, 3])
def test_an_unsupported_output_type_is_a_config_error(bad: Any) -> None:
    with pytest.raises(ConfigError) as info:
        Agent(name="a", output_type=bad)
    assert info.value.parameter == "output_type"
    assert "is not a type exo can ask a model for" in str(info.value)


@pytest.mark.parametrize("retries", [-1, 11, True, "1"])
def test_output_retries_is_checked(retries: Any) -> None:
    with pytest.raises(ConfigError) as info:
        Agent(name="a", output_type=City, output_retries=retries)
    assert info.value.parameter == "output_retries"


def test_a_tool_may_not_be_named_final_result_with_an_output_type() -> None:
    @tool(name="final_result")
    def finish() -> str:
        """Finish."""
        return "x"

    Agent(name="a", tools=[finish])  # fine without an output_type
    with pytest.raises(ConfigError, match="final_result"):
        Agent(name="a", tools=[finish], output_type=City)


async def test_test_model_produces_a_valid_value_for_each_kind() -> None:
    class Box(BaseModel):
        cities: list[City]
        corner: Point
        kind: Literal["big", "small"]
        note: str | None

    for tp in (Box, list[City], dict[str, Point], Literal["yes", "no"], City | Point):
        result = await run(Agent(name="a", model="test:m", output_type=tp), "hi")
        assert result.output is not None
    box = (await run(Agent(name="a", model="test:m", output_type=Box), "hi")).output
    assert box == Box(
        cities=[City(name="example", population=1)],
        corner=Point(x=1, y=1),
        kind="big",
        note="example",
    )


async def test_test_model_calls_tools_before_the_typed_answer() -> None:
    @tool
    def lookup(city: str) -> int:
        """Look up a population."""
        return 7

    model = TestModel("m")
    agent = Agent(name="a", output_type=City, tools=[lookup])
    result = await run(agent, "hi", provider=model)
    assert result.output == City(name="example", population=1)
    assert [type(m).__name__ for m in result.new_messages] == [
        "UserMessage",
        "AssistantMessage",
        "ToolResult",
        "AssistantMessage",
    ]


async def test_a_text_answer_failing_validation_is_corrected_once_then_raises() -> None:
    model = ScriptedModel(['{"name": "x"}', "not json", '{"name": "x", "population": 1}'])
    agent = Agent(name="a", output_type=City, output_retries=1)
    with pytest.raises(OutputValidationError) as info:
        await run(agent, "hi", provider=model)
    err = info.value
    assert err.raw == "not json"
    assert err.errors[0].startswith("(root): Invalid JSON")
    assert err.result.steps == 2
    assert len(model.requests) == 2
    feedback = model.requests[1].messages[-1]
    assert isinstance(feedback, UserMessage)
    assert feedback.content == (
        "Your answer does not match the required output format:\n"
        "- population: Field required\n"
        "Answer again with only the corrected JSON."
    )


async def test_output_retries_zero_raises_on_the_first_invalid_answer() -> None:
    model = ScriptedModel(['{"name": "x"}'])
    with pytest.raises(OutputValidationError):
        await run(Agent(name="a", output_type=City, output_retries=0), "hi", provider=model)
    assert len(model.requests) == 1


async def test_each_retry_counts_as_a_step() -> None:
    from exo import MaxStepsExceeded

    model = ScriptedModel(['{"name": "x"}', '{"name": "y"}'])
    agent = Agent(name="a", output_type=City, output_retries=5, max_steps=2)
    with pytest.raises(MaxStepsExceeded):
        await run(agent, "hi", provider=model)
    assert len(model.requests) == 2


async def test_a_fenced_answer_is_read() -> None:
    model = ScriptedModel(['```json\n{"name": "x", "population": 2}\n```'])
    result = await run(Agent(name="a", output_type=City), "hi", provider=model)
    assert result.output == City(name="x", population=2)


async def test_final_result_beside_other_calls_closes_every_call() -> None:
    ran: list[str] = []

    @tool
    def side() -> str:
        """A side effect."""
        ran.append("side")
        return "done"

    model = ScriptedModel([[call("side"), call("final_result", {"name": "x", "population": 3})]])
    agent = Agent(name="a", output_type=City, tools=[side])
    result = await run(agent, "hi", provider=model)
    assert result.output == City(name="x", population=3)
    assert ran == []  # the answer ends the run: the call beside it is answered, not run
    closing = [m for m in result.new_messages if isinstance(m, ToolResult)]
    assert [(m.tool_name, m.is_error) for m in closing] == [
        ("side", True),
        ("final_result", False),
    ]


async def test_the_planner_plans_in_text_and_only_the_executor_is_typed() -> None:
    model = ScriptedModel(
        {
            "a_planner": ["1. Pick a city."],
            "a": ['{"name": "Lyon", "population": 5}'],
        }
    )
    agent = Agent(name="a", output_type=City, planning_enabled=True)
    result = await run(agent, "hi", provider=model)
    assert result.plan is not None and result.plan.text == "1. Pick a city."
    assert result.output == City(name="Lyon", population=5)
    planner, executor = model.requests
    assert (planner.agent_name, planner.output) == ("a_planner", None)
    assert executor.output is not None and executor.output.name == "City"


async def test_children_answer_in_text() -> None:
    def script() -> list[Any]:
        return [call("spawn_self", {"tasks": ["sub"]}), '{"name": "P", "population": 1}']

    model = ScriptedModel({"a": script(), "a_child_1": ["child text answer"]})
    agent = Agent(name="a", output_type=City, allow_self_spawn=True)
    result = await run(agent, "hi", provider=model)
    assert result.children[0].output == "child text answer"
    child_request = next(r for r in model.requests if r.agent_name == "a_child_1")
    assert child_request.output is None


async def test_stream_events_and_result_serialization() -> None:
    agent = Agent(name="a", output_type=list[City])
    payload = json.dumps(
        {"response": [{"name": "A", "population": 1}, {"name": "B", "population": 2}]}
    )
    events = [e async for e in run.stream(agent, "hi", provider=ScriptedModel([payload]))]
    partials = [e.partial for e in events if isinstance(e, OutputEvent)]
    assert partials[-1] == [City(name="A", population=1), City(name="B", population=2)]
    result = events[-1].result  # type: ignore[union-attr]
    assert result.to_dict()["output"] == [
        {"name": "A", "population": 1},
        {"name": "B", "population": 2},
    ]
    assert json.loads(result.text) == result.to_dict()["output"]
    last = result.messages[-1]
    assert isinstance(last, AssistantMessage) and last.content == payload


async def test_a_plain_agent_streams_no_output_events() -> None:
    events = [e async for e in run.stream(Agent(name="a"), "hi", provider=ScriptedModel(["ok"]))]
    assert not any(isinstance(e, OutputEvent) for e in events)


@given(
    st.lists(
        st.builds(City, name=st.text(max_size=8), population=st.integers(-(10**6), 10**6)),
        max_size=4,
    ),
    st.data(),
)
def test_partial_parsing_takes_any_prefix_and_ends_at_the_value(
    cities: list[City], data: st.DataObject
) -> None:
    output = Agent(name="a", output_type=list[City]).output
    assert output is not None
    raw = json.dumps({"response": [c.model_dump() for c in cities]})
    cut = data.draw(st.integers(0, len(raw)))
    output.partial(raw[:cut])  # never raises, whatever the prefix
    assert output.partial(raw) == cities
    assert output.validate(raw) == cities


@pytest.mark.parametrize(
    ("schema", "ok"),
    [
        ({"type": "object", "properties": {}, "required": [], "additionalProperties": False}, True),
        ({"type": "array", "items": {}}, False),  # the root must be an object
        ({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}, False),
        (
            {
                "type": "object",
                "properties": {"a": {"type": "string", "minLength": 1}},
                "required": ["a"],
                "additionalProperties": False,
            },
            False,  # a keyword strict mode does not take
        ),
        (
            {
                "type": "object",
                "properties": {"a": {"$ref": "#/$defs/B"}},
                "required": ["a"],
                "additionalProperties": False,
                "$defs": {"B": {"type": "object", "properties": {"c": {"type": "integer"}}}},
            },
            False,  # a nested object without additionalProperties: false
        ),
    ],
)
def test_strict_ok(schema: dict[str, Any], ok: bool) -> None:
    assert strict_ok(schema) is ok


def test_a_field_named_like_a_schema_keyword_stays_a_field() -> None:
    class Odd(BaseModel):
        properties: dict[str, int]
        required: list[str]

    output = Agent(name="a", output_type=Odd).output
    assert output is not None
    schema = output.spec.schema
    assert set(schema["properties"]) == {"properties", "required"}
    assert schema["additionalProperties"] is False
    assert output.validate('{"properties": {"a": 1}, "required": []}') == Odd(
        properties={"a": 1}, required=[]
    )
