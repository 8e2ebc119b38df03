"""AG-UI: ``POST /agui/{agent}`` takes a ``RunAgentInput`` and streams AG-UI events.

AG-UI (the ``ag-ui-protocol`` package) is the event protocol CopilotKit-style frontends
speak. The frontend sends the whole thread each run, so a run's history is the input's
``messages`` (no server memory): the last user message is the task; system and developer
messages and the input's ``context`` add to the agent's instructions. The agent runs its own
tools; the input's ``tools`` (frontend actions) are not offered to it.

How a run maps to events:

- ``RUN_STARTED`` … ``RUN_FINISHED`` (with token usage, and the typed answer as ``result``),
  or ``RUN_ERROR`` (a failure, or a run that paused for approval, answered through ``/runs``);
- the planner (``planning_enabled``): ``STEP_STARTED``/``STEP_FINISHED`` named ``plan``, and a
  ``STATE_SNAPSHOT`` of the input's state with the plan under ``"plan"``;
- each model call: ``STEP_STARTED``/``STEP_FINISHED`` named ``step N``; its text as
  ``TEXT_MESSAGE_START``/``CONTENT``/``END``; its reasoning as ``REASONING_*`` events;
- each tool call: ``TOOL_CALL_START``/``ARGS``/``END``, then ``TOOL_CALL_RESULT``;
- warnings and a skipped plan: ``CUSTOM`` events named ``exo.warning`` and ``exo.plan_skipped``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from typing import Any

import pydantic_core
from ag_ui.core import (
    AssistantMessage as AguiAssistant,
)
from ag_ui.core import (
    BaseEvent,
    CustomEvent,
    ImagePart,
    ReasoningEndEvent,
    ReasoningMessageContentEvent,
    ReasoningMessageEndEvent,
    ReasoningMessageStartEvent,
    ReasoningStartEvent,
    RunAgentInput,
    RunErrorEvent,
    RunFinishedEvent,
    RunStartedEvent,
    StateSnapshotEvent,
    StepFinishedEvent,
    StepStartedEvent,
    TextMessageContentEvent,
    TextMessageEndEvent,
    TextMessageStartEvent,
    TextPart,
    TokenUsage,
    ToolCallArgsEvent,
    ToolCallEndEvent,
    ToolCallResultEvent,
    ToolCallStartEvent,
    ToolMessage,
)
from ag_ui.core import (
    UserMessage as AguiUser,
)
from ag_ui.encoder import EventEncoder
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from exo.models.base import FINAL_RESULT
from exo.runner import RunOptions
from exo.serve._wire import (
    BadRequest,
    Hub,
    Paused,
    error_of,
    error_response,
    find_agent,
    image_block,
    parse_body,
    request_agent,
    text_blocks,
    tool_answer,
)
from exo.types import (
    AssistantMessage,
    ContentBlock,
    Message,
    PlanCompleteEvent,
    PlanSkippedEvent,
    ReasoningEvent,
    RunResult,
    StepEvent,
    StreamEvent,
    TextBlock,
    TextEvent,
    ToolCall,
    ToolCallEvent,
    ToolResult,
    ToolResultEvent,
    UserMessage,
    WarningEvent,
    text_of,
)

__all__ = ["agui_input", "routes"]


def routes(hub: Hub) -> list[BaseRoute]:
    """The AG-UI route, serving ``hub``'s agents."""

    async def agui(request: Request) -> Response:
        try:
            agent = find_agent(hub, request.path_params["agent"])
            body = await parse_body(request, RunAgentInput)
            task, history, extra = agui_input(body)
            agent = request_agent(hub, agent, instructions=extra)
        except Exception as exc:
            return error_response(hub, exc)
        encoder = EventEncoder(accept=request.headers.get("accept", ""))
        options = RunOptions(messages=history, stream=True, detailed=True)
        stream = AguiStream(body, encoder)
        return hub.stream(stream.run(hub.runner.events(agent, task, options)))

    return [Route("/agui/{agent}", agui, methods=["POST"])]


class AguiStream:
    """One run's AG-UI events, encoded for the wire (see the module docstring)."""

    def __init__(self, body: RunAgentInput, encoder: EventEncoder) -> None:
        self.thread_id, self.run_id = body.thread_id, body.run_id
        self.state = body.state if isinstance(body.state, dict) else {}
        self.encoder = encoder
        self._text: str | None = None  # id of the open text message
        self._reasoning: str | None = None  # id of the open reasoning message
        self._steps: list[str] = []  # names of the steps started and not finished
        self._feeds: dict[str, Callable[[Any], list[BaseEvent]]] = {
            "text": self._on_text,
            "reasoning": self._on_reasoning,
            "tool_call": self._on_tool_call,
            "tool_result": self._on_tool_result,
            "step": self._on_step,
            "plan_start": lambda _: self._start_step("plan"),
            "plan_complete": self._on_plan,
            "plan_skipped": self._on_plan_skipped,
            "warning": self._on_warning,
        }

    async def run(self, events: AsyncGenerator[StreamEvent, None]) -> AsyncGenerator[bytes, None]:
        """Encode the run's events (a disconnect cancels the run)."""
        yield self._encode(RunStartedEvent(thread_id=self.thread_id, run_id=self.run_id))
        result: RunResult[Any] | None = None
        closing: list[BaseEvent]
        try:
            async with aclosing(events) as run:
                async for event in run:
                    if event.type == "run_complete":
                        result = event.result  # finished once the run ends without error
                        continue
                    handle = None if event.lineage else self._feeds.get(event.type)
                    for out in handle(event) if handle is not None else ():
                        yield self._encode(out)
            assert result is not None  # the engine ends with RunCompleteEvent or raises
            closing = self._finish(result)
        except Exception as exc:
            _, message, _, code = error_of(exc)
            closing = [*self._close(), RunErrorEvent(message=message, code=code)]
        for out in closing:
            yield self._encode(out)

    def _encode(self, event: BaseEvent) -> bytes:
        return self.encoder.encode(event).encode()

    def _finish(self, result: RunResult[Any]) -> list[BaseEvent]:
        events = self._close()
        if result.status == "paused":
            message = str(Paused(result))
            return [*events, RunErrorEvent(message=message, code="approval_required")]
        answer = tool_answer(result)
        if answer is not None:  # a typed answer sent through the final_result tool
            events += [*self._on_text(TextEvent(agent_name="", text=answer)), *self._close()]
        usage = result.usage
        tokens = TokenUsage(
            model=result.model,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            total_tokens=usage.total_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            cached_input_tokens=usage.cache_read_tokens,
        )
        for name in list(self._steps):  # a run that finished has no step left going
            events += self._finish_step(name)
        output = pydantic_core.to_jsonable_python(result.output)
        finished = RunFinishedEvent(
            thread_id=self.thread_id, run_id=self.run_id, result=output, usage=[tokens]
        )
        return [*events, finished]

    def _close(self) -> list[BaseEvent]:
        """End the open text or reasoning message, if any."""
        events: list[BaseEvent] = []
        if self._text is not None:
            events.append(TextMessageEndEvent(message_id=self._text))
            self._text = None
        if self._reasoning is not None:
            message_id = self._reasoning
            events += [
                ReasoningMessageEndEvent(message_id=message_id),
                ReasoningEndEvent(message_id=message_id),
            ]
            self._reasoning = None
        return events

    def _on_text(self, event: TextEvent) -> list[BaseEvent]:
        events: list[BaseEvent] = []
        if self._text is None:
            events += self._close()
            self._text = f"msg_{uuid.uuid4().hex}"
            events.append(TextMessageStartEvent(message_id=self._text, role="assistant"))
        events.append(TextMessageContentEvent(message_id=self._text, delta=event.text))
        return events

    def _on_reasoning(self, event: ReasoningEvent) -> list[BaseEvent]:
        events: list[BaseEvent] = []
        if self._reasoning is None:
            events += self._close()
            message_id = self._reasoning = f"rs_{uuid.uuid4().hex}"
            events += [
                ReasoningStartEvent(message_id=message_id),
                ReasoningMessageStartEvent(message_id=message_id),
            ]
        events.append(ReasoningMessageContentEvent(message_id=self._reasoning, delta=event.text))
        return events

    def _on_tool_call(self, event: ToolCallEvent) -> list[BaseEvent]:
        if event.tool_name == FINAL_RESULT:
            return []
        parent = self._text
        call_id = event.tool_call_id
        return [
            *self._close(),
            ToolCallStartEvent(
                tool_call_id=call_id, tool_call_name=event.tool_name, parent_message_id=parent
            ),
            ToolCallArgsEvent(tool_call_id=call_id, delta=event.arguments),
            ToolCallEndEvent(tool_call_id=call_id),
        ]

    def _on_tool_result(self, event: ToolResultEvent) -> list[BaseEvent]:
        if event.tool_name == FINAL_RESULT:
            return []
        return [
            ToolCallResultEvent(
                message_id=f"tool_{uuid.uuid4().hex}",
                tool_call_id=event.tool_call_id,
                content=text_of(event.content),
                role="tool",
            )
        ]

    def _start_step(self, name: str) -> list[BaseEvent]:
        self._steps.append(name)
        return [StepStartedEvent(step_name=name)]

    def _finish_step(self, name: str) -> list[BaseEvent]:
        if name not in self._steps:
            return []
        self._steps.remove(name)
        return [*self._close(), StepFinishedEvent(step_name=name)]

    def _on_step(self, event: StepEvent) -> list[BaseEvent]:
        name = f"step {event.step}"
        if event.status == "started":
            return self._start_step(name)
        return self._finish_step(name)

    def _on_plan(self, event: PlanCompleteEvent) -> list[BaseEvent]:
        self.state = {**self.state, "plan": event.plan.text}
        return [StateSnapshotEvent(snapshot=self.state), *self._finish_step("plan")]

    def _on_plan_skipped(self, event: PlanSkippedEvent) -> list[BaseEvent]:
        return [
            *self._finish_step("plan"),
            CustomEvent(name="exo.plan_skipped", value={"reason": event.reason}),
        ]

    def _on_warning(self, event: WarningEvent) -> list[BaseEvent]:
        return [
            CustomEvent(name="exo.warning", value={"code": event.code, "message": event.message})
        ]


def agui_input(body: RunAgentInput) -> tuple[str | list[ContentBlock], list[Message], list[str]]:
    """Split a ``RunAgentInput`` into the task (the last user message), the history and the
    instructions it adds (system and developer messages, and its ``context``).

    Raises:
        BadRequest: no user message last, or content exo cannot take.
    """
    history: list[Message] = []
    extra: list[str] = []
    names: dict[str, str] = {}  # tool call id → tool name, for the results that follow
    for i, message in enumerate(body.messages):
        if message.role in ("system", "developer"):
            extra.append(str(message.content))
        elif isinstance(message, AguiUser):
            history.append(UserMessage(content=_user_content(message.content, i)))
        elif isinstance(message, AguiAssistant):
            calls = [
                ToolCall(id=c.id, name=c.function.name, arguments=c.function.arguments)
                for c in message.tool_calls or []
            ]
            names.update((c.id, c.name) for c in calls)
            history.append(AssistantMessage(content=message.content or "", tool_calls=calls))
        elif isinstance(message, ToolMessage):
            content = message.content if isinstance(message.content, str) else ""
            history.append(
                ToolResult(
                    tool_call_id=message.tool_call_id,
                    tool_name=names.get(message.tool_call_id, ""),
                    content=content,
                    is_error=message.error is not None,
                )
            )
    if not history or not isinstance(history[-1], UserMessage):
        raise BadRequest("messages must end with a user message (the task)", param="messages")
    extra += [f"{c.description}: {c.value}" for c in body.context or []]
    task = history.pop()
    return task.content, history, extra


def _user_content(content: str | list[Any], index: int) -> str | list[ContentBlock]:
    if isinstance(content, str):
        return content
    blocks: list[ContentBlock] = []
    for part in content:
        if isinstance(part, TextPart):
            blocks.append(TextBlock(text=part.text))
        elif isinstance(part, ImagePart) and part.source.type in ("url", "data"):
            source = part.source
            value = source.value
            if source.type == "data":
                value = f"data:{source.mime_type};base64,{value}"
            blocks.append(image_block(value))
        else:
            raise BadRequest(
                f"messages[{index}]: content of type {part.type!r} is not supported",
                param=f"messages[{index}].content",
            )
    return text_blocks(blocks)
