"""Typed output: an agent's ``output_type`` → the JSON schema the model is asked for, the
validation of its answer, the correction sent back when it fails, and partial parsing for
streams.

An :class:`OutputType` is built once, when the Agent is constructed (an unsupported type is a
:class:`~exo.errors.ConfigError` there). A run hands its :class:`~exo.models.base.OutputSpec`
to the provider, which asks the model in its API's native way (a JSON-schema response format,
a grammar) or through a ``final_result`` tool; the loop then reads the answer back through
:meth:`OutputType.answer_of` and :meth:`OutputType.validate`. Agents with the default
``output_type=str`` have no OutputType at all, so they pay nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Generic, get_origin

import pydantic_core
from pydantic import ConfigDict, TypeAdapter, ValidationError, create_model
from pydantic.errors import PydanticUserError

from exo.errors import ConfigError
from exo.models.base import FINAL_RESULT, ModelChunk, OutputSpec, TextDelta, ToolCallDelta
from exo.types import AssistantMessage, OutputT, ToolCall, ToolResult

__all__ = [
    "FINAL_RESULT",
    "Answer",
    "OutputT",
    "OutputType",
    "PartialOutput",
    "build_output",
    "closing_results",
    "error_lines",
    "strict_ok",
]

WRAP_KEY = "response"
"""The one property a non-object output is wrapped in (APIs want an object at the root)."""

# The keywords OpenAI's strict structured outputs accept (a conservative subset of its docs):
# a schema using anything else is sent with ``strict: false``.
_STRICT_KEYWORDS = frozenset(
    {
        "type",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "enum",
        "const",
        "anyOf",
        "$ref",
        "$defs",
        "description",
        "title",
    }
)
_FENCE = re.compile(r"^```(?:json)?\s*\n?(.*?)\n?```$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Answer:
    """The typed answer a model turn holds, as the model sent it.

    Attributes:
        raw: The JSON text: the message text, or the ``final_result`` call's arguments.
        call: The ``final_result`` tool call it came in (``None`` for a text answer).
    """

    raw: str
    call: ToolCall | None = None


class OutputType(Generic[OutputT]):
    """One ``output_type``, prepared once: its validator, its wire schema and spec.

    Args:
        tp: The type (a pydantic model, dataclass, TypedDict, ``list``/``dict`` of those,
            a ``Literal``, a union...).
        retries: How many invalid answers are sent back for correction before the run fails.
    """

    __slots__ = ("_wrapper", "adapter", "retries", "spec", "tp", "wrapped")

    def __init__(self, tp: Any, *, retries: int) -> None:
        self.tp = tp
        self.retries = retries
        try:
            if not isinstance(tp, type) and get_origin(tp) is None:
                raise TypeError("it is a value, not a type")
            self.adapter: TypeAdapter[OutputT] = TypeAdapter(tp)
            schema = self.adapter.json_schema()
        except (PydanticUserError, pydantic_core.SchemaError, TypeError, NameError) as exc:
            raise ConfigError(
                f"output_type {_name(tp)} is not a type exo can ask a model for ({exc})",
                parameter="output_type",
                hint="use a pydantic model, a dataclass, a TypedDict, list[...] or "
                "dict[str, ...] of those, a Literal[...] or a union of models",
            ) from None
        self.wrapped = schema.get("type") != "object"
        self._wrapper: TypeAdapter[Any] | None = None
        if self.wrapped:
            self._wrapper = TypeAdapter(
                create_model(
                    "Wrapped",
                    __config__=ConfigDict(extra="forbid"),
                    **{WRAP_KEY: (tp, ...)},  # type: ignore[call-overload]
                )
            )
            schema = _wrap(schema)
        schema = _close_objects(schema)
        self.spec = OutputSpec(
            name=_schema_name(tp),
            schema=schema,
            strict=strict_ok(schema),
            description="Give your final answer: its arguments are the answer.",
        )

    def answer_of(self, message: AssistantMessage) -> Answer | None:
        """Find the answer in a model turn: a ``final_result`` call, or the text of a turn
        without tool calls; ``None`` when the model called (other) tools first."""
        for call in message.tool_calls:
            if call.name == FINAL_RESULT:
                return Answer(call.arguments, call)
        if message.tool_calls:
            return None
        return Answer(message.content)

    def validate(self, raw: str) -> OutputT:
        """Validate the JSON the model sent (unwrapping a wrapped output).

        Raises:
            ValidationError: it is not JSON, or not a valid value of the type.
        """
        text = _unfence(raw)
        if self._wrapper is not None:
            value: OutputT = getattr(self._wrapper.validate_json(text), WRAP_KEY)
            return value
        return self.adapter.validate_json(text)

    def partial(self, raw: str) -> Any:
        """Parse a growing answer as far as it goes: a valid (partial) value if it validates
        so far, else the plain JSON data; ``None`` before any JSON."""
        try:
            data = pydantic_core.from_json(_unfence(raw), allow_partial=True)
        except ValueError:
            return None
        if self.wrapped:
            if not isinstance(data, dict) or WRAP_KEY not in data:
                return None
            data = data[WRAP_KEY]
        try:
            return self.adapter.validate_python(data, experimental_allow_partial=True)
        except ValidationError:
            return data

    def retry_message(self, errors: list[str], *, tool: bool) -> str:
        """The correction sent back to the model after an invalid answer."""
        again = (
            f"Call {FINAL_RESULT} again with corrected arguments."
            if tool
            else "Answer again with only the corrected JSON."
        )
        listed = "\n".join(f"- {e}" for e in errors)
        return f"Your answer does not match the required output format:\n{listed}\n{again}"


class PartialOutput:
    """Follow one streamed model call and parse its typed answer as it grows.

    The answer is the text, or the arguments of the ``final_result`` call once one starts.
    """

    __slots__ = ("_args", "_index", "_last", "_output", "_text")

    def __init__(self, output: OutputType[Any]) -> None:
        self._output = output
        self._text = ""
        self._args = ""
        self._index: int | None = None
        self._last: Any = None

    def feed(self, chunk: ModelChunk) -> tuple[bool, Any]:
        """Take one delta; return ``(True, value)`` when the parsed answer changed."""
        if isinstance(chunk, TextDelta) and self._index is None:
            self._text += chunk.text
            raw = self._text
        elif isinstance(chunk, ToolCallDelta):
            if chunk.name == FINAL_RESULT:
                self._index = chunk.index
            if chunk.index != self._index or not chunk.arguments:
                return False, None
            self._args += chunk.arguments
            raw = self._args
        else:
            return False, None
        value = self._output.partial(raw)
        if value is None or value == self._last:
            return False, None
        self._last = value
        return True, value


def closing_results(
    message: AssistantMessage, answer: Answer, content: str, *, accepted: bool
) -> list[ToolResult]:
    """The results that close a turn holding a typed answer in tool mode: ``content`` for
    the ``final_result`` call, and a "not run" for any other call made beside it (so the
    transcript stays valid for every API when it is continued, e.g. from memory)."""
    results = []
    for call in message.tool_calls:
        if call is answer.call:
            results.append(
                ToolResult(
                    tool_call_id=call.id,
                    tool_name=call.name,
                    content=content,
                    is_error=not accepted,
                )
            )
        else:
            results.append(
                ToolResult(
                    tool_call_id=call.id,
                    tool_name=call.name,
                    content=f"Not run: {FINAL_RESULT} was called in the same turn. Call the "
                    f"tools you need first, then {FINAL_RESULT} on its own.",
                    is_error=True,
                )
            )
    return results


def build_output(tp: Any, retries: int) -> OutputType[Any] | None:
    """Prepare ``tp`` once at Agent construction; ``None`` for ``str`` (plain text, free).

    Raises:
        ConfigError: ``tp`` cannot be validated or described as a JSON schema.
    """
    if tp is str:
        return None
    return OutputType(tp, retries=retries)


def error_lines(exc: ValidationError) -> list[str]:
    """One line per validation error: where, and what is wrong."""
    lines = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "(root)"
        lines.append(f"{where}: {err['msg']}")
    return lines


def strict_ok(schema: dict[str, Any]) -> bool:
    """Whether OpenAI's strict mode accepts ``schema``: an object root, every object with
    all properties required and ``additionalProperties: false``, only supported keywords."""
    if schema.get("type") != "object":
        return False
    return _strict_node(schema)


def _strict_node(node: Any) -> bool:
    if isinstance(node, list):
        return all(_strict_node(n) for n in node)
    if not isinstance(node, dict):
        return True
    if any(k not in _STRICT_KEYWORDS for k in node):
        return False
    if node.get("type") == "object" or "properties" in node:
        props = node.get("properties", {})
        if node.get("additionalProperties") is not False or set(node.get("required", [])) != set(
            props
        ):
            return False
        if not all(_strict_node(p) for p in props.values()):
            return False
    children = [node[k] for k in ("items", "anyOf") if k in node]
    children += list(node.get("$defs", {}).values())
    return all(_strict_node(c) for c in children)


def _wrap(schema: dict[str, Any]) -> dict[str, Any]:
    """Put a non-object schema under one required property (``$defs`` stay at the root, so
    its ``#/$defs/...`` references still resolve)."""
    inner = {k: v for k, v in schema.items() if k != "$defs"}
    wrapped: dict[str, Any] = {
        "type": "object",
        "properties": {WRAP_KEY: inner},
        "required": [WRAP_KEY],
    }
    if "$defs" in schema:
        wrapped["$defs"] = schema["$defs"]
    return wrapped


def _close_objects(node: Any) -> Any:
    """Say ``additionalProperties: false`` on objects with fixed properties that say
    nothing: pydantic ignores extra keys there anyway, and strict mode requires it."""
    if isinstance(node, list):
        return [_close_objects(n) for n in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("properties", "$defs") and isinstance(value, dict):
            # a map of names to schemas (a field may be named "properties"), not a schema
            out[key] = {name: _close_objects(sub) for name, sub in value.items()}
        else:
            out[key] = _close_objects(value)
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def _unfence(raw: str) -> str:
    """Drop a Markdown code fence some models put around JSON."""
    text = raw.strip()
    match = _FENCE.match(text)
    return match.group(1) if match else text


def _name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or repr(tp)


def _schema_name(tp: Any) -> str:
    """A name for the schema as APIs accept it (letters, digits, ``_`` and ``-``, ≤ 64)."""
    name = tp.__name__ if isinstance(tp, type) else "output"
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)[:64]
