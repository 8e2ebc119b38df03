"""Offline models for tests and examples: FunctionModel, ScriptedModel and TestModel.

They implement the provider protocol, stream their text in several deltas, report usage,
and record every request they receive (``model.requests``) so tests can assert exactly what
a model was sent. ``"test:anything"`` resolves to a :class:`TestModel`, so examples run
offline by model string.

    model = ScriptedModel({
        "researcher_planner": ["1. Search\\n2. Summarize"],
        "researcher": [call("search", query="svelte"), "Svelte is small and fast."],
    })
    result = await run(agent, "Compare React vs Svelte", provider=model)
"""

from __future__ import annotations

import inspect
import itertools
import json
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from exo.errors import ModelError
from exo.models.base import (
    ModelChunk,
    ModelRequest,
    ModelResponse,
    Provider,
    TextDelta,
    ToolCallDelta,
    ToolSpec,
)
from exo.types import (
    AssistantMessage,
    FinishReason,
    Message,
    ToolCall,
    ToolResult,
    Usage,
    UserMessage,
    text_of,
)

__all__ = [
    "AgentInfo",
    "FunctionModel",
    "Reply",
    "ScriptedModel",
    "TestModel",
    "call",
    "test_provider",
]

Reply = str | AssistantMessage | ModelResponse | ToolCall | list[ToolCall]
"""What a test model answers: text, tool call(s), a message, or a whole response."""

_ids = itertools.count(1)


def call(name: str, arguments: str | Mapping[str, Any] | None = None, /, **kwargs: Any) -> ToolCall:
    """A ToolCall for scripts: ``call("add", a=1, b=2)`` or ``call("add", '{"a": 1')`` (raw)."""
    raw = arguments if isinstance(arguments, str) else json.dumps({**(arguments or {}), **kwargs})
    return ToolCall(id=f"call_{next(_ids)}", name=name, arguments=raw)


@dataclass(frozen=True, slots=True)
class AgentInfo:
    """What a FunctionModel's function learns about the call besides the messages."""

    agent_name: str
    model: str
    tools: list[ToolSpec]
    request: ModelRequest


def _estimate(messages: Sequence[Message]) -> int:
    chars = 0
    for m in messages:
        content = m.content
        chars += len(content) if isinstance(content, str) else len(text_of(content)) + 256
    return max(1, chars // 4)


def _to_response(reply: Reply, request: ModelRequest, model: str) -> ModelResponse:
    if isinstance(reply, ModelResponse):
        return reply
    if isinstance(reply, str):
        message = AssistantMessage(content=reply)
    elif isinstance(reply, ToolCall):
        message = AssistantMessage(tool_calls=[reply])
    elif isinstance(reply, list):
        message = AssistantMessage(tool_calls=list(reply))
    else:
        message = reply
    out = len(message.content) + sum(len(c.arguments) + len(c.name) for c in message.tool_calls)
    usage = Usage(requests=1, input_tokens=_estimate(request.messages), output_tokens=out // 4 + 1)
    finish: FinishReason = "tool_calls" if message.tool_calls else "stop"
    return ModelResponse(message=message, usage=usage, finish_reason=finish, model=model)


def _split(text: str, parts: int = 3) -> list[str]:
    if len(text) < parts:
        return [text] if text else []
    size = -(-len(text) // parts)
    return [text[i : i + size] for i in range(0, len(text), size)]


class _RecordingModel:
    """Shared behaviour: record requests, stream the reply in pieces."""

    backend = "test"

    def __init__(self, model: str) -> None:
        self.model = model
        self.requests: list[ModelRequest] = []

    async def _reply(self, request: ModelRequest) -> Reply:  # pragma: no cover - abstract
        raise NotImplementedError

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """Answer the request at once (and record it)."""
        self.requests.append(request)
        return _to_response(await self._reply(request), request, self.model)

    async def stream(self, request: ModelRequest) -> AsyncGenerator[ModelChunk, None]:
        """Answer in several text deltas and tool-call pieces, then the whole response."""
        response = await self.complete(request)
        for piece in _split(response.message.content):
            yield TextDelta(text=piece)
        for index, tc in enumerate(response.message.tool_calls):
            yield ToolCallDelta(index=index, id=tc.id, name=tc.name)
            for piece in _split(tc.arguments, 2):
                yield ToolCallDelta(index=index, arguments=piece)
        yield response

    def with_model(self, model: str) -> Provider:
        """A copy answering as another model name, sharing behaviour and the request log."""
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.model = model
        return clone

    async def aclose(self) -> None:
        """Nothing to close."""

    @property
    def agents(self) -> list[str]:
        """The agent name of every request received, in order."""
        return [r.agent_name for r in self.requests]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r}, requests={len(self.requests)})"


class FunctionModel(_RecordingModel):
    """A model whose answers come from your function.

    Args:
        fn: ``fn(messages, info) -> Reply`` (sync or async); ``info`` is an :class:`AgentInfo`.
        model: The model name it reports.
    """

    def __init__(
        self,
        fn: Callable[[list[Message], AgentInfo], Reply | Awaitable[Reply]],
        *,
        model: str = "function",
    ) -> None:
        super().__init__(model)
        self.fn = fn

    async def _reply(self, request: ModelRequest) -> Reply:
        info = AgentInfo(request.agent_name, self.model, request.tools, request)
        value = self.fn(request.messages, info)
        if inspect.isawaitable(value):
            value = await value
        return value


class ScriptedModel(_RecordingModel):
    """A model that gives scripted replies in order.

    Args:
        replies: A list of replies (a ``Reply``, or an exception to raise), or a mapping from
            agent name to such a list, to script e.g. a planner and its executor apart.
        model: The model name it reports.
    """

    def __init__(
        self,
        replies: Sequence[Reply | BaseException] | Mapping[str, Sequence[Reply | BaseException]],
        *,
        model: str = "scripted",
    ) -> None:
        super().__init__(model)
        if isinstance(replies, Mapping):
            self.scripts = {k: list(v) for k, v in replies.items()}
        else:
            self.scripts = {"*": list(replies)}

    async def _reply(self, request: ModelRequest) -> Reply:
        key = request.agent_name if request.agent_name in self.scripts else "*"
        script = self.scripts.get(key)
        if not script:
            raise ModelError(
                f"ScriptedModel has no reply left for agent {request.agent_name!r} "
                f"(call #{len(self.requests)})",
                backend=self.backend,
                model=self.model,
                hint="add replies to the script",
            )
        reply = script.pop(0)
        if isinstance(reply, BaseException):
            raise reply
        return reply


_FORMATS = {"date-time": "2024-01-01T00:00:00Z", "date": "2024-01-01", "time": "12:00:00"}


def _sample(schema: dict[str, Any], root: dict[str, Any] | None = None) -> Any:
    """A simple value valid for ``schema`` (``$ref`` resolved against ``root``'s ``$defs``)."""
    root = root if root is not None else schema
    if "$ref" in schema:
        name = str(schema["$ref"]).rsplit("/", 1)[-1]
        return _sample(root.get("$defs", {}).get(name, {}), root)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return _sample(schema[key][0], root)
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        return {k: _sample(v, root) for k, v in props.items() if k in schema.get("required", [])}
    if kind == "array":
        items = schema.get("items")
        return [_sample(items, root)] if isinstance(items, dict) else []
    if kind == "string":
        return _FORMATS.get(str(schema.get("format")), "example")
    samples: dict[str, Any] = {"integer": 1, "number": 1.0, "boolean": True, "null": None}
    return samples.get(str(kind), {})


class TestModel(_RecordingModel):
    """An offline model that exercises an agent: it calls every tool once, then answers.

    On the first call of a turn that has tools it calls each tool with sample arguments built
    from the schema; then it answers with a short numbered summary of the task (the last user
    message) and the tool results of this turn, or, for an agent with an ``output_type``,
    with a simple valid value built from the output's JSON schema (strings ``"example"``,
    numbers ``1``, the first choice of an enum or union, one item per list). Deterministic,
    no network.
    """

    __test__ = False  # not a pytest test class

    async def _reply(self, request: ModelRequest) -> Reply:
        # This turn starts at the last user message: earlier turns (memory, a chat's history)
        # are context, not the task, and their tool results do not count as this turn's.
        messages = request.messages
        start = max((i for i, m in enumerate(messages) if isinstance(m, UserMessage)), default=0)
        turn = messages[start:]
        results = [m for m in turn if isinstance(m, ToolResult)]
        if request.tools and not results:
            return [
                call(t.name, _sample(t.parameters)) for t in request.tools if t.name != "spawn_self"
            ] or "No tools to call."
        if request.output is not None:
            return json.dumps(_sample(request.output.schema))
        task = text_of(turn[0].content) if turn and isinstance(turn[0], UserMessage) else ""
        lines_in = [ln for ln in task.strip().splitlines() if ln and ln != "Original task:"]
        first_line = lines_in[0] if lines_in else "the task"
        lines = [f"1. Understand the task: {first_line[:80]}"]
        lines += [
            f"{i}. Use {r.tool_name}: {text_of(r.content)[:60]}" for i, r in enumerate(results, 2)
        ]
        lines.append(f"{len(lines) + 1}. Report the answer.")
        return "\n".join(lines)


def test_provider(model: str) -> Provider:
    """Factory of the ``test:`` backend."""
    return TestModel(model)


test_provider.__test__ = False  # type: ignore[attr-defined]
