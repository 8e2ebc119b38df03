"""Agent: a model, instructions and tools, with validated configuration and no run state.

An Agent is frozen configuration. Everything a run needs beyond it (provider, transcript,
usage, built-in tools such as ``spawn_self``) lives in the run, so one Agent can serve many
concurrent runs. Anything knowable before a run is checked here and raises
:class:`~exo.errors.ConfigError`; what needs the network or the environment (resolving the
provider of ``model`` or ``planning_model``) happens at run time.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from types import UnionType
from typing import Any, Generic, Literal, _SpecialForm

from exo.approval import ApprovalHandler, Gate, ToolApprover, check_agent_settings, gate_for
from exo.context import CONTEXT_TOOL_NAMES, Context
from exo.cost import check_limits
from exo.errors import ConfigError
from exo.memory import Memory, resolve_memory
from exo.models import parse_model
from exo.models.base import FINAL_RESULT, ModelSettings
from exo.output import OutputT, OutputType, build_output
from exo.plan_cache import PlanCache, resolve_plan_cache
from exo.plans import REPLAN_TOOL, ReplanPolicy, check_plan_settings
from exo.tools import Tool, to_tool
from exo.toolsets import Toolset, is_toolset

__all__ = ["Agent", "Instructions"]

Instructions = str | Callable[..., str | Awaitable[str]]
"""Instructions: text, or a (sync or async) function of no arguments or of the Agent."""


def _check_type(name: str, value: object, types: type | tuple[type, ...], expected: str) -> None:
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise ConfigError(f"{name} must be {expected}, got a bool ({value!r})", parameter=name)
    if not isinstance(value, types):
        raise ConfigError(
            f"{name} must be {expected}, got {type(value).__name__} ({value!r})", parameter=name
        )


@dataclass(frozen=True, kw_only=True, eq=False)
class Agent(Generic[OutputT]):
    """An LLM agent: model, instructions, tools, and how it plans, spawns and remembers.

    Args:
        name: Identifier; also names the planner (``{name}_planner``) and children.
        model: ``"backend:model"``, e.g. ``"openai:gpt-4o"`` or ``"anthropic:claude-sonnet-4-6"``.
        instructions: The system prompt, or a function returning it (sync or async, taking
            no arguments or the Agent).
        tools: Functions (or :class:`~exo.tools.Tool` objects) the model may call, and
            :class:`~exo.toolsets.Toolset` objects (e.g. MCP servers) whose tools are listed
            when each run starts.
        memory: Where conversations are kept: a Memory object, ``"memory"``, ``"sqlite"``, a
            SQLite file path or a PostgreSQL URL. Used when a run passes ``conversation_id``.
        context: A :class:`~exo.context.Context` shared by every run of this agent (and its
            planner); by default each run gets a fresh one.
        max_steps: Model calls allowed per run (the planner gets the same unless
            ``planning_max_steps`` is set).
        temperature: Sampling temperature for every call; ``None`` keeps the provider default.
        max_tokens: Output token limit for every call; ``None`` keeps the provider default.
        model_timeout: Seconds one model call may spend waiting on the provider in all,
            however the server trickles its answer; ``None`` keeps the provider's default
            (15 minutes). Per run: ``run(agent.replace(model_timeout=...), ...)``.
        model_idle_timeout: Seconds a streamed model call may go without data (keep-alive
            comments do not count); ``None`` keeps the provider's default (5 minutes).
        max_retries: Retries of a failed model call (429, 5xx, connection errors), with
            exponential backoff, jitter and ``Retry-After``.
        planning_enabled: Run an ephemeral planner agent first and inject its plan.
        planning_model: Model for the planner; ``None`` uses ``model``.
        planning_instructions: Instructions for the planner; empty uses ``instructions``.
        planning_max_steps: Model calls allowed to the planner; ``None`` uses ``max_steps``.
        planning_tools: Names (or tools) of the agent's tools the planner may use, e.g.
            read-only ones; ``None`` gives it all of the agent's own tools. A toolset's name
            stands for all its tools; names of tools inside toolsets are checked at run time.
        planning_on_error: ``"raise"`` (a failed planner fails the run with PlanningError)
            or ``"skip"`` (run the executor unplanned and emit a PlanSkippedEvent).
        planning_max_chars: Longest plan injected as it is; a longer one is cut to this many
            characters plus a visible marker, and the run emits a WarningEvent.
        allow_self_spawn: Give runs a ``spawn_self`` tool that runs copies of this agent.
        max_spawn_children: Most tasks one ``spawn_self`` call may start (1-16).
        max_spawn_depth: How deep spawning may nest (1: children cannot spawn).
        max_spawn_total: Most children one run may start in all.
        artifact_threshold: Tool results longer than this many characters are parked as
            artifacts (the model gets a pointer and ``retrieve_artifact``); 0 disables.
        context_tools: Give runs the context tools (a todo list and note reading).
        history_max_tokens: Budget for loaded conversation history (newest turns first).
        window_max_tokens: Budget for what each model call sends in a long run: older turns
            are dropped (never a tool call without its result, never the leading system
            prompt, in steps so that the prompt prefix stays cacheable); ``None`` sends all.
        max_tool_threads: Most sync tools one run keeps running at once, each in a worker
            thread of exo's own pool (never the event loop's default executor); further
            calls wait for a free slot.
        output_type: The type of the answer: ``str`` (free text, the default), or a pydantic
            model, dataclass, TypedDict, ``list``/``dict`` of those, ``Literal`` or union;
            ``result.output`` is then an instance of it (see docs/output.md). For a
            ``Literal`` or union, name it on the class too: ``Agent[A | B](output_type=A | B)``.
        output_retries: How many invalid typed answers are sent back to the model, with the
            validation errors, before the run raises OutputValidationError.
        approve_tools: Tools whose calls a person must approve before they run: names, or
            a function ``(tool_name, arguments) -> bool`` (sync or async) deciding per call
            (tools made with ``requires_approval=True`` always need it).
        approve_plan: Pause after the planner so a person can accept, edit or reject the
            plan (needs ``planning_enabled``).
        approval_handler: Answers approval requests in process, ``(request) -> True |
            False | str`` (sync or async), instead of pausing the run; children and the
            planner use it too. See ``docs/approval.md``.
        trace_content: Record message content (prompts, answers, tool arguments and
            results, the plan) on OpenTelemetry spans; ``None`` follows
            ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``. A run's setting holds for
            its planner and children. See ``docs/tracing.md``.
        max_cost: Most US dollars a run may spend, planner and children included (a number
            or ``Decimal``); the run stops with BudgetExceeded before its next model call
            once it is spent. Needs a known price for every model (see ``docs/cost.md``).
        max_tokens_total: Most tokens (input + output) a run may use, planner and children
            included; enforced like ``max_cost``.
        planning_format: ``"text"`` (the spec's free-text plan) or ``"steps"``: the planner
            answers with typed steps, injected as a numbered list, that become the run's
            todo list for the executor to tick off (``result.plan.checklist``).
        replan_on: When a stuck executor gets a revised plan: a
            :class:`~exo.plans.ReplanPolicy` (``True`` for the default one) or ``None``
            (never). Needs ``planning_format="steps"``. See docs/planning.md.
        max_replans: Most revised plans one run may get (0-20).
        plan_cache: Reuse plans: ``True`` (the memory database, else the default SQLite
            file), a SQLite path, a ``postgresql://`` URL, or a
            :class:`~exo.plan_cache.PlanCache`; ``False`` plans every run. See
            ``docs/planning.md``.
    """

    name: str
    model: str = "openai:gpt-4o"
    instructions: Instructions = ""
    tools: Sequence[Tool | Callable[..., Any] | Toolset] = ()
    memory: Memory | str | None = None
    context: Context | None = None
    max_steps: int = 10
    temperature: float | None = None
    max_tokens: int | None = None
    model_timeout: float | None = None
    model_idle_timeout: float | None = None
    max_retries: int = 2
    planning_enabled: bool = False
    planning_model: str | None = None
    planning_instructions: str = ""
    planning_max_steps: int | None = None
    planning_tools: Sequence[str | Tool | Callable[..., Any] | Toolset] | None = None
    planning_on_error: Literal["raise", "skip"] = "raise"
    planning_max_chars: int = 20_000
    allow_self_spawn: bool = False
    max_spawn_children: int = 4
    max_spawn_depth: int = 1
    max_spawn_total: int = 16
    artifact_threshold: int = 20_000
    context_tools: bool = False
    history_max_tokens: int | None = None
    window_max_tokens: int | None = None
    max_tool_threads: int = 16
    output_type: type[OutputT] | UnionType | _SpecialForm = str  # type: ignore[assignment]
    output_retries: int = 1
    approve_tools: Sequence[str] | ToolApprover | None = None
    approve_plan: bool = False
    approval_handler: ApprovalHandler | None = None
    trace_content: bool | None = None
    max_cost: float | Decimal | None = None
    max_tokens_total: int | None = None
    planning_format: Literal["text", "steps"] = "text"
    replan_on: ReplanPolicy | bool | None = None
    max_replans: int = 2
    plan_cache: bool | str | os.PathLike[str] | PlanCache | None = False
    tool_map: dict[str, Tool] = field(init=False, repr=False, compare=False)
    memory_backend: Memory | None = field(init=False, repr=False, compare=False)
    output: OutputType[OutputT] | None = field(init=False, repr=False, compare=False)
    """The prepared ``output_type`` (``None`` for ``str``): schema, validator."""
    gate: Gate | None = field(init=False, repr=False, compare=False)
    plan_cache_backend: PlanCache | None = field(init=False, repr=False, compare=False)
    """The resolved ``plan_cache`` (``None`` when off)."""
    toolsets: tuple[Toolset, ...] = field(init=False, repr=False, compare=False, default=())
    """The toolsets among ``tools``, in order (their tools are listed when a run starts)."""

    def __post_init__(self) -> None:
        _check_type("name", self.name, str, "a non-empty string")
        if not self.name.strip():
            raise ConfigError("name must be a non-empty string", parameter="name")
        parse_model(self.model)
        if not (isinstance(self.instructions, str) or callable(self.instructions)):
            raise ConfigError(
                f"instructions must be a string or a function returning one, "
                f"got {type(self.instructions).__name__}",
                parameter="instructions",
            )
        self._check_numbers()
        self._check_planning()
        policy = check_plan_settings(self.planning_format, self.replan_on, self.max_replans)
        object.__setattr__(self, "replan_on", policy)
        object.__setattr__(self, "tool_map", self._build_tools())
        object.__setattr__(self, "tools", (*self.tool_map.values(), *self.toolsets))
        self._check_planning_tools()
        self._check_builtin_names()
        _check_type("output_retries", self.output_retries, int, "an integer from 0 to 10")
        if not 0 <= self.output_retries <= 10:
            raise ConfigError(
                f"output_retries must be from 0 to 10, got {self.output_retries}",
                parameter="output_retries",
            )
        object.__setattr__(self, "output", build_output(self.output_type, self.output_retries))
        check_agent_settings(self)
        check_limits(self.max_cost, self.max_tokens_total)
        object.__setattr__(self, "gate", gate_for(self))
        # Resolved once (no I/O happens here), so every run of this agent shares the backend.
        object.__setattr__(self, "memory_backend", resolve_memory(self.memory))
        cache = resolve_plan_cache(self.plan_cache, self.memory)
        object.__setattr__(self, "plan_cache_backend", cache)
        if self.context is not None and not isinstance(self.context, Context):
            raise ConfigError(
                f"context must be an exo.Context, got {type(self.context).__name__}",
                parameter="context",
            )

    def _check_numbers(self) -> None:
        _check_type("max_steps", self.max_steps, int, "an integer >= 1")
        if self.max_steps < 1:
            raise ConfigError(
                f"max_steps must be >= 1, got {self.max_steps}",
                parameter="max_steps",
                hint="max_steps counts model calls per run; use 1 for a single call",
            )
        if self.temperature is not None:
            _check_type("temperature", self.temperature, (int, float), "a number or None")
            if not 0 <= self.temperature <= 2:
                raise ConfigError(
                    f"temperature must be between 0 and 2, got {self.temperature}",
                    parameter="temperature",
                )
        for name in ("model_timeout", "model_idle_timeout"):
            value = getattr(self, name)
            if value is not None:
                _check_type(name, value, (int, float), "a number of seconds or None")
                if not value > 0:
                    raise ConfigError(f"{name} must be > 0 seconds, got {value}", parameter=name)
        for name, low in (
            ("max_tokens", 1),
            ("planning_max_steps", 1),
            ("history_max_tokens", 1),
            ("window_max_tokens", 1),
        ):
            value = getattr(self, name)
            if value is not None:
                _check_type(name, value, int, f"an integer >= {low} or None")
                if value < low:
                    raise ConfigError(f"{name} must be >= {low}, got {value}", parameter=name)
        for name, low, high in (
            ("max_retries", 0, 20),
            ("max_spawn_children", 1, 16),
            ("max_spawn_depth", 0, 10),
            ("max_spawn_total", 1, 1000),
            ("artifact_threshold", 0, 10**9),
            ("planning_max_chars", 1, 10**9),
            ("max_tool_threads", 1, 256),
        ):
            value = getattr(self, name)
            _check_type(name, value, int, f"an integer from {low} to {high}")
            if not low <= value <= high:
                raise ConfigError(
                    f"{name} must be from {low} to {high}, got {value}", parameter=name
                )
        for name in ("planning_enabled", "allow_self_spawn", "context_tools"):
            _check_type(name, getattr(self, name), bool, "True or False")
        if self.trace_content is not None:
            _check_type("trace_content", self.trace_content, bool, "True, False or None")

    def _check_planning(self) -> None:
        if self.planning_model is not None:
            _check_type("planning_model", self.planning_model, str, "a 'backend:model' string")
            try:
                parse_model(self.planning_model)
            except ConfigError as exc:
                raise ConfigError(
                    f"planning_model {self.planning_model!r} is not of the form 'backend:model'",
                    parameter="planning_model",
                    hint=exc.hint,
                ) from None
        _check_type("planning_instructions", self.planning_instructions, str, "a string")
        if self.planning_on_error not in ("raise", "skip"):
            raise ConfigError(
                f"planning_on_error must be 'raise' or 'skip', got {self.planning_on_error!r}",
                parameter="planning_on_error",
            )

    def builtin_tool_names(self) -> list[str]:
        """The names of the built-in tools runs of this agent may add (none of its own)."""
        builtin: list[str] = []
        if self.allow_self_spawn:
            builtin.append("spawn_self")
        if self.context_tools or self.planning_format == "steps":
            builtin.extend(CONTEXT_TOOL_NAMES)
        if self.replan_on is not None:
            builtin.append(REPLAN_TOOL)
        if self.output_type is not str:
            builtin.append(FINAL_RESULT)
        if self.artifact_threshold or any(t.large_output for t in self.tool_map.values()):
            builtin.append("retrieve_artifact")
        return builtin

    def _check_builtin_names(self) -> None:
        """A tool may not take the name of a built-in tool that runs of this agent add."""
        for name in self.builtin_tool_names():
            if name in self.tool_map:
                raise ConfigError(
                    f"tools: {name!r} is the name of a built-in tool this agent's runs add",
                    parameter="tools",
                    hint="rename your tool with @tool(name=...)",
                )

    def _check_planning_tools(self) -> None:
        if self.planning_tools is None:
            return
        if isinstance(self.planning_tools, str | bytes) or not isinstance(
            self.planning_tools, Sequence
        ):
            raise ConfigError(
                "planning_tools must be a list of tool names or tools",
                parameter="planning_tools",
            )
        for item in self.planning_tools:
            # names inside a toolset are known at run time only (exo.toolsets checks them)
            if isinstance(item, str) and item not in self.tool_map and not self.toolsets:
                raise ConfigError(
                    f"planning_tools: no tool named {item!r}; the agent's tools are "
                    f"{sorted(self.tool_map)}",
                    parameter="planning_tools",
                )
            if is_toolset(item):
                if item not in self.toolsets:
                    raise ConfigError(
                        f"planning_tools: toolset {item.name!r} is not in the agent's tools",
                        parameter="planning_tools",
                    )
            elif not isinstance(item, str):
                to_tool(item)

    def _build_tools(self) -> dict[str, Tool]:
        if isinstance(self.tools, str | bytes) or not isinstance(self.tools, Sequence):
            raise ConfigError(
                f"tools must be a list of functions, got {type(self.tools).__name__}",
                parameter="tools",
                hint="write tools=[search, summarize]",
            )
        tool_map: dict[str, Tool] = {}
        toolsets: list[Toolset] = []
        for item in self.tools:
            if is_toolset(item):
                _check_toolset(item, toolsets)
                toolsets.append(item)
                continue
            t = to_tool(item)
            if t.name in tool_map:
                raise ConfigError(
                    f"two tools are named {t.name!r}",
                    parameter="tools",
                    hint="rename one with @tool(name=...)",
                )
            tool_map[t.name] = t
        object.__setattr__(self, "toolsets", tuple(toolsets))
        return tool_map

    def model_settings(self) -> ModelSettings:
        """The settings every model call of this agent's runs sends."""
        return ModelSettings(
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            timeout=self.model_timeout,
            idle_timeout=self.model_idle_timeout,
        )

    def replace(self, **changes: Any) -> Agent[Any]:
        """Return a copy with some settings changed (validated like a new Agent)."""
        return dataclasses.replace(self, **changes)

    async def resolve_instructions(self) -> str:
        """Return the instructions text, calling the instructions function if there is one."""
        if isinstance(self.instructions, str):
            return self.instructions
        fn = self.instructions
        takes_arg = bool(inspect.signature(fn).parameters)
        value = fn(self) if takes_arg else fn()
        if inspect.isawaitable(value):
            value = await value
        if not isinstance(value, str):
            raise ConfigError(
                f"the instructions function of agent {self.name!r} returned "
                f"{type(value).__name__}, not a string",
                parameter="instructions",
            )
        return value

    def __repr__(self) -> str:
        extras = ", planning_enabled=True" if self.planning_enabled else ""
        if self.output is not None:
            extras += f", output_type={getattr(self.output_type, '__name__', self.output_type)}"
        return (
            f"Agent(name={self.name!r}, model={self.model!r}, "
            f"tools={list(self.tool_map)!r}{extras})"
        )


def _check_toolset(toolset: Any, seen: list[Toolset]) -> None:
    """A toolset needs a name of its own: ``planning_tools`` and errors refer to it by name."""
    name = getattr(toolset, "name", None)
    if not isinstance(name, str) or not name:
        raise ConfigError(
            f"toolset {toolset!r} has no name (a non-empty string)", parameter="tools"
        )
    if any(ts is toolset for ts in seen):
        raise ConfigError(f"toolset {name!r} is listed twice in tools", parameter="tools")
    if any(ts.name == name for ts in seen):
        raise ConfigError(
            f"two toolsets are named {name!r}",
            parameter="tools",
            hint="give one of them another name (e.g. MCPServerStdio(..., name='files'))",
        )
