"""The provider protocol: what every model backend implements, and the data it trades in.

A provider turns a :class:`ModelRequest` (exo messages, tool specs, settings) into a
:class:`ModelResponse`, either at once (:meth:`Provider.complete`) or as a stream of deltas
that ends with the assembled response (:meth:`Provider.stream`). Providers do *not* retry:
the run's model step owns retries (see ``exo._retry``); a provider raises
:class:`~exo.errors.ModelError` with ``retryable`` and ``retry_after`` set, and builds its SDK
client with the SDK's own retries turned off.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from exo.types import AssistantMessage, FinishReason, Message, Usage

__all__ = [
    "FINAL_RESULT",
    "ModelChunk",
    "ModelRequest",
    "ModelResponse",
    "ModelSettings",
    "OutputSpec",
    "Provider",
    "ReasoningDelta",
    "TextDelta",
    "ToolCallDelta",
    "ToolSpec",
    "output_tool",
]

FINAL_RESULT = "final_result"
"""The tool a model calls to give its typed answer where the API has no native JSON mode."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolSpec:
    """A tool as the model sees it: name, description and JSON schema of its arguments."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelSettings:
    """Per-request settings; ``None`` leaves the provider's default.

    Attributes:
        temperature: Sampling temperature.
        max_tokens: Output token limit.
        timeout: Seconds the call may spend waiting on the server in all (a deadline that
            keep-alive comments and slow drips cannot stretch).
        idle_timeout: Seconds a streamed call may go without an event that carries data.
    """

    temperature: float | None = None
    max_tokens: int | None = None
    timeout: float | None = None
    idle_timeout: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputSpec:
    """The typed answer a request asks for (an agent's ``output_type``).

    Providers ask for it natively where their API can (a JSON-schema response format, a
    grammar), else by offering a tool named ``final_result`` whose arguments are the answer,
    with ``description`` as its description, and forcing a tool call.

    Attributes:
        name: A name for the schema (letters, digits, ``_``, ``-``).
        schema: The JSON schema of the answer; always an object at the root (a list,
            ``Literal`` or union is wrapped in ``{"response": ...}``).
        strict: The schema meets OpenAI's strict structured-output rules, so ask for
            ``strict: true``.
        description: What the ``final_result`` tool is for, in tool mode.
    """

    name: str
    schema: dict[str, Any]
    strict: bool = False
    description: str = ""


def output_tool(spec: OutputSpec) -> ToolSpec:
    """The ``final_result`` tool that carries a typed answer in tool mode."""
    return ToolSpec(name=FINAL_RESULT, description=spec.description, parameters=spec.schema)


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelRequest:
    """One model call.

    Attributes:
        messages: The whole conversation, system messages included, in order. System messages
            may appear anywhere (an injected plan follows the history); adapters whose API
            takes system text apart (Anthropic) must still deliver every one of them.
        tools: The tools the model may call.
        settings: Sampling settings.
        agent_name: The agent making the call (for logs, tracing and test models).
        output: The typed answer asked for; ``None`` for free text.
    """

    messages: list[Message]
    tools: list[ToolSpec] = field(default_factory=list)
    settings: ModelSettings = field(default_factory=ModelSettings)
    agent_name: str = ""
    output: OutputSpec | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelResponse:
    """A complete model turn, normalized.

    Attributes:
        message: The assistant message (text, tool calls, reasoning).
        usage: Token usage of this call (``requests=1``).
        finish_reason: Why the model stopped; ``length`` means it hit ``max_tokens``.
        model: The model name the provider reported (or was asked for).
        id: The provider's response id, if any.
        refusal: With ``finish_reason="refusal"``: why the model declined (its refusal
            text, or an explanation when the provider gave none).
    """

    message: AssistantMessage
    usage: Usage
    finish_reason: FinishReason = "stop"
    model: str = ""
    id: str | None = None
    refusal: str | None = None
    type: Literal["response"] = "response"


@dataclass(frozen=True, slots=True, kw_only=True)
class TextDelta:
    """A piece of answer text."""

    text: str
    type: Literal["text_delta"] = "text_delta"


@dataclass(frozen=True, slots=True, kw_only=True)
class ReasoningDelta:
    """A piece of reasoning text."""

    text: str
    type: Literal["reasoning_delta"] = "reasoning_delta"


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCallDelta:
    """A piece of a streamed tool call (id and name arrive once; arguments in pieces)."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""
    type: Literal["tool_call_delta"] = "tool_call_delta"


ModelChunk = TextDelta | ReasoningDelta | ToolCallDelta | ModelResponse
"""What :meth:`Provider.stream` yields; the last item is always a :class:`ModelResponse`."""


@runtime_checkable
class Provider(Protocol):
    """A model backend bound to one model name.

    Implementations hold one HTTP client each, reused by every call and run, and closed by
    :meth:`aclose`. ``repr()`` must never show credentials.
    """

    @property
    def backend(self) -> str:
        """The backend name, as in ``"backend:model"``."""
        ...

    @property
    def model(self) -> str:
        """The model name, as in ``"backend:model"``."""
        ...

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """Make one model call and return the whole response."""
        ...

    def stream(self, request: ModelRequest) -> AsyncGenerator[ModelChunk, None]:
        """Make one streamed model call: deltas, then the assembled :class:`ModelResponse`."""
        ...

    def with_model(self, model: str) -> Provider:
        """Return a provider for another model of the same backend, sharing client and settings."""
        ...

    async def aclose(self) -> None:
        """Close the HTTP client (the copies made by :meth:`with_model` share it)."""
        ...
