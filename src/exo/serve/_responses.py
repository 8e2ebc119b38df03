"""One exo run as an OpenAI Responses response: its stream events and its Response object.

:class:`ResponseBuilder` follows the run's events and returns, for each, the Responses stream
events it makes (``response.output_item.added``, ``response.output_text.delta``, ...); the
streaming route sends them, the non-streaming route ignores them and returns
:meth:`ResponseBuilder.response` at the end, so both build the same output items.

Output items:

- the answer text of each model step: a ``message`` item (``output_text``);
- the model's reasoning (when its provider streams it): a ``reasoning`` item with
  ``reasoning_text`` content;
- the planner's plan (``planning_enabled``): a ``reasoning`` item whose ``summary`` is the plan;
- a tool call the agent made: a ``function_call`` item with ``status="completed"``, followed by
  its result as a ``function_call_output`` item (the same ``call_id``). The agent ran the tool on
  the server: a client finds each call already answered and must not run it again.

Events of spawned children (those with a ``lineage``) stay inside their ``spawn_self`` call,
whose result is the children's answers.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from exo.models.base import FINAL_RESULT
from exo.serve._wire import tool_answer
from exo.types import (
    PlanCompleteEvent,
    ReasoningEvent,
    RunResult,
    StepEvent,
    StreamEvent,
    TextEvent,
    ToolCallEvent,
    ToolResultEvent,
    Usage,
    text_of,
)

__all__ = ["ResponseBuilder", "usage_of"]

Event = dict[str, Any]


def _id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def usage_of(usage: Usage) -> dict[str, Any]:
    """A run's usage in the Responses shape."""
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {
            "cached_tokens": usage.cache_read_tokens,
            "cache_write_tokens": usage.cache_write_tokens,
        },
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.total_tokens,
    }


class ResponseBuilder:
    """Build one response from a run's events (see the module docstring).

    Args:
        response_id: The response's id.
        model: The agent's name (the ``model`` a client asked for).
        echo: Request fields a Response repeats (``instructions``, ``previous_response_id``,
            ``text``, ``temperature``, ``max_output_tokens``, ``store``, ``metadata``).
    """

    def __init__(self, *, response_id: str, model: str, echo: dict[str, Any]) -> None:
        self.id = response_id
        self.model = model
        self.echo = echo
        self.created_at = int(time.time())
        self.output: list[dict[str, Any]] = []
        self._seq = 0
        self._open: dict[str, Any] | None = None  # the message or reasoning item taking deltas
        self._parts: list[str] = []  # the open item's text so far (joined once, at its end)
        self._feeds: dict[str, Callable[[Any], list[Event]]] = {
            "text": self._on_text,
            "reasoning": self._on_reasoning,
            "tool_call": self._on_tool_call,
            "tool_result": self._on_tool_result,
            "plan_complete": self._on_plan,
            "step": self._on_step,
        }

    def _event(self, kind: str, **fields: Any) -> Event:
        event = {"type": kind, "sequence_number": self._seq, **fields}
        self._seq += 1
        return event

    def response(
        self,
        status: str,
        *,
        usage: Usage | None = None,
        error: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The Response object as it stands."""
        echo = self.echo
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "completed_at": int(time.time()) if status == "completed" else None,
            "error": error,
            "incomplete_details": None,
            "instructions": echo.get("instructions"),
            "max_output_tokens": echo.get("max_output_tokens"),
            "metadata": echo.get("metadata") or {},
            "model": self.model,
            "output": list(self.output),
            "parallel_tool_calls": True,
            "previous_response_id": echo.get("previous_response_id"),
            "store": echo.get("store", True),
            "temperature": echo.get("temperature"),
            "text": echo.get("text") or {"format": {"type": "text"}},
            "tool_choice": "auto",
            "tools": [],
            "top_p": None,
            "truncation": "disabled",
            "usage": usage_of(usage) if usage is not None else None,
        }

    def start(self) -> list[Event]:
        """``response.created`` and ``response.in_progress``."""
        snapshot = self.response("in_progress")
        return [
            self._event("response.created", response=snapshot),
            self._event("response.in_progress", response=snapshot),
        ]

    def feed(self, event: StreamEvent) -> list[Event]:
        """The stream events one run event makes (none for most lifecycle events)."""
        if event.lineage:
            return []
        handle = self._feeds.get(event.type)
        return handle(event) if handle is not None else []

    def complete(self, result: RunResult[Any]) -> list[Event]:
        """Close the response on the run's result: ``response.completed`` with usage."""
        events = self._close()
        answer = tool_answer(result)
        if answer is not None:  # the client reads a typed answer as the message's text
            events += self._on_text(TextEvent(agent_name=result.agent_name, text=answer))
            events += self._close()
        done = self.response("completed", usage=result.usage)
        events.append(self._event("response.completed", response=done))
        return events

    def fail(self, message: str, usage: Usage | None = None) -> list[Event]:
        """Close the response as failed: ``response.failed`` with the error."""
        events = self._close(status="incomplete")
        error = {"code": "server_error", "message": message}
        failed = self.response("failed", usage=usage, error=error)
        events.append(self._event("response.failed", response=failed))
        return events

    # ----------------------------------------------------------------- one kind of event each

    def _add(self, item: dict[str, Any]) -> Event:
        self.output.append(item)
        return self._event(
            "response.output_item.added", output_index=len(self.output) - 1, item=dict(item)
        )

    def _done(self, item: dict[str, Any], index: int) -> Event:
        return self._event("response.output_item.done", output_index=index, item=dict(item))

    def _on_text(self, event: TextEvent) -> list[Event]:
        events: list[Event] = []
        if self._open is None or self._open["type"] != "message":
            events += self._close()
            events += self._open_item(
                {"type": "message", "role": "assistant", "content": []},
                _id("msg"),
                {"type": "output_text", "text": "", "annotations": []},
            )
        assert self._open is not None
        self._parts.append(event.text)
        events.append(
            self._event(
                "response.output_text.delta",
                item_id=self._open["id"],
                output_index=len(self.output) - 1,
                content_index=0,
                delta=event.text,
                logprobs=[],
            )
        )
        return events

    def _on_reasoning(self, event: ReasoningEvent) -> list[Event]:
        events: list[Event] = []
        if self._open is None or self._open["type"] != "reasoning":
            events += self._close()
            events += self._open_item(
                {"type": "reasoning", "summary": [], "content": []},
                _id("rs"),
                {"type": "reasoning_text", "text": ""},
            )
        assert self._open is not None
        self._parts.append(event.text)
        events.append(
            self._event(
                "response.reasoning_text.delta",
                item_id=self._open["id"],
                output_index=len(self.output) - 1,
                content_index=0,
                delta=event.text,
            )
        )
        return events

    def _open_item(self, item: dict[str, Any], item_id: str, part: dict[str, Any]) -> list[Event]:
        item = {"id": item_id, **item, "status": "in_progress"}
        added = self._add(item)
        self._open, self._parts = item, []
        index = len(self.output) - 1
        return [
            added,
            self._event(
                "response.content_part.added",
                item_id=item_id,
                output_index=index,
                content_index=0,
                part=part,
            ),
        ]

    def _close(self, status: str = "completed") -> list[Event]:
        """Finish the message or reasoning item taking deltas, if any."""
        item = self._open
        if item is None:
            return []
        self._open = None
        index, text = len(self.output) - 1, "".join(self._parts)
        common = {"item_id": item["id"], "output_index": index, "content_index": 0}
        if item["type"] == "message":
            part: dict[str, Any] = {"type": "output_text", "text": text, "annotations": []}
            text_done = self._event("response.output_text.done", **common, text=text, logprobs=[])
        else:
            part = {"type": "reasoning_text", "text": text}
            text_done = self._event("response.reasoning_text.done", **common, text=text)
        part_done = self._event("response.content_part.done", **common, part=part)
        item.update(content=[part], status=status)
        return [text_done, part_done, self._done(item, index)]

    def _on_step(self, event: StepEvent) -> list[Event]:
        # A step's text is whole at its end; the next step's text is another message.
        return self._close() if event.status == "completed" else []

    def _on_plan(self, event: PlanCompleteEvent) -> list[Event]:
        text = event.plan.text
        if not text:
            return []
        item: dict[str, Any] = {
            "id": _id("rs"),
            "type": "reasoning",
            "summary": [],
            "status": "in_progress",
        }
        events = [*self._close(), self._add(item)]
        index = len(self.output) - 1
        common = {"item_id": item["id"], "output_index": index, "summary_index": 0}
        part = {"type": "summary_text", "text": text}
        events += [
            self._event(
                "response.reasoning_summary_part.added",
                **common,
                part={"type": "summary_text", "text": ""},
            ),
            self._event("response.reasoning_summary_text.delta", **common, delta=text),
            self._event("response.reasoning_summary_text.done", **common, text=text),
            self._event("response.reasoning_summary_part.done", **common, part=part),
        ]
        item.update(summary=[part], status="completed")
        events.append(self._done(item, index))
        return events

    def _on_tool_call(self, event: ToolCallEvent) -> list[Event]:
        if event.tool_name == FINAL_RESULT:
            return []
        item = {
            "id": _id("fc"),
            "type": "function_call",
            "call_id": event.tool_call_id,
            "name": event.tool_name,
            "arguments": "",
            "status": "in_progress",
        }
        events = [*self._close(), self._add(item)]
        index = len(self.output) - 1
        common = {"item_id": item["id"], "output_index": index}
        events += [
            self._event("response.function_call_arguments.delta", **common, delta=event.arguments),
            self._event(
                "response.function_call_arguments.done", **common, arguments=event.arguments
            ),
        ]
        item.update(arguments=event.arguments, status="completed")
        events.append(self._done(item, index))
        return events

    def _on_tool_result(self, event: ToolResultEvent) -> list[Event]:
        if event.tool_name == FINAL_RESULT:
            return []
        item = {
            "id": _id("fco"),
            "type": "function_call_output",
            "call_id": event.tool_call_id,
            "name": event.tool_name,
            "output": "",
            "status": "in_progress",
        }
        events = [*self._close(), self._add(item)]
        item.update(output=text_of(event.content), status="completed")
        events.append(self._done(item, len(self.output) - 1))
        return events
