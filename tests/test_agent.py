"""Agent configuration: validated at construction with errors that name the parameter."""

from __future__ import annotations

import pytest

from exo import Agent, ConfigError, tool


def noop() -> str:
    """Do nothing."""
    return ""


@pytest.mark.parametrize(
    ("kwargs", "parameter", "fragment"),
    [
        ({"name": ""}, "name", "non-empty"),
        ({"name": 3}, "name", "must be a non-empty string"),
        ({"model": "gpt-4o"}, "model", "not of the form 'backend:model'"),
        ({"model": ":gpt"}, "model", "not of the form"),
        ({"model": "openai:"}, "model", "not of the form"),
        ({"model": 4}, "model", "must be a string"),
        ({"instructions": 3}, "instructions", "string or a function"),
        ({"tools": noop}, "tools", "list of functions"),
        ({"tools": "noop"}, "tools", "list of functions"),
        ({"tools": [noop, noop]}, "tools", "two tools are named 'noop'"),
        ({"tools": ["noop"]}, "tools", "functions or Tool objects"),
        ({"memory": 3}, "memory", "not a memory backend"),
        ({"memory": "redis"}, "memory", "not a known memory backend"),
        ({"context": {}}, "context", "exo.Context"),
        ({"max_steps": 0}, "max_steps", ">= 1"),
        ({"max_steps": "5"}, "max_steps", "an integer"),
        ({"max_steps": True}, "max_steps", "bool"),
        ({"temperature": 3}, "temperature", "between 0 and 2"),
        ({"temperature": "hot"}, "temperature", "a number"),
        ({"max_tokens": 0}, "max_tokens", ">= 1"),
        ({"max_retries": -1}, "max_retries", "from 0 to 20"),
        ({"planning_enabled": "yes"}, "planning_enabled", "True or False"),
        ({"planning_model": "cheap"}, "planning_model", "backend:model"),
        ({"planning_model": 5}, "planning_model", "'backend:model' string"),
        ({"planning_instructions": None}, "planning_instructions", "a string"),
        ({"planning_max_steps": 0}, "planning_max_steps", ">= 1"),
        ({"planning_on_error": "ignore"}, "planning_on_error", "'raise' or 'skip'"),
        ({"planning_tools": ["nope"]}, "planning_tools", "no tool named 'nope'"),
        ({"allow_self_spawn": 1}, "allow_self_spawn", "True or False"),
        ({"max_spawn_children": 0}, "max_spawn_children", "from 1 to 16"),
        ({"max_spawn_children": 17}, "max_spawn_children", "from 1 to 16"),
        ({"max_spawn_depth": -1}, "max_spawn_depth", "from 0 to 10"),
        ({"artifact_threshold": -5}, "artifact_threshold", "from 0"),
        ({"context_tools": "on"}, "context_tools", "True or False"),
    ],
)
def test_bad_configuration_names_the_parameter(
    kwargs: dict[str, object], parameter: str, fragment: str
) -> None:
    args: dict[str, object] = {"name": "a", "model": "test:m", "tools": [noop]}
    args.update(kwargs)
    with pytest.raises(ConfigError) as err:
        Agent(**args)  # type: ignore[arg-type]
    assert err.value.parameter == parameter
    assert fragment in str(err.value)
    assert isinstance(err.value, ValueError)


def test_defaults_match_the_spec() -> None:
    agent = Agent(name="a")
    assert agent.planning_enabled is False
    assert agent.planning_model is None
    assert agent.planning_instructions == ""
    assert agent.allow_self_spawn is False
    assert agent.max_spawn_children == 4
    assert agent.max_steps == 10


def test_agents_are_frozen_and_replace_validates() -> None:
    agent = Agent(name="a", model="test:m", tools=[noop])
    with pytest.raises(AttributeError):
        agent.name = "b"  # type: ignore[misc]
    copy = agent.replace(name="b")
    assert copy.name == "b" and copy.tool_map["noop"] is agent.tool_map["noop"]
    with pytest.raises(ConfigError):
        agent.replace(max_steps=0)


def test_unknown_backend_is_not_a_construction_error() -> None:
    Agent(name="a", model="foo:bar", planning_model="baz:qux")  # resolved at run time


def test_repr_is_short() -> None:
    agent = Agent(name="a", model="test:m", tools=[tool(noop)], planning_enabled=True)
    assert repr(agent) == "Agent(name='a', model='test:m', tools=['noop'], planning_enabled=True)"


def test_a_tool_may_not_take_a_builtin_name() -> None:
    @tool(name="spawn_self")
    def mine(x: int) -> int:
        return x

    Agent(name="a", model="test:m", tools=[mine])  # fine while self-spawn is off
    with pytest.raises(ConfigError, match="'spawn_self' is the name of a built-in tool"):
        Agent(name="a", model="test:m", tools=[mine], allow_self_spawn=True)
    with pytest.raises(ConfigError, match="'add_todo'"):
        Agent(name="a", model="test:m", tools=[tool(noop, name="add_todo")], context_tools=True)
    with pytest.raises(ConfigError, match="'retrieve_artifact'"):
        Agent(name="a", model="test:m", tools=[tool(noop, name="retrieve_artifact")])
    Agent(
        name="a", model="test:m", tools=[tool(noop, name="retrieve_artifact")], artifact_threshold=0
    )
