"""Finding the agent for the ``exo`` command: Python references, agent files, the default.

An AGENT argument is one of:

* a Python reference: ``examples/researcher.py:agent`` (a file) or ``mypkg.agents:writer`` (a
  module, importable from the current directory); ``:attr`` defaults to ``agent``, and the
  attribute may be an :class:`~exo.Agent` or a function returning one;
* an agent file, ``.yaml``/``.yml``/``.toml``: the Agent's settings as keys, with ``tools``
  as import paths (``"mypkg.tools:search"`` or ``"tools.py:search"``, relative to the file)
  and ``mcp`` as a list of MCP servers (see :mod:`exo._cli_toolsets`).
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import sys
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

from exo._cli_toolsets import servers_from_file
from exo.agent import Agent
from exo.errors import ConfigError
from exo.models import known_backends, parse_model

__all__ = [
    "DEFAULT_MODEL",
    "apply_overrides",
    "check_backends",
    "default_agent",
    "is_agent_reference",
    "load_agent",
]

DEFAULT_MODEL = "local:gemma-3-270m"
"""The model of the default agent: the embedded one, so ``exo run "task"`` works offline."""

_AGENT_FILE_SUFFIXES = (".yaml", ".yml", ".toml")
_NOT_IN_FILES = {"context", "tool_map"}


def default_agent() -> Agent[Any]:
    """The agent ``exo run "task"`` uses when no AGENT is given: a planning researcher."""
    return Agent(
        name="researcher",
        model=DEFAULT_MODEL,
        instructions="You are a thorough research assistant. Answer clearly and briefly.",
        planning_enabled=True,
        planning_instructions=(
            "Make a short numbered plan of the steps the task needs. Do not carry it out."
        ),
        max_steps=4,
    )


def load_agent(reference: str) -> Agent[Any]:
    """Load the agent named by an AGENT argument.

    Raises:
        ConfigError: the reference cannot be found, imported, or is not an agent.
    """
    if Path(reference).suffix.lower() in _AGENT_FILE_SUFFIXES:
        return _load_agent_file(Path(reference))
    target, attr = _split_reference(reference, default_attr="agent")
    value = getattr(_import_target(target, what="agent"), attr, _MISSING)
    if value is _MISSING:
        raise ConfigError(
            f"{target!r} has no attribute {attr!r}",
            parameter="agent",
            hint=f"name the agent explicitly, e.g. {target}:my_agent",
        )
    if callable(value) and not isinstance(value, Agent):
        value = value()
    if not isinstance(value, Agent):
        raise ConfigError(
            f"{reference!r} is a {type(value).__name__}, not an exo.Agent",
            parameter="agent",
            hint="point at an Agent instance, or a function returning one",
        )
    return value


def is_agent_reference(text: str) -> bool:
    """Whether ``text`` names an existing agent file (``x.py``, ``x.py:attr``, ``x.yaml``...).

    ``exo run TEXT`` with one argument takes it as the task; when it is an agent file the user
    most likely forgot the task, and running the default agent on a file name helps nobody.
    """
    path = Path(text)
    if path.suffix.lower() in (*_AGENT_FILE_SUFFIXES, ".py"):
        return path.is_file()
    target, sep, _ = text.rpartition(":")
    return bool(sep) and target.endswith(".py") and Path(target).is_file()


def apply_overrides(agent: Agent[Any], **overrides: Any) -> Agent[Any]:
    """Return ``agent`` with the command-line options that were given (``None`` = not given)."""
    changes = {k: v for k, v in overrides.items() if v is not None}
    return agent.replace(**changes) if changes else agent


def check_backends(agent: Agent[Any]) -> None:
    """Fail early, as a usage error, on a model string naming an unknown backend."""
    for label, model in (("model", agent.model), ("planning_model", agent.planning_model)):
        if model is None:
            continue
        backend, _ = parse_model(model)
        if backend not in known_backends():
            raise ConfigError(
                f"unknown backend {backend!r} in {label} {model!r}",
                parameter=label,
                hint=f"known backends: {', '.join(known_backends())} (see `exo models`)",
            )


_MISSING = object()


def _split_reference(reference: str, *, default_attr: str | None) -> tuple[str, str]:
    target, sep, attr = reference.rpartition(":")
    if not sep or not attr or "/" in attr or "\\" in attr or not target:
        if default_attr is None:
            raise ConfigError(
                f"{reference!r} is not of the form 'module:name' or 'file.py:name'",
                parameter="tools",
            )
        return reference, default_attr
    return target, attr


def _import_target(target: str, *, what: str, base: Path | None = None) -> ModuleType:
    """Import a module by dotted name, or run a ``.py`` file as a module."""
    path = Path(target)
    if base is not None and not path.is_absolute():
        path = base / path
    if target.endswith(".py") or path.is_file():
        if not path.is_file():
            raise ConfigError(f"{what} file {str(path)!r} not found", parameter=what)
        return _import_file(path, what=what)
    root = str(base or Path.cwd())
    if root not in sys.path:
        sys.path.insert(0, root)
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"cannot import {target!r} to find the {what}: {exc}",
            parameter=what,
            hint="give a file path (agents/x.py:agent) or a module importable from here",
        ) from exc
    except SystemExit as exc:
        raise _exited(f"module {target!r}", exc, what) from None
    except Exception as exc:
        raise ConfigError(f"importing {target!r} failed: {exc}", parameter=what) from exc


def _import_file(path: Path, *, what: str) -> ModuleType:
    path = path.resolve()
    name = f"_exo_cli_{path.stem}_{abs(hash(str(path)))}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{what} file {str(path)!r} is not a Python module", parameter=what)
    module = importlib.util.module_from_spec(spec)
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))  # so the file can import its neighbours
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except SystemExit as exc:  # e.g. a script's own sys.exit(): not a way to end `exo` quietly
        del sys.modules[name]
        raise _exited(f"{what} file {str(path)!r}", exc, what) from None
    except Exception as exc:
        del sys.modules[name]
        raise ConfigError(f"running {str(path)!r} failed: {exc}", parameter=what) from exc
    return module


def _exited(where: str, exc: SystemExit, what: str) -> ConfigError:
    return ConfigError(
        f"{where} raised SystemExit({exc.code!r}) while being loaded",
        parameter=what,
        hint="define the agent at the top level; put script code under "
        "`if __name__ == '__main__':`",
    )


def _load_agent_file(path: Path) -> Agent[Any]:
    if not path.is_file():
        raise ConfigError(f"agent file {str(path)!r} not found", parameter="agent")
    data = _read_settings(path)
    allowed = {f.name for f in dataclasses.fields(Agent) if f.init} - _NOT_IN_FILES | {"mcp"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ConfigError(
            f"agent file {str(path)!r} has unknown keys: {', '.join(unknown)}",
            parameter="agent",
            hint=f"allowed keys: {', '.join(sorted(allowed))}",
        )
    tools = data.pop("tools", None) or []
    if not isinstance(tools, list) or not all(isinstance(t, str) for t in tools):
        raise ConfigError(
            f"agent file {str(path)!r}: tools must be a list of import paths like "
            "'mypkg.tools:search'",
            parameter="tools",
        )
    data["tools"] = [_load_tool(ref, base=path.parent) for ref in tools]
    data["tools"] += servers_from_file(data.pop("mcp", None), base=path.parent)
    if "output_type" in data:
        data["output_type"] = _load_output_type(data["output_type"], base=path.parent)
    data.setdefault("name", path.stem)
    return Agent(**data)


def _read_settings(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".toml":
            data: object = tomllib.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # yaml.YAMLError / tomllib.TOMLDecodeError
        raise ConfigError(
            f"cannot parse agent file {str(path)!r}: {exc}", parameter="agent"
        ) from exc
    if not isinstance(data, dict):
        raise ConfigError(
            f"agent file {str(path)!r} must hold a mapping of Agent settings", parameter="agent"
        )
    return data


def _load_output_type(reference: object, *, base: Path) -> Any:
    """``output_type: "module:Class"`` (or ``"file.py:Class"``), imported like a tool;
    ``"str"`` is the default free text."""
    if reference == "str":
        return str
    if not isinstance(reference, str) or ":" not in reference:
        raise ConfigError(
            f"output_type must be an import path like 'mypkg.models:Answer', got {reference!r}",
            parameter="output_type",
        )
    target, attr = reference.rsplit(":", 1)
    module = _import_target(target, what="output_type", base=base)
    value = getattr(module, attr, _MISSING)
    if value is _MISSING:
        raise ConfigError(
            f"output_type {reference!r}: {target!r} has no {attr!r}", parameter="output_type"
        )
    return value


def _load_tool(reference: str, *, base: Path) -> Any:
    target, attr = _split_reference(reference, default_attr=None)
    module = _import_target(target, what="tools", base=base)
    value = getattr(module, attr, _MISSING)
    if value is _MISSING:
        raise ConfigError(f"tool {reference!r}: {target!r} has no {attr!r}", parameter="tools")
    return value
