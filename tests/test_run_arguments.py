"""Everything knowable before a run is a ConfigError: tool names and per-call arguments."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import pytest

from exo import Agent, ConfigError, Context, RetryPolicy, Tool, UserMessage, run, tool
from exo.testing import TestModel


def noop() -> str:
    """Do nothing."""
    return ""


GOOD_NAMES = ["a", "web_search", "get-page", "A1_b-2", "x" * 64, "_", "-"]
BAD_NAMES = [
    "搜索",
    "x" * 65,
    "x" * 300,
    "has space",
    "dot.name",
    "slash/name",
    "colon:name",
    "tab\t",
    "emoji🙂",
    "ümlaut",
]


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_names_model_apis_accept_are_accepted(name: str) -> None:
    assert Tool(noop, name=name).name == name
    assert Agent(name="a", model="test:m", tools=[tool(noop, name=name)]).tool_map[name]


@pytest.mark.parametrize("name", BAD_NAMES, ids=range(len(BAD_NAMES)))
def test_names_model_apis_refuse_are_refused_at_construction(name: str) -> None:
    with pytest.raises(ConfigError) as info:
        Tool(noop, name=name)
    assert info.value.parameter == "tools"
    assert "1 to 64 ASCII letters" in str(info.value)
    assert len(str(info.value)) < 400  # a 300-character name is not quoted in full


def test_a_function_named_outside_the_rule_needs_a_name() -> None:
    def 搜索() -> str:
        """Search."""
        return ""

    with pytest.raises(ConfigError, match=r"@tool\(name=\.\.\.\)"):
        Agent(name="a", model="test:m", tools=[搜索])
    assert Agent(name="a", model="test:m", tools=[tool(搜索, name="search")]).tool_map["search"]


AGENT = Agent(name="a", model="test:m")

BAD_OPTIONS: list[tuple[str, Any]] = [
    ("messages", ["hi"]),
    ("messages", "hi"),
    ("messages", [{"role": "user", "content": "hi"}]),
    ("messages", 3),
    ("conversation_id", ""),
    ("conversation_id", 42),
    ("provider", "test:m"),
    ("provider", object()),
    ("context", {"k": "v"}),
    ("max_retries", -3),
    ("max_retries", 21),
    ("max_retries", True),
    ("max_retries", 1.5),
    ("retry", 3),
    ("retry", {"max_retries": 1}),
    ("effects", object()),
]


@pytest.mark.parametrize(("parameter", "value"), BAD_OPTIONS, ids=[p for p, _ in BAD_OPTIONS])
async def test_run_arguments_are_validated_like_agent_arguments(parameter: str, value: Any) -> None:
    model = TestModel("m")
    with pytest.raises(ConfigError) as info:
        await run(AGENT, "hi", **{"provider": model, parameter: value})
    assert info.value.parameter is not None
    assert info.value.parameter.startswith(parameter)
    assert not model.requests  # refused before any model call


@pytest.mark.parametrize(("parameter", "value"), BAD_OPTIONS, ids=[p for p, _ in BAD_OPTIONS])
async def test_stream_arguments_are_validated_too(parameter: str, value: Any) -> None:
    events: AsyncGenerator[Any, None] = run.stream(
        AGENT, "hi", **{"provider": TestModel("m"), parameter: value}
    )
    with pytest.raises(ConfigError):
        async for _ in events:
            pass


@pytest.mark.parametrize(("parameter", "value"), BAD_OPTIONS, ids=[p for p, _ in BAD_OPTIONS])
def test_sync_arguments_are_validated_too(parameter: str, value: Any) -> None:
    with pytest.raises(ConfigError):
        run.sync(AGENT, "hi", **{"provider": TestModel("m"), parameter: value})


@pytest.mark.parametrize("detailed", [1, "yes", None])
async def test_detailed_must_be_a_bool(detailed: Any) -> None:
    with pytest.raises(ConfigError):
        async for _ in run.stream(AGENT, "hi", provider=TestModel("m"), detailed=detailed):
            pass


def test_run_sync_refuses_unknown_arguments_by_its_signature() -> None:
    with pytest.raises(TypeError, match="unexpected keyword"):
        run.sync(AGENT, "hi", detailed=True)  # type: ignore[call-arg]


async def test_good_arguments_still_run() -> None:
    model = TestModel("m")
    result = await run(
        AGENT,
        "hi",
        messages=[UserMessage(content="earlier")],
        provider=model,
        context=Context(),
        max_retries=0,
        retry=RetryPolicy(max_retries=1),
    )
    assert result.output
    assert model.requests[0].messages[0] == UserMessage(content="earlier")
