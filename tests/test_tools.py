"""Tools: schemas from signatures, validation, and failures that become tool results."""

from __future__ import annotations

import asyncio
import enum
import json
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, Field, ValidationError

from exo import ConfigError, Tool, ToolContext, ToolError, tool
from exo._schema import format_validation_error, function_schema
from exo._state import RunState
from exo.context import Context
from exo.tools import execute_tool_calls
from exo.types import ImageBlock, ToolCall


@dataclass
class Event:
    name: str
    at: datetime


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Address(BaseModel):
    city: str
    zip: str | None = None


@dataclass
class Point:
    x: int
    y: int


def rich_signature(
    query: str,
    limit: int = 5,
    mode: Literal["fast", "deep"] = "fast",
    color: Color = Color.RED,
    tags: list[str] | None = None,
    weights: dict[str, float] | None = None,
    address: Address | None = None,
    point: Point | None = None,
    note: Annotated[str, Field(description="a free note")] = "",
) -> str:
    """Search for things.

    Args:
        query: What to look for.
        limit: How many results
            to return at most.
    """
    return query


def test_schema_covers_pydantic_types() -> None:
    t = Tool(rich_signature)
    schema = t.parameters
    props = schema["properties"]
    assert t.description == "Search for things."
    assert schema["required"] == ["query"]
    assert schema["additionalProperties"] is False
    assert props["query"] == {"description": "What to look for.", "type": "string"}
    assert props["limit"]["description"] == "How many results to return at most."
    assert props["limit"]["default"] == 5
    assert props["mode"]["enum"] == ["fast", "deep"]
    assert props["tags"]["anyOf"][0] == {"items": {"type": "string"}, "type": "array"}
    assert props["note"]["description"] == "a free note"
    defs = schema["$defs"]
    assert defs["Color"]["enum"] == ["red", "blue"]
    assert set(defs["Address"]["properties"]) == {"city", "zip"}
    assert set(defs["Point"]["properties"]) == {"x", "y"}
    assert "title" not in props["query"]


def test_tool_decorator_overrides_name_and_description() -> None:
    @tool(name="web_search", description="Search the web.")
    def search(q: str) -> str:
        return q

    assert search.name == "web_search"
    assert search.spec.description == "Search the web."

    @tool
    def bare(q: str) -> str:
        """Bare docs."""
        return q

    assert bare.name == "bare" and bare.description == "Bare docs."


def test_context_param_is_hidden() -> None:
    def with_ctx(ctx: ToolContext, x: int) -> int:
        return x

    t = Tool(with_ctx)
    assert t.takes_context
    assert list(t.parameters["properties"]) == ["x"]


@pytest.mark.parametrize("bad", ["search", 3, b"x", None])
def test_non_callable_tool_is_config_error(bad: object) -> None:
    from exo import Agent

    with pytest.raises(ConfigError) as err:
        Agent(name="a", model="test:m", tools=[bad])  # type: ignore[list-item]
    assert err.value.parameter == "tools"


def test_var_args_rejected() -> None:
    def bad(*args: int) -> int:
        return 0

    with pytest.raises(ConfigError, match=r"\*args"):
        Tool(bad)


def _ctx(call: ToolCall) -> ToolContext:
    return ToolContext(
        agent_name="a",
        tool_call_id=call.id,
        context=Context(),
        state=RunState(agent_name="a", model="t:m"),
    )


async def _run(tools: list[Tool], calls: list[ToolCall]) -> list[tuple[str, bool]]:
    out = await execute_tool_calls(calls, {t.name: t for t in tools}, _ctx)
    return [(str(r.content), r.is_error) for r, _ in out]


called: list[object] = []


def add(a: int, b: int) -> int:
    """Add two numbers."""
    called.append((a, b))
    return a + b


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ('{"a": 1, "b": ', "not valid JSON"),
        ("null", "must be a JSON object"),
        ("[1, 2]", "must be a JSON object"),
        ('"text"', "must be a JSON object"),
        ('{"a": "x", "b": 2}', "a: Input should be a valid integer"),
        ('{"a": 1}', "b: Field required"),
        ('{"a": 1, "b": 2, "c": 3}', "c: Extra inputs are not permitted"),
    ],
)
async def test_malformed_arguments_become_tool_errors(raw: str, fragment: str) -> None:
    called.clear()
    results = await _run([Tool(add)], [ToolCall(id="1", name="add", arguments=raw)])
    ((text, is_error),) = results
    assert is_error
    assert fragment in text
    assert "Call the tool again" in text
    assert called == []  # never called with made-up arguments


async def test_empty_arguments_mean_no_arguments() -> None:
    def ping() -> str:
        return "pong"

    assert await _run([Tool(ping)], [ToolCall(id="1", name="ping", arguments="")]) == [
        ("pong", False)
    ]


async def test_unknown_tool_and_raising_tool_do_not_fail_siblings() -> None:
    def boom(x: int) -> int:
        raise RuntimeError("disk full")

    def refuse(x: int) -> int:
        raise ToolError("x must be even")

    calls = [
        ToolCall(id="1", name="nope", arguments="{}"),
        ToolCall(id="2", name="boom", arguments='{"x": 1}'),
        ToolCall(id="3", name="add", arguments='{"a": 1, "b": 2}'),
        ToolCall(id="4", name="refuse", arguments='{"x": 1}'),
    ]
    results = await _run([Tool(boom), Tool(add), Tool(refuse)], calls)
    assert (
        results[0][1]
        and "Unknown tool 'nope'" in results[0][0]
        and "add, boom, refuse" in results[0][0]
    )
    assert results[1] == ("Error: tool 'boom' raised RuntimeError: disk full", True)
    assert results[2] == ("3", False)
    assert results[3] == ("Error: x must be even", True)


async def test_calls_run_concurrently_and_keep_call_order() -> None:
    started = asyncio.Event()
    order: list[str] = []

    async def slow(name: str) -> str:
        if name == "first":
            await asyncio.wait_for(started.wait(), 2)  # only finishes if "second" runs meanwhile
        else:
            started.set()
        order.append(name)
        return name

    calls = [
        ToolCall(id="1", name="slow", arguments='{"name": "first"}'),
        ToolCall(id="2", name="slow", arguments='{"name": "second"}'),
    ]
    assert await _run([Tool(slow)], calls) == [("first", False), ("second", False)]
    assert order == ["second", "first"]


async def test_sync_tools_run_in_a_thread() -> None:
    def where() -> str:
        return threading.current_thread().name

    ((name, _),) = await _run([Tool(where)], [ToolCall(id="1", name="where")])
    assert name != threading.main_thread().name


async def test_return_values_become_content() -> None:
    def model() -> Address:
        return Address(city="Oslo")

    def image() -> ImageBlock:
        return ImageBlock(url="https://example.com/a.png")

    def data() -> dict[str, int]:
        return {"a": 1}

    out = await execute_tool_calls(
        [ToolCall(id=str(i), name=n) for i, n in enumerate(["model", "image", "data"])],
        {t.name: t for t in (Tool(model), Tool(image), Tool(data))},
        _ctx,
    )
    assert out[0][0].content == '{"city":"Oslo","zip":null}'
    assert out[1][0].content == [ImageBlock(url="https://example.com/a.png")]
    assert out[2][0].content == '{"a": 1}'


async def test_nested_model_arguments_are_validated_into_models() -> None:
    seen: list[object] = []

    def ship(address: Address, point: Point) -> str:
        seen.extend([address, point])
        return "ok"

    args = '{"address": {"city": "Oslo"}, "point": {"x": 1, "y": 2}}'
    assert await _run([Tool(ship)], [ToolCall(id="1", name="ship", arguments=args)]) == [
        ("ok", False)
    ]
    assert seen == [Address(city="Oslo"), Point(x=1, y=2)]


def test_tool_as_a_call_takes_the_options_too() -> None:
    def search(q: str) -> str:
        """Search."""
        return q

    t = tool(search, name="web_search", description="Search the web.", large_output=True)
    assert (t.name, t.description, t.large_output) == ("web_search", "Search the web.", True)


async def test_values_json_cannot_hold_are_written_as_text_inside_the_json() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5)

    def listing() -> dict[str, object]:
        return {"at": when, "n": 1}

    def event() -> Event:
        return Event(name="launch", at=when)

    def point_class() -> type:
        return Point  # a dataclass *class* is not an instance to serialize

    tools = {t.name: t for t in (Tool(listing), Tool(event), Tool(point_class))}
    out = await execute_tool_calls(
        [ToolCall(id=str(i), name=n) for i, n in enumerate(tools)], tools, _ctx
    )
    assert out[0][0].content == '{"at": "2026-01-02 03:04:05", "n": 1}'
    assert out[1][0].content == '{"name": "launch", "at": "2026-01-02 03:04:05"}'
    assert out[2][0].content == json.dumps(str(Point))


async def test_an_object_with_an_async_call_method_is_an_async_tool() -> None:
    class Lookup:
        """Look a key up."""

        __name__ = "lookup"

        async def __call__(self, key: str) -> str:
            await asyncio.sleep(0)
            return f"value of {key}"

    lookup = Tool(Lookup())
    assert lookup.is_async
    ((result, _),) = await execute_tool_calls(
        [ToolCall(id="1", name="lookup", arguments='{"key": "k"}')], {"lookup": lookup}, _ctx
    )
    assert result.content == "value of k" and not result.is_error


def test_tools_are_not_large_output_unless_flagged() -> None:
    def plain() -> str:
        """Plain."""
        return ""

    assert tool()(plain).large_output is False
    assert Tool(plain).large_output is False
    assert tool(large_output=True)(plain).large_output is True


def test_a_tool_without_parameters_has_an_empty_object_schema() -> None:
    def ping() -> str:
        """Ping."""
        return "pong"

    parameters = Tool(ping).spec.parameters
    assert parameters["type"] == "object"
    assert parameters["properties"] == {} and parameters["required"] == []


@pytest.mark.parametrize("section", ["Args", "Arguments", "Parameters"])
def test_argument_descriptions_come_from_any_google_section_name(section: str) -> None:
    def search(query: str, *, limit: int = 3) -> str:
        return query

    search.__doc__ = f"""Search.

    {section}:
        query: The text
            to look for, over
            two lines.
        limit: At most this many.

    Returns:
        query: not an argument description.
    """
    properties = Tool(search).spec.parameters["properties"]
    assert properties["query"]["description"] == "The text to look for, over two lines."
    assert properties["limit"]["description"] == "At most this many."


def test_many_argument_errors_are_capped_at_eight() -> None:
    def wide(a: int, b: int, c: int, d: int, e: int, f: int, g: int, h: int, i: int) -> str:
        """Take nine numbers."""
        return ""

    schema = function_schema(wide, context_type=ToolContext, name="wide")
    with pytest.raises(ValidationError) as caught:
        schema.validate_json("{}")
    message = format_validation_error("wide", caught.value)
    assert message.count("Field required") == 8
    assert "h: Field required" in message and "i:" not in message


async def test_positional_only_parameters_are_passed_by_position() -> None:
    def double(x: int, /, *, twice: bool = True) -> str:
        """Double a number."""
        return str(x * 2 if twice else x)

    async def adouble(x: int, /) -> str:
        """Double a number, asynchronously."""
        return str(x * 2)

    tools = {t.name: t for t in (Tool(double), Tool(adouble))}
    calls = [
        ToolCall(id="1", name="double", arguments='{"x": 21}'),
        ToolCall(id="2", name="adouble", arguments='{"x": 4}'),
    ]
    out = await execute_tool_calls(calls, tools, _ctx)
    assert [(r.content, r.is_error) for r, _ in out] == [("42", False), ("8", False)]
