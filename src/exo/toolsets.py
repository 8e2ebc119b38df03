"""Toolsets: tools known only at run time (an MCP server's), next to functions in ``tools=``.

A :class:`Toolset` has a ``name`` and lists its tools, asynchronously, when a run starts. It
owns its lifecycle: connect on first use, reuse the connection across runs and concurrent
runs, close when its owner says so (``async with``) or when the event loop ends. exo only
asks for the list; a toolset that caches it makes the ask free after the first run.

Names are checked when a run starts (:func:`bind_toolsets`), since only then are they known:
a toolset's tool may not take the name of another tool of the agent, of another toolset's
tool, or of a built-in tool the run adds. ``planning_tools`` may name a toolset (all its
tools) or tools inside one; those names are checked then too.

An agent without toolsets pays nothing: the runner calls :func:`bind_toolsets` only when
``agent.toolsets`` is not empty.
"""

from __future__ import annotations

import copy
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeGuard, runtime_checkable

from exo.errors import ConfigError, ExoError, ToolsetError
from exo.tools import Tool

if TYPE_CHECKING:
    from exo.agent import Agent

__all__ = ["Toolset", "bind_toolsets", "is_toolset"]


@runtime_checkable
class Toolset(Protocol):
    """Tools listed at run time, with a lifecycle of their own (e.g. an MCP server).

    Attributes:
        name: Identifies the toolset in errors and in ``planning_tools``.
    """

    name: str

    async def list_tools(self) -> Sequence[Tool]:
        """Return the toolset's tools, connecting first if needed.

        Called when each run starts; return the same sequence object while nothing
        changed, so that runs can reuse what they derived from it.

        Raises:
            ExoError: the tools cannot be listed (the run fails with it).
        """
        ...


def is_toolset(obj: object) -> TypeGuard[Toolset]:
    """Whether ``obj`` is a :class:`Toolset` (and not a function or a Tool)."""
    return not isinstance(obj, Tool) and isinstance(obj, Toolset)


# The agent as last bound, per agent: (the lists it was bound from, the bound agent).
_bound: weakref.WeakKeyDictionary[Agent[Any], tuple[tuple[Sequence[Tool], ...], Agent[Any]]] = (
    weakref.WeakKeyDictionary()
)


async def bind_toolsets(agent: Agent[Any]) -> Agent[Any]:
    """Return ``agent`` with its toolsets' current tools in place of the toolsets.

    The result is the same agent for the planner, the executor and spawned children: its
    ``tool_map`` holds every tool, ``planning_tools`` names tools only. It is cached while
    every toolset returns the same list.

    Raises:
        ConfigError: a name clash, or ``planning_tools`` naming no tool.
        ExoError: a toolset failed to list its tools.
    """
    lists = tuple([await _list(ts) for ts in agent.toolsets])
    cached = _bound.get(agent)
    if cached is not None and all(a is b for a, b in zip(cached[0], lists, strict=True)):
        return cached[1]  # the toolsets' lists did not change: nor did the bound agent
    bound = _bind(agent, lists)
    _bound[agent] = (lists, bound)
    return bound


async def _list(toolset: Toolset) -> Sequence[Tool]:
    try:
        return await toolset.list_tools()
    except ExoError:
        raise
    except Exception as exc:  # a toolset of the user's own: still a typed error
        raise ToolsetError(
            f"toolset {toolset.name!r} could not list its tools: {type(exc).__name__}: {exc}"
        ) from exc


def _bind(agent: Agent[Any], lists: tuple[Sequence[Tool], ...]) -> Agent[Any]:
    tool_map = dict(agent.tool_map)
    owner: dict[str, str] = {}
    for toolset, tools in zip(agent.toolsets, lists, strict=True):
        for t in tools:
            if not isinstance(t, Tool):
                raise ConfigError(
                    f"toolset {toolset.name!r} listed {t!r}, which is not an exo.Tool",
                    parameter="tools",
                )
            if t.name in tool_map:
                other = f"toolset {owner[t.name]!r}" if t.name in owner else "the agent's tools"
                raise ConfigError(
                    f"agent {agent.name!r}: toolset {toolset.name!r} has a tool named "
                    f"{t.name!r}, and so has {other}",
                    parameter="tools",
                    hint="give the toolset a prefix (e.g. MCPServerStdio(..., prefix='fs')) "
                    "or rename the other tool",
                )
            tool_map[t.name] = t
            owner[t.name] = toolset.name
    _check_builtins(agent, owner)
    _check_approvals(agent, tool_map)
    bound = copy.copy(agent)  # a shallow copy: same memory backend, gate, output, settings
    for attr, value in (
        ("tool_map", tool_map),
        ("tools", tuple(tool_map.values())),
        ("toolsets", ()),
        ("planning_tools", _planning_names(agent, tool_map, lists)),
    ):
        object.__setattr__(bound, attr, value)
    return bound


def _check_builtins(agent: Agent[Any], owner: dict[str, str]) -> None:
    """A toolset's tool may not take the name of a built-in tool this run adds."""
    for name in agent.builtin_tool_names():
        if name in owner:
            raise ConfigError(
                f"agent {agent.name!r}: toolset {owner[name]!r} has a tool named {name!r}, "
                "which is the name of a built-in tool this agent's runs add",
                parameter="tools",
                hint="give the toolset a prefix (e.g. MCPServerStdio(..., prefix='fs'))",
            )


def _check_approvals(agent: Agent[Any], tool_map: dict[str, Tool]) -> None:
    """``approve_tools`` names (left unchecked at construction) must name a tool now."""
    names = agent.approve_tools
    if names is None or callable(names):
        return
    for name in names:
        if name not in tool_map and name != "spawn_self":
            raise ConfigError(
                f"approve_tools: no tool named {name!r}; the agent's tools (its toolsets' "
                f"included) are {sorted(tool_map)}",
                parameter="approve_tools",
            )


def _planning_names(
    agent: Agent[Any], tool_map: dict[str, Tool], lists: tuple[Sequence[Tool], ...]
) -> tuple[str | Tool, ...] | None:
    """``planning_tools`` with each toolset (by name or object) replaced by its tools' names."""
    if agent.planning_tools is None:
        return None
    by_name = {
        ts.name: [t.name for t in tools] for ts, tools in zip(agent.toolsets, lists, strict=True)
    }
    chosen: list[str | Tool] = []
    for item in agent.planning_tools:
        if is_toolset(item):
            item = item.name
        if isinstance(item, str) and item in by_name:
            chosen.extend(by_name[item])
        elif isinstance(item, str) and item not in tool_map:
            raise ConfigError(
                f"planning_tools: no tool or toolset named {item!r}; the agent's tools are "
                f"{sorted(tool_map)} and its toolsets {sorted(by_name)}",
                parameter="planning_tools",
            )
        else:
            chosen.append(item)  # type: ignore[arg-type]
    return tuple(chosen)
