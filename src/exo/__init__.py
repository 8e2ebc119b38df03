"""exo: a fast, honest runtime for LLM agents, with a planner pre-pass.

from exo import Agent, run

agent = Agent(name="researcher", model="openai:gpt-4o", tools=[search], planning_enabled=True)
result = await run(agent, "Compare React vs Svelte for a new project")
"""

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
