"""A JSON schema sent by a client (``text.format``) as an exo ``output_type``.

``Agent(output_type=...)`` takes a Python type; a client of ``/v1/responses`` sends a JSON
schema instead. :func:`schema_type` turns the schema into a type pydantic can validate and
describe (``Annotated[Any, ...]``), so the agent's ordinary typed-output machinery asks the model
for it, validates its answer and sends invalid answers back for correction, unchanged.

Validation covers the keywords of OpenAI's strict structured outputs (``type``, ``properties``,
``required``, ``additionalProperties``, ``items``, ``enum``, ``const``, ``anyOf``, and ``$ref``
into ``$defs``); other keywords reach the model as written and are not checked here.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, WithJsonSchema

from exo.errors import ConfigError

__all__ = ["schema_errors", "schema_type"]

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
    "null": (type(None),),
}


def schema_type(schema: dict[str, Any]) -> Any:
    r"""Return a type whose JSON schema is ``schema`` and whose values are checked against it.

    ``$ref``\s into ``$defs`` are written out in place (pydantic would try to resolve them
    against its own definitions).

    Raises:
        ConfigError: the schema refers to itself (a recursive schema), or to a missing
            definition.
    """
    flat = _inline(schema, schema.get("$defs", {}), ())

    def check(value: Any) -> Any:
        errors = schema_errors(value, flat)
        if errors:
            raise ValueError("; ".join(errors[:5]))
        return value

    return Annotated[Any, WithJsonSchema(flat), AfterValidator(check)]


def _inline(node: Any, defs: dict[str, Any], seen: tuple[str, ...]) -> Any:
    if isinstance(node, list):
        return [_inline(n, defs, seen) for n in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        if not ref.startswith("#/$defs/") or name not in defs:
            raise ConfigError(
                f"the schema refers to {ref!r}, which it does not define", parameter="schema"
            )
        if name in seen:
            raise ConfigError(
                f"the schema is recursive ({name!r} contains itself), which is not supported",
                parameter="schema",
            )
        return _inline(defs[name], defs, (*seen, name))
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$defs":
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {k: _inline(v, defs, seen) for k, v in value.items()}
        else:
            out[key] = _inline(value, defs, seen)
    return out


def schema_errors(value: Any, schema: dict[str, Any]) -> list[str]:
    """Every way ``value`` breaks ``schema`` (empty when it fits), each with its JSON path."""
    errors: list[str] = []
    _check(value, schema, schema, "$", errors)
    return errors


def _check(value: Any, node: Any, root: dict[str, Any], path: str, errors: list[str]) -> None:
    if not isinstance(node, dict):
        return
    if "$ref" in node:
        ref = str(node["$ref"])
        target = root.get("$defs", {}).get(ref.rsplit("/", 1)[-1]) if ref.startswith("#/") else None
        if target is None:
            errors.append(f"{path}: unresolvable $ref {ref!r}")
            return
        node = target
    if "anyOf" in node:
        if not any(not schema_errors_at(value, sub, root) for sub in node["anyOf"]):
            errors.append(f"{path}: matches none of anyOf")
        return
    if "const" in node and value != node["const"]:
        errors.append(f"{path}: must be {node['const']!r}")
    if "enum" in node and value not in node["enum"]:
        errors.append(f"{path}: must be one of {node['enum']!r}")
    kinds = node.get("type")
    if kinds is not None:
        names = kinds if isinstance(kinds, list) else [kinds]
        if not any(_is(value, str(name)) for name in names):
            errors.append(f"{path}: must be of type {' or '.join(map(str, names))}")
            return
    if isinstance(value, dict):
        _check_object(value, node, root, path, errors)
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        for i, item in enumerate(value):
            _check(item, node["items"], root, f"{path}[{i}]", errors)


def schema_errors_at(value: Any, node: Any, root: dict[str, Any]) -> list[str]:
    """Errors of ``value`` against a sub-schema ``node`` of ``root``."""
    errors: list[str] = []
    _check(value, node, root, "$", errors)
    return errors


def _check_object(
    value: dict[str, Any], node: dict[str, Any], root: dict[str, Any], path: str, errors: list[str]
) -> None:
    props: dict[str, Any] = node.get("properties", {})
    for name in node.get("required", []):
        if name not in value:
            errors.append(f"{path}.{name}: required")
    extra = node.get("additionalProperties", True)
    for key, item in value.items():
        if key in props:
            _check(item, props[key], root, f"{path}.{key}", errors)
        elif extra is False:
            errors.append(f"{path}.{key}: not allowed (additionalProperties is false)")
        elif isinstance(extra, dict):
            _check(item, extra, root, f"{path}.{key}", errors)


def _is(value: Any, name: str) -> bool:
    if isinstance(value, bool) and name in ("integer", "number"):
        return False  # JSON's true is not a number, though Python's bool is an int
    if name == "number" and isinstance(value, float):
        return True
    return isinstance(value, _TYPES.get(name, (object,)))
