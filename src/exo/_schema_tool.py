"""Tools described by a JSON schema instead of a Python signature (``Tool.from_schema``).

Toolsets such as MCP servers describe their tools in JSON schema, with argument names that
need not be Python identifiers, so such a tool's function takes the parsed arguments as one
dict. The arguments are validated with ``jsonschema`` (imported here only, when the first
such tool is built) before the function runs; a call that does not fit becomes an error
result the model reads, through :class:`~exo._schema.ArgumentsError`.

``jsonschema`` is pure Python: checking one call's arguments costs tens of µs between real
I/O, most of what exo adds to an MCP call. When ``jsonschema-rs`` is installed (it comes with
``exo-agents[mcp]``), it says first whether the arguments are valid, in about a µs; only
invalid ones go through ``jsonschema``, whose messages the model reads.
"""

from __future__ import annotations

import copy
import inspect
import json
from collections.abc import Awaitable, Callable
from typing import Any

from exo._schema import ArgumentsError
from exo._text import encodable, encodable_json
from exo._threads import Outcome
from exo.errors import ConfigError
from exo.models.base import ToolSpec
from exo.tools import Tool, ToolContext, _check_name, _outcome_of

__all__ = ["SchemaTool", "object_schema"]

_MAX_PROBLEMS = 8
_MAX_PROBLEM_CHARS = 300


def object_schema(parameters: object, *, name: str) -> dict[str, Any]:
    """A copy of ``parameters`` that every model API takes as a tool's argument schema.

    Model APIs want an object schema with ``properties``; MCP servers sometimes send ``{}``
    or leave ``properties`` out for a tool without arguments.

    Raises:
        ConfigError: ``parameters`` is not a JSON object schema.
    """
    if not isinstance(parameters, dict):
        raise ConfigError(
            f"tool {name!r}: parameters must be a JSON schema (a dict), "
            f"got {type(parameters).__name__}",
            parameter="parameters",
        )
    schema = copy.deepcopy(parameters)
    kind = schema.setdefault("type", "object")
    if kind != "object":
        raise ConfigError(
            f"tool {name!r}: the arguments' schema must have type 'object', got {kind!r}",
            parameter="parameters",
            hint="model APIs pass tool arguments as one JSON object",
        )
    schema.setdefault("properties", {})
    return schema


def _validator(schema: dict[str, Any], name: str, *, checked: bool) -> Any:
    """``jsonschema``'s validator for ``schema``; the schema is checked against its
    meta-schema unless ``checked`` (``jsonschema-rs`` compiled it, which checks it in µs:
    ``jsonschema`` takes ~1 ms, seconds for a server listing thousands of tools)."""
    try:
        import jsonschema
    except ImportError as exc:
        raise ConfigError(
            f"tool {name!r}: Tool.from_schema needs the jsonschema package",
            parameter="parameters",
            hint="pip install 'exo-agents[mcp]' (or pip install jsonschema)",
        ) from exc
    cls = jsonschema.validators.validator_for(schema)
    if checked:
        return cls(schema)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ConfigError(
            f"tool {name!r}: parameters is not a valid JSON schema ({exc.message})",
            parameter="parameters",
        ) from exc
    return cls(schema)


def _fast_validator(schema: dict[str, Any]) -> Any:
    """A compiled ``jsonschema-rs`` validator, or ``None`` (not installed, or it refuses a
    schema ``jsonschema`` takes: then ``jsonschema`` alone decides)."""
    try:
        import jsonschema_rs
    except ImportError:
        return None
    try:
        return jsonschema_rs.validator_for(schema)
    except Exception:
        return None


class SchemaTool(Tool):
    """A :class:`~exo.tools.Tool` whose arguments are checked against a JSON schema and
    passed to its function as one dict (see :meth:`Tool.from_schema`)."""

    __slots__ = ("_fast", "_validator")

    def __init__(
        self,
        name: str,
        description: str,
        parameters: dict[str, Any],
        fn: Callable[[dict[str, Any]], Awaitable[Any]],
        *,
        large_output: bool = False,
        requires_approval: bool = False,
    ) -> None:
        self.name = _check_name(name)
        target = fn if inspect.isroutine(fn) else type(fn).__call__
        if not callable(fn) or not (
            inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(target)
        ):
            raise ConfigError(
                f"tool {name!r}: Tool.from_schema needs an async function taking the "
                f"arguments dict, got {fn!r}",
                parameter="fn",
                hint="define it with `async def fn(arguments: dict) -> ...`",
            )
        if not isinstance(description, str):
            raise ConfigError(
                f"tool {name!r}: description must be a string", parameter="description"
            )
        for flag, value in (
            ("large_output", large_output),
            ("requires_approval", requires_approval),
        ):
            if not isinstance(value, bool):
                raise ConfigError(
                    f"tool {name!r}: {flag} must be True or False, got {value!r}", parameter=flag
                )
        schema = object_schema(parameters, name=name)
        self._fast = _fast_validator(schema)
        self._validator = _validator(schema, name, checked=self._fast is not None)
        self.fn = fn
        self.is_async = True
        self.inline = False
        self.description = encodable(description or name)
        self.large_output = large_output
        self.requires_approval = requires_approval
        self.spec = ToolSpec(
            name=self.name, description=self.description, parameters=encodable_json(schema)
        )

    @property
    def takes_context(self) -> bool:
        """Schema tools take only their arguments."""
        return False

    def __repr__(self) -> str:
        return f"Tool.from_schema(name={self.name!r})"

    def bind(self, raw_arguments: str) -> dict[str, Any]:
        """Parse the model's raw JSON arguments and check them against the schema.

        Raises:
            ArgumentsError: malformed JSON, not an object, or not fitting the schema.
        """
        try:
            arguments = json.loads(raw_arguments or "{}")
        except (ValueError, RecursionError) as exc:
            raise self._problem([f"the arguments are not valid JSON ({exc})"]) from None
        if not isinstance(arguments, dict):
            raise self._problem(["the arguments must be a JSON object"])
        if self._fast is not None and self._fast.is_valid(arguments):
            return arguments
        errors = sorted(
            self._validator.iter_errors(arguments), key=lambda e: [str(p) for p in e.path]
        )
        if errors:
            raise self._problem([_line(e) for e in errors[:_MAX_PROBLEMS]])
        return arguments

    def _problem(self, problems: list[str]) -> ArgumentsError:
        return ArgumentsError(
            f"Invalid arguments for tool {self.name!r}: " + "; ".join(problems) + ". "
            "Call the tool again with arguments that match its schema."
        )

    async def invoke(self, kwargs: dict[str, Any], ctx: ToolContext | None = None) -> Outcome:
        """Call the function with the validated arguments dict; return its outcome."""
        try:
            return Outcome(value=await self.fn(kwargs))
        except BaseException as exc:
            return _outcome_of(exc)


def _line(error: Any) -> str:
    where = ".".join(str(p) for p in error.absolute_path) or "(arguments)"
    text = f"{where}: {error.message}"
    if len(text) > _MAX_PROBLEM_CHARS:
        text = text[: _MAX_PROBLEM_CHARS - 3] + "..."
    return encodable(text)
