"""What ``run`` takes besides the agent: :class:`RunOptions`, and the checks of every argument.

Every per-call argument of ``run``, ``run.stream`` and ``run.sync`` is checked like an Agent's
before anything runs (a ``ConfigError`` naming it), and the text of the input and history is
made encodable here, where it enters the transcript.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from exo._effects import Effects
from exo._retry import RetryPolicy
from exo._text import encodable, encodable_content, encodable_message
from exo.context import Context
from exo.cost import Budget, check_limits
from exo.errors import ConfigError
from exo.models.base import Provider
from exo.types import (
    AssistantMessage,
    ContentBlock,
    DocumentBlock,
    ImageBlock,
    Message,
    SystemMessage,
    TextBlock,
    ToolResult,
    UserMessage,
)

__all__ = ["Input", "RunOptions", "bad_argument", "check_history", "check_input", "check_options"]

Input = str | Sequence[ContentBlock]


def check_input(value: object) -> str | list[ContentBlock]:
    """Validate the task and make its text encodable (lone surrogates escaped)."""
    if isinstance(value, str):
        return encodable(value)
    if (
        isinstance(value, Sequence)
        and value  # no blocks (or b""): nothing to send
        and all(isinstance(b, TextBlock | ImageBlock | DocumentBlock) for b in value)
    ):
        content = encodable_content(list(value))
        assert not isinstance(content, str)
        return content
    raise ConfigError(
        f"input must be a string or a list of content blocks, got {type(value).__name__}",
        parameter="input",
        hint="pass the task as text, or e.g. [TextBlock(text=...), ImageBlock(url=...)] "
        "(at least one block)",
    )


_MESSAGE_TYPES = (SystemMessage, UserMessage, AssistantMessage, ToolResult)


def bad_argument(
    parameter: str, expected: str, value: object, hint: str | None = None
) -> ConfigError:
    return ConfigError(
        f"run(): {parameter} must be {expected}, got {type(value).__name__} ({value!r:.80})",
        parameter=parameter,
        hint=hint,
    )


def check_history(messages: object) -> list[Message]:
    """Validate ``messages=`` and make its text encodable."""
    if messages is None:
        return []
    if isinstance(messages, str | bytes) or not isinstance(messages, Sequence):
        raise bad_argument("messages", "a list of exo messages", messages)
    for i, m in enumerate(messages):
        if not isinstance(m, _MESSAGE_TYPES):
            raise bad_argument(
                f"messages[{i}]",
                "an exo message (UserMessage, AssistantMessage, SystemMessage, ToolResult)",
                m,
                hint="pass e.g. [UserMessage(content='hi'), AssistantMessage(content='hello')], "
                "or result.messages of an earlier run",
            )
    return [encodable_message(m) for m in messages]


def check_options(options: RunOptions) -> None:
    """Validate the per-call arguments of run / run.stream / run.sync like Agent arguments."""
    conversation_id, provider, context = options.conversation_id, options.provider, options.context
    max_retries, retry, effects = options.max_retries, options.retry, options.effects
    detailed = options.detailed
    if conversation_id is not None and (
        not isinstance(conversation_id, str) or not conversation_id.strip()
    ):
        raise bad_argument("conversation_id", "a non-empty string or None", conversation_id)
    if provider is not None and not all(
        callable(getattr(provider, a, None)) for a in ("complete", "stream")
    ):
        raise bad_argument("provider", "an exo Provider (with complete() and stream())", provider)
    if context is not None and not isinstance(context, Context):
        raise bad_argument("context", "an exo.Context or None", context)
    if max_retries is not None and (
        isinstance(max_retries, bool)
        or not isinstance(max_retries, int)
        or not 0 <= max_retries <= 20
    ):
        raise bad_argument("max_retries", "an integer from 0 to 20 or None", max_retries)
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise bad_argument("retry", "an exo.RetryPolicy or None", retry)
    if effects is not None and not all(
        callable(getattr(effects, a, None)) for a in ("model_call", "tool_calls")
    ):
        raise bad_argument(
            "effects", "an exo.Effects (with model_call() and tool_calls())", effects
        )
    if not isinstance(detailed, bool):
        raise bad_argument("detailed", "True or False", detailed)
    if options.max_cost is not None or options.max_tokens_total is not None:
        check_limits(options.max_cost, options.max_tokens_total, where="run(): ")


# Not frozen: a frozen dataclass's __init__ sets each of these fifteen fields through
# object.__setattr__ (~3.5 µs per run, about 1 µs per model call of a short run); the engine
# only reads it.
@dataclass(slots=True, kw_only=True)
class RunOptions:
    """One run's per-call settings: everything but the agent and the input.

    ``run``, ``run.stream`` and ``run.sync`` build one from their keyword arguments (see
    :meth:`Runner.__call__` for what each means); spawned children get theirs from the parent.

    Attributes:
        stream: Ask the provider for deltas (``run.stream``) or whole responses (``run``).
        detailed: Also yield the lifecycle, step, usage and reasoning events.
        depth: 0 for a top-level run, 1 for its children, and so on.
        lineage: Names of the parent agents, outermost first.
        max_steps: Model calls allowed (default: the agent's ``max_steps``).
        resume: A paused run's state to continue (``run(resume=...)``).
        approvals: Answers to a paused run's tool calls.
        plan: The answer to a paused run's plan.
        max_cost: The run tree's budget in US dollars (default: the agent's ``max_cost``).
        max_tokens_total: The run tree's token budget (default: the agent's).
        budget: The budget a child shares with its parent (set by ``spawn_self``).
        quiet: Nobody reads the events but the last (``run``, which keeps only the result):
            the loop skips building the tool-call, tool-result and text events.
    """

    messages: Sequence[Message] | None = None
    conversation_id: str | None = None
    provider: Provider | None = None
    context: Context | None = None
    max_retries: int | None = None
    retry: RetryPolicy | None = None
    effects: Effects | None = None
    stream: bool = False
    detailed: bool = False
    depth: int = 0
    lineage: tuple[str, ...] = ()
    max_steps: int | None = None
    resume: object = None
    approvals: dict[str, bool | str] | None = None
    plan: bool | str | None = None
    max_cost: float | Decimal | None = None
    max_tokens_total: int | None = None
    budget: Budget | None = None
    quiet: bool = False
