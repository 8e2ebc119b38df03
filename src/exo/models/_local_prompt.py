"""Prompt rendering for the ``local`` backend.

Two shapes, chosen per model:

* **Completion** (base models such as the embedded Gemma 3 270M, whose GGUF carries no chat
  template): the exo conversation becomes one plain-text prompt with a single short worked
  example, ending in ``Plan:`` (a planner call) or ``Answer:`` (everything else). Chat templates
  make a base model babble; this shape gets a usable numbered plan out of it.
* **Chat** (instruct models with a chat template): exo messages become OpenAI-shaped chat
  messages for llama.cpp's chat handlers, and their OpenAI-shaped output becomes exo types.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from exo.models.base import ToolSpec
from exo.types import (
    AssistantMessage,
    FinishReason,
    Message,
    SystemMessage,
    TextBlock,
    ToolCall,
    ToolResult,
    UserMessage,
    text_of,
)

__all__ = [
    "CompletionPrompt",
    "chat_messages",
    "chat_tools",
    "finish_reason",
    "parse_chat_message",
    "render_completion",
]

Mode = Literal["plan", "answer"]

# A comparison: its steps are shaped around the task's own nouns, so the model imitates the
# shape rather than copying the lines (a generic or single-topic example gets copied verbatim).
_PLAN_EXAMPLE = (
    "Task: Compare tea and coffee for a morning drink\n"
    "Plan:\n"
    "1. List what tea offers.\n"
    "2. List what coffee offers.\n"
    "3. Weigh them side by side.\n"
    "4. Recommend one in a sentence."
)
_ANSWER_EXAMPLE = (
    "Task: Name the largest planet in the solar system\n"
    "Plan:\n"
    "1. Recall the planets and their sizes.\n"
    "2. Name the largest one.\n"
    "Answer: Jupiter is the largest planet in the solar system, more than eleven times wider "
    "than Earth."
)
_PLAN_DIRECTIVE = "Make a short numbered plan for the task. Do not carry it out."
_ANSWER_DIRECTIVE = "Answer the task briefly, following the plan when there is one."
_DEFAULT_INSTRUCTIONS = "You are a helpful assistant."

STOP_MARKERS: dict[Mode, list[str]] = {
    "plan": ["\n\n", "\nTask:", "\nPlan:", "<end_of_turn>", "<eos>"],
    "answer": ["\n\n", "\nTask:", "\nPlan:", "<end_of_turn>", "<eos>"],
}
"""Where a completion ends: a blank line, or the model starting the next example."""

# The planner pre-pass injects its plan in one of two spec'd shapes (see docs/planning.md).
_INJECTED_IN_INPUT = re.compile(
    r"^Original task:\n(?P<task>.*?)\n\nPlanner output:\n(?P<plan>.*?)"
    r"\n\nUse the planner output while completing the task\.?\s*$",
    re.DOTALL,
)
_INJECTED_AS_SYSTEM = re.compile(
    r"^Planner output:\n(?P<plan>.*?)(?:\n\nUse the planner output[^\n]*)?\s*$", re.DOTALL
)
_MENTIONS_PLAN = re.compile(r"\bplan(?:s|ning)?\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True, kw_only=True)
class CompletionPrompt:
    """A rendered completion prompt.

    Attributes:
        text: The prompt.
        stop: Stop strings for the completion.
        mode: ``plan`` (the model writes a numbered plan) or ``answer``.
    """

    text: str
    stop: list[str] = field(default_factory=list)
    mode: Mode = "answer"


@dataclass(slots=True)
class _Turn:
    task: str
    plan: str = ""
    notes: list[str] = field(default_factory=list)
    answer: str = ""


def render_completion(messages: list[Message], *, agent_name: str = "") -> CompletionPrompt:
    """Render an exo conversation as a plain completion prompt for a base model.

    System messages become the instructions (an injected plan goes to the turn it belongs to),
    each user turn becomes ``Task:``, tool results become ``Result of <tool>:`` notes, and the
    prompt ends where the model should write: ``Plan:`` for a planner call (the agent is a
    ``*_planner`` or its instructions speak of a plan, and no plan was injected yet), else
    ``Answer:``.

    Args:
        messages: The conversation, as a provider receives it.
        agent_name: The calling agent's name (the planner pre-pass names it ``<agent>_planner``).
    """
    instructions: list[str] = []
    turns: list[_Turn] = []
    pending_plan = ""
    for message in messages:
        if isinstance(message, SystemMessage):
            injected = _INJECTED_AS_SYSTEM.match(message.content.strip())
            if injected:
                pending_plan = injected["plan"].strip()
            elif message.content.strip():
                instructions.append(message.content.strip())
        elif isinstance(message, UserMessage):
            turns.append(_user_turn(message, pending_plan))
            pending_plan = ""
        elif turns:
            _add_to_turn(turns[-1], message)
    if not turns:
        turns.append(_Turn(task="(no task given)"))
    current = turns[-1]
    has_plan = bool(current.plan)
    planning = agent_name.endswith("_planner") or any(
        _MENTIONS_PLAN.search(text) for text in instructions
    )
    mode: Mode = "plan" if planning and not has_plan else "answer"
    header = "\n".join(instructions) or _DEFAULT_INSTRUCTIONS
    directive = _PLAN_DIRECTIVE if mode == "plan" else _ANSWER_DIRECTIVE
    example = _PLAN_EXAMPLE if mode == "plan" else _ANSWER_EXAMPLE
    blocks = [f"{header}\n{directive}", example]
    blocks += [_render_turn(turn, final=False) for turn in turns[:-1] if turn.answer]
    blocks.append(_render_turn(current, final=True, mode=mode))
    return CompletionPrompt(text="\n\n".join(blocks), stop=list(STOP_MARKERS[mode]), mode=mode)


def _user_turn(message: UserMessage, pending_plan: str) -> _Turn:
    text = text_of(message.content).strip()
    if not isinstance(message.content, str) and any(
        not isinstance(block, TextBlock) for block in message.content
    ):
        text = f"{text} [attachments omitted: this model reads text only]".strip()
    injected = _INJECTED_IN_INPUT.match(text)
    if injected:
        return _Turn(task=injected["task"].strip(), plan=injected["plan"].strip())
    return _Turn(task=text or "(empty task)", plan=pending_plan)


def _add_to_turn(turn: _Turn, message: Message) -> None:
    if isinstance(message, AssistantMessage):
        if message.content.strip():
            turn.answer = message.content.strip()
        for call in message.tool_calls:
            turn.notes.append(f"Called {call.name} with {call.arguments}")
    elif isinstance(message, ToolResult):
        label = "Error from" if message.is_error else "Result of"
        turn.notes.append(f"{label} {message.tool_name}: {text_of(message.content).strip()}")


def _render_turn(turn: _Turn, *, final: bool, mode: Mode = "answer") -> str:
    lines = [f"Task: {turn.task}"]
    if turn.plan:
        lines += ["Plan:", turn.plan]
    lines += turn.notes
    if not final:
        lines.append(f"Answer: {turn.answer}")
    elif mode == "plan":
        lines.append("Plan:\n")
    else:
        lines.append("Answer:")
    return "\n".join(lines)


# --------------------------------------------------------------------------- chat shape


def chat_messages(messages: list[Message]) -> list[dict[str, Any]]:
    """Convert exo messages to OpenAI-shaped chat messages for llama.cpp's chat handlers.

    Every system message is merged, in order, into one leading system message: many GGUF chat
    templates reject a system message anywhere but first.
    """
    system = [m.content.strip() for m in messages if isinstance(m, SystemMessage)]
    out: list[dict[str, Any]] = []
    if any(system):
        out.append({"role": "system", "content": "\n\n".join(s for s in system if s)})
    for message in messages:
        if isinstance(message, UserMessage):
            out.append({"role": "user", "content": text_of(message.content)})
        elif isinstance(message, AssistantMessage):
            item: dict[str, Any] = {"role": "assistant", "content": message.content or None}
            if message.tool_calls:
                item["tool_calls"] = [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": call.arguments},
                    }
                    for call in message.tool_calls
                ]
            out.append(item)
        elif isinstance(message, ToolResult):
            out.append(
                {
                    "role": "tool",
                    "tool_call_id": message.tool_call_id,
                    "name": message.tool_name,
                    "content": text_of(message.content),
                }
            )
    return out


def chat_tools(tools: list[ToolSpec]) -> list[dict[str, Any]]:
    """Convert exo tool specs to OpenAI-shaped tool definitions."""
    return [
        {
            "type": "function",
            "function": {
                "name": t.name,
                "description": t.description,
                "parameters": t.parameters,
            },
        }
        for t in tools
    ]


_TOOL_CALL_TAG = re.compile(r"<tool_call>\s*(?P<body>.*?)\s*(?:</tool_call>|$)", re.DOTALL)


def parse_chat_message(message: dict[str, Any], *, tools_offered: bool) -> AssistantMessage:
    """Turn an OpenAI-shaped assistant message from llama.cpp into an exo message.

    Structured ``tool_calls`` (llama.cpp's function-calling handlers) are taken as they are.
    Otherwise, when tools were offered, ``<tool_call>{"name": ..., "arguments": ...}</tool_call>``
    blocks in the text (the convention of Qwen and Hermes chat templates) become tool calls.
    """
    content = message.get("content") or ""
    calls: list[ToolCall] = []
    for i, raw in enumerate(message.get("tool_calls") or []):
        function = raw.get("function") or {}
        calls.append(
            ToolCall(
                id=raw.get("id") or f"call_{i}",
                name=function.get("name") or "",
                arguments=function.get("arguments") or "{}",
            )
        )
    if not calls and tools_offered and "<tool_call>" in content:
        content, calls = _parse_tagged_calls(content)
    return AssistantMessage(content=content.strip(), tool_calls=calls)


def _parse_tagged_calls(content: str) -> tuple[str, list[ToolCall]]:
    calls: list[ToolCall] = []
    for match in _TOOL_CALL_TAG.finditer(content):
        try:
            data = json.loads(match["body"])
        except json.JSONDecodeError:
            continue
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            continue
        args = data.get("arguments", data.get("parameters", {}))
        arguments = args if isinstance(args, str) else json.dumps(args)
        calls.append(ToolCall(id=f"call_{len(calls)}", name=data["name"], arguments=arguments))
    if not calls:
        return content, []
    return _TOOL_CALL_TAG.sub("", content), calls


def finish_reason(raw: str | None, *, has_tool_calls: bool = False) -> FinishReason:
    """Map llama.cpp's finish reason to exo's."""
    if has_tool_calls or raw in ("tool_calls", "function_call"):
        return "tool_calls"
    if raw == "length":
        return "length"
    if raw in ("stop", None):
        return "stop"
    return "other"
