"""exo: a fast, honest runtime for LLM agents, with a planner pre-pass.

from exo import Agent, run

agent = Agent(name="researcher", model="openai:gpt-4o", tools=[search], planning_enabled=True)
result = await run(agent, "Compare React vs Svelte for a new project")
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from exo._loop import Effects, InProcessEffects
    from exo._retry import RetryPolicy
    from exo.agent import Agent
    from exo.context import Context
    from exo.errors import (
        AgentError,
        BudgetExceeded,
        ConfigError,
        ExoError,
        MaxStepsExceeded,
        MemorySaveError,
        ModelError,
        OutputTruncated,
        OutputValidationError,
        PlanningError,
        ToolError,
        ToolsetError,
    )
    from exo.plans import ReplanPolicy
    from exo.runner import Runner, run
    from exo.tools import Tool, ToolContext, tool
    from exo.toolsets import Toolset
    from exo.types import (
        AssistantMessage,
        Cost,
        DocumentBlock,
        ImageBlock,
        Message,
        RunResult,
        SystemMessage,
        TextBlock,
        ToolCall,
        ToolResult,
        Usage,
        UserMessage,
    )

__all__ = [
    "Agent",
    "AgentError",
    "AssistantMessage",
    "BudgetExceeded",
    "ConfigError",
    "Context",
    "Cost",
    "DocumentBlock",
    "Effects",
    "ExoError",
    "ImageBlock",
    "InProcessEffects",
    "MaxStepsExceeded",
    "MemorySaveError",
    "Message",
    "ModelError",
    "OutputTruncated",
    "OutputValidationError",
    "PlanningError",
    "ReplanPolicy",
    "RetryPolicy",
    "RunResult",
    "Runner",
    "SystemMessage",
    "TextBlock",
    "Tool",
    "ToolCall",
    "ToolContext",
    "ToolError",
    "ToolResult",
    "Toolset",
    "ToolsetError",
    "Usage",
    "UserMessage",
    "run",
    "tool",
]

__version__ = "0.1.0"

# The exports are imported on first use (PEP 562): `import exo` alone, and the `exo --help`
# that imports it, load none of the run loop, pydantic or the models. `from exo import run`
# imports what `run` needs, as before.
_EXPORTS: dict[str, str] = {
    "Agent": "exo.agent",
    "AgentError": "exo.errors",
    "AssistantMessage": "exo.types",
    "BudgetExceeded": "exo.errors",
    "ConfigError": "exo.errors",
    "Context": "exo.context",
    "Cost": "exo.types",
    "DocumentBlock": "exo.types",
    "Effects": "exo._effects",
    "ExoError": "exo.errors",
    "ImageBlock": "exo.types",
    "InProcessEffects": "exo._effects",
    "MaxStepsExceeded": "exo.errors",
    "MemorySaveError": "exo.errors",
    "Message": "exo.types",
    "ModelError": "exo.errors",
    "OutputTruncated": "exo.errors",
    "OutputValidationError": "exo.errors",
    "PlanningError": "exo.errors",
    "ReplanPolicy": "exo.plans",
    "RetryPolicy": "exo._retry",
    "RunResult": "exo.types",
    "Runner": "exo.runner",
    "SystemMessage": "exo.types",
    "TextBlock": "exo.types",
    "Tool": "exo.tools",
    "ToolCall": "exo.types",
    "ToolContext": "exo.tools",
    "ToolError": "exo.errors",
    "ToolResult": "exo.types",
    "Toolset": "exo.toolsets",
    "ToolsetError": "exo.errors",
    "Usage": "exo.types",
    "UserMessage": "exo.types",
    "run": "exo.runner",
    "tool": "exo.tools",
}


def __getattr__(name: str) -> Any:
    """Import an export of :data:`__all__` on first use."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'exo' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module), name)
    globals()[name] = value  # once imported, found without this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
