"""Tool.from_schema: a JSON schema and an async function of the arguments dict."""

from __future__ import annotations

from typing import Any

import pytest

from exo import Agent, ConfigError, Tool, ToolError, ToolResult, run
from exo.testing import ScriptedModel, call

pytest.importorskip("jsonschema")

SCHEMA = {
    "type": "object",
    "properties": {
        "path": {"type": "string", "minLength": 1},
        "max-lines": {"type": "integer", "minimum": 1},
    },
    "required": ["path"],
    "additionalProperties": False,
}


def reader(seen: list[dict[str, Any]]) -> Tool:
    async def read(arguments: dict[str, Any]) -> str:
        seen.append(arguments)
        if arguments["path"] == "missing":
            raise ToolError("no such file: missing")
        return f"read {arguments['path']} ({arguments.get('max-lines', 'all')} lines)"

    return Tool.from_schema("read_file", "Read a file.", SCHEMA, read)


async def results(tool: Tool, *calls: dict[str, Any] | str) -> list[ToolResult]:
    replies = [call("read_file", c) for c in calls]
    agent = Agent(name="a", model="test:x", tools=[tool])
    result = await run(agent, "go", provider=ScriptedModel([*replies, "done"]))
    return [m for m in result.messages if isinstance(m, ToolResult)]


def test_the_spec_is_the_schema_as_given() -> None:
    tool = reader([])
    assert (tool.name, tool.description) == ("read_file", "Read a file.")
    assert tool.parameters == SCHEMA
    assert tool.parameters is not SCHEMA  # a copy: later changes to the caller's dict do not leak


async def test_valid_arguments_reach_the_function_as_one_dict() -> None:
    seen: list[dict[str, Any]] = []
    (result,) = await results(reader(seen), {"path": "a.txt", "max-lines": 3})
    assert (result.content, result.is_error) == ("read a.txt (3 lines)", False)
    assert seen == [{"path": "a.txt", "max-lines": 3}]


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"max-lines": 3}, "(arguments): 'path' is a required property"),
        ({"path": ""}, "path: '' should be non-empty"),
        ({"path": "a", "max-lines": 0}, "max-lines: 0 is less than the minimum of 1"),
        (
            {"path": "a", "mode": "w"},
            "Additional properties are not allowed ('mode' was unexpected)",
        ),
        ('{"path": ', "the arguments are not valid JSON"),
        ("[1, 2]", "the arguments must be a JSON object"),
    ],
)
async def test_invalid_arguments_are_an_error_result_and_the_function_is_not_called(
    arguments: dict[str, Any] | str, problem: str
) -> None:
    seen: list[dict[str, Any]] = []
    (result,) = await results(reader(seen), arguments)
    assert result.is_error
    assert str(result.content).startswith("Invalid arguments for tool 'read_file': ")
    assert problem in str(result.content)
    assert seen == []


async def test_a_tool_error_is_the_text_the_model_reads() -> None:
    (result,) = await results(reader([]), {"path": "missing"})
    assert (result.content, result.is_error) == ("Error: no such file: missing", True)


def test_a_schema_without_type_or_properties_is_made_an_object_schema() -> None:
    async def fn(arguments: dict[str, Any]) -> str:
        return "ok"

    assert Tool.from_schema("t", "d", {}, fn).parameters == {"type": "object", "properties": {}}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"parameters": {"type": "array"}}, "must have type 'object'"),
        ({"parameters": {"type": "object", "properties": 3}}, "is not a valid JSON schema"),
        ({"parameters": "{}"}, "parameters must be a JSON schema"),
        ({"name": "has space"}, "is not accepted by model APIs"),
        ({"fn": lambda arguments: "sync"}, "needs an async function"),
    ],
)
def test_bad_definitions_are_config_errors(kwargs: dict[str, Any], message: str) -> None:
    async def fn(arguments: dict[str, Any]) -> str:
        return "ok"

    given: dict[str, Any] = {"name": "t", "description": "d", "parameters": {}, "fn": fn}
    given.update(kwargs)
    with pytest.raises(ConfigError, match=message):
        Tool.from_schema(**given)


async def test_without_jsonschema_rs_jsonschema_alone_decides() -> None:
    seen: list[dict[str, Any]] = []
    tool = reader(seen)
    tool._fast = None  # type: ignore[attr-defined]  # as when jsonschema-rs is not installed
    good, bad = await results(tool, {"path": "a.txt"}, {"path": 3})
    assert (good.content, good.is_error) == ("read a.txt (all lines)", False)
    assert bad.is_error and "path: 3 is not of type 'string'" in str(bad.content)
    assert seen == [{"path": "a.txt"}]
