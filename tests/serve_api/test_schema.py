"""A client's JSON schema as an output_type: the model is asked for it and checked against it."""

from __future__ import annotations

from typing import Any

import pytest

from exo import Agent, run
from exo.errors import ConfigError
from exo.serve._schema import schema_errors, schema_type
from exo.testing import ScriptedModel

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "days": {"type": "array", "items": {"$ref": "#/$defs/Day"}},
        "unit": {"enum": ["C", "F"]},
        "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    },
    "required": ["city", "days", "unit", "note"],
    "additionalProperties": False,
    "$defs": {
        "Day": {
            "type": "object",
            "properties": {"t": {"type": "number"}, "rain": {"type": "boolean"}},
            "required": ["t", "rain"],
            "additionalProperties": False,
        }
    },
}
GOOD = {"city": "Paris", "days": [{"t": 21.5, "rain": False}], "unit": "C", "note": None}


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ({**GOOD, "city": 3}, "$.city: must be of type string"),
        ({**GOOD, "unit": "K"}, "$.unit: must be one of"),
        ({**GOOD, "extra": 1}, "$.extra: not allowed"),
        ({k: v for k, v in GOOD.items() if k != "note"}, "$.note: required"),
        ({**GOOD, "days": [{"t": True, "rain": False}]}, "$.days[0].t: must be of type number"),
        ({**GOOD, "note": 5}, "$.note: matches none of anyOf"),
        ([], "$: must be of type object"),
    ],
)
def test_schema_errors_name_where_the_value_breaks_it(value: Any, error: str) -> None:
    errors = schema_errors(value, SCHEMA)
    assert any(e.startswith(error) for e in errors), errors


def test_a_fitting_value_has_no_errors() -> None:
    assert schema_errors(GOOD, SCHEMA) == []
    assert schema_errors({**GOOD, "days": [{"t": 3, "rain": True}]}, SCHEMA) == []


async def test_an_agent_asks_for_the_schema_and_corrects_a_bad_answer() -> None:
    model = ScriptedModel(
        ['{"city": "Paris"}', '{"city": "Paris", "days": [], "unit": "C", "note": "dry"}']
    )
    agent = Agent(name="typed", model="test:x", output_type=schema_type(SCHEMA))
    result = await run(agent, "Weather?", provider=model)
    assert result.output == {"city": "Paris", "days": [], "unit": "C", "note": "dry"}
    first, second = model.requests
    assert first.output is not None
    day = first.output.schema["properties"]["days"]["items"]  # $ref written out in place
    assert day["required"] == ["t", "rain"] and "$defs" not in first.output.schema
    correction = second.messages[-1].content
    assert isinstance(correction, str) and "$.days: required" in correction


def test_a_recursive_or_dangling_schema_is_refused() -> None:
    node = {
        "type": "object",
        "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/N"}}},
    }
    with pytest.raises(ConfigError, match="recursive"):
        schema_type({**node, "$defs": {"N": node}})
    with pytest.raises(ConfigError, match="does not define"):
        schema_type(node)
