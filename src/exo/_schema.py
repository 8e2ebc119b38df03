"""Turn a function signature and docstring into a JSON schema and an argument validator.

The schema comes from a pydantic model built from the signature, so nested models,
dataclasses, enums, ``Literal``, ``Optional``, lists, dicts, defaults and ``Annotated``
descriptions all work; Google-style ``Args:`` sections in the docstring describe parameters.
Validation runs on the raw JSON text the model sent, so malformed JSON and wrong types
become clear messages for the model.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from exo.errors import ConfigError

__all__ = ["ArgumentsError", "FunctionSchema", "function_schema", "parse_docstring"]

_SECTION = re.compile(
    r"^\s*(Args|Arguments|Parameters|Returns|Raises|Yields|Examples?|Notes?):\s*$"
)
_ARG_LINE = re.compile(r"^\s*(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into its description and per-argument descriptions."""
    if not doc:
        return "", {}
    lines = inspect.cleandoc(doc).splitlines()
    description: list[str] = []
    args: dict[str, str] = {}
    section: str | None = None
    current: str | None = None
    arg_indent = 0
    for line in lines:
        header = _SECTION.match(line)
        if header:
            section, current = header.group(1), None
            continue
        if section is None:
            description.append(line)
        elif section in ("Args", "Arguments", "Parameters") and line.strip():
            indent = len(line) - len(line.lstrip())
            match = _ARG_LINE.match(line)
            if match and (current is None or indent <= arg_indent):
                current, arg_indent = match.group(1).lstrip("*"), indent
                args[current] = match.group(2).strip()
            elif current is not None:
                args[current] = f"{args[current]} {line.strip()}".strip()
    return "\n".join(description).strip(), args


def _strip_titles(node: Any) -> Any:
    if isinstance(node, dict):
        props = node.get("properties")
        out = {k: _strip_titles(v) for k, v in node.items() if k != "title" or props is None}
        if props is not None:
            out.pop("title", None)
            out["properties"] = {k: _strip_titles(v) for k, v in props.items()}
        return {k: v for k, v in out.items() if not (k == "title" and isinstance(v, str))}
    if isinstance(node, list):
        return [_strip_titles(v) for v in node]
    return node


@dataclass(frozen=True, slots=True)
class FunctionSchema:
    """A function's argument model, its JSON schema and what the docstring said."""

    model: type[BaseModel]
    json_schema: dict[str, Any]
    description: str
    context_param: str | None
    positional: tuple[str, ...]

    def validate_json(self, raw: str) -> dict[str, Any]:
        """Validate the model's raw JSON arguments; return keyword arguments for the call.

        Raises:
            ValidationError: the JSON is malformed or does not fit the schema.
        """
        instance = self.model.model_validate_json(raw or "{}")
        # the model forbids extra fields and has no private ones: its __dict__ holds exactly
        # the validated fields (reading model_fields on every call cost a few µs)
        return dict(instance.__dict__)


def function_schema(fn: Callable[..., Any], *, context_type: type, name: str) -> FunctionSchema:
    """Build the :class:`FunctionSchema` of ``fn``.

    Args:
        fn: The tool function.
        context_type: Parameters annotated with this type are injected, not shown to the model.
        name: The tool's name, for error messages.

    Raises:
        ConfigError: the signature cannot be turned into a schema.
    """
    try:
        sig = inspect.signature(fn)
        # a callable object's hints live on its class's __call__ (get_type_hints refuses objects)
        annotated = fn if inspect.isroutine(fn) or isinstance(fn, type) else type(fn).__call__
        hints = get_type_hints(
            annotated, localns={context_type.__name__: context_type}, include_extras=True
        )
    except (TypeError, ValueError, NameError) as exc:
        raise ConfigError(
            f"tool {name!r}: cannot read its signature ({exc})",
            parameter="tools",
            hint="give every parameter a type hint that can be resolved at runtime",
        ) from exc
    description, arg_docs = parse_docstring(inspect.getdoc(fn))
    fields: dict[str, Any] = {}
    context_param: str | None = None
    positional: list[str] = []
    for pname, param in sig.parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ConfigError(
                f"tool {name!r}: *{pname} / **{pname} parameters are not supported",
                parameter="tools",
                hint="list each argument the model may pass as a named, typed parameter",
            )
        annotation = hints.get(pname, Any)
        if annotation is context_type:
            context_param = pname
            continue
        if param.kind is param.POSITIONAL_ONLY:
            positional.append(pname)
        default = ... if param.default is param.empty else param.default
        doc = arg_docs.get(pname)
        fields[pname] = (annotation, Field(default, description=doc) if doc else default)
    try:
        model = create_model(  # type: ignore[call-overload]
            f"{name}_args",
            __config__=ConfigDict(extra="forbid", arbitrary_types_allowed=False),
            **fields,
        )
        schema = _strip_titles(model.model_json_schema())
    except Exception as exc:  # pydantic raises several kinds for unsupported types
        raise ConfigError(
            f"tool {name!r}: cannot build a JSON schema from its signature ({exc})",
            parameter="tools",
            hint="use JSON-friendly types: str, int, float, bool, lists, dicts, enums, "
            "Literal, dataclasses or pydantic models",
        ) from exc
    schema.setdefault("properties", {})
    schema.setdefault("required", [])
    return FunctionSchema(model, schema, description, context_param, tuple(positional))


class ArgumentsError(ValueError):
    """A tool call's arguments do not fit the tool's schema; the message is for the model."""


def format_validation_error(tool: str, exc: ValidationError) -> str:
    """Describe argument errors so the model can fix its call."""
    problems: list[str] = []
    for err in exc.errors(include_url=False)[:8]:
        loc = ".".join(str(p) for p in err["loc"]) or "(arguments)"
        if err["type"] == "json_invalid":
            problems.append(f"the arguments are not valid JSON ({err['msg']})")
        elif err["type"] == "model_type":
            problems.append("the arguments must be a JSON object")
        else:
            problems.append(f"{loc}: {err['msg']}")
    return (
        f"Invalid arguments for tool {tool!r}: " + "; ".join(problems) + ". "
        "Call the tool again with arguments that match its schema."
    )
