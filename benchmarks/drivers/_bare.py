"""The hand-written agent loop shared by the bare HTTP-client drivers.

Both bare drivers (aiohttp, httpx) run this same code and differ only in the HTTP
client, so their difference is the client's cost. It is the least a program can
do for the task: build the JSON body, post it, parse the answer, run the tool.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from drivers._task import ADD_SCHEMA, MODEL, PROMPT, FirstText, add

MAX_TURNS = 10
HEADERS = {"Authorization": "Bearer sk-bench-dummy", "Content-Type": "application/json"}

PostJSON = Callable[[bytes], Awaitable[bytes]]
PostLines = Callable[[bytes], AsyncIterator[bytes]]


def _body(messages: list[dict[str, Any]], stream: bool) -> bytes:
    payload: dict[str, Any] = {"model": MODEL, "messages": messages, "tools": [ADD_SCHEMA]}
    if stream:
        payload["stream"] = True
        payload["stream_options"] = {"include_usage": True}
    return json.dumps(payload).encode()


def _step(messages: list[dict[str, Any]], message: dict[str, Any]) -> str | None:
    """Append the model's message and its tool results; return the answer if it is final."""
    calls = message.get("tool_calls")
    if not calls:
        return str(message.get("content") or "")
    messages.append({"role": "assistant", "content": None, "tool_calls": calls})
    for call in calls:
        args = json.loads(call["function"]["arguments"])
        messages.append({"role": "tool", "tool_call_id": call["id"], "content": str(add(**args))})
    return None


async def run_loop(post: PostJSON) -> str:
    """Run the task with non-streamed requests."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": PROMPT}]
    for _ in range(MAX_TURNS):
        data = json.loads(await post(_body(messages, stream=False)))
        answer = _step(messages, data["choices"][0]["message"])
        if answer is not None:
            return answer
    raise RuntimeError("bare loop: the model never gave a final answer")


async def stream_loop(post: PostLines, first_text: FirstText) -> str:
    """Run the task with streamed requests, parsing the Server-Sent Events by hand."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": PROMPT}]
    seen_text = False
    for _ in range(MAX_TURNS):
        text: list[str] = []
        calls: dict[int, dict[str, Any]] = {}
        async for line in post(_body(messages, stream=True)):
            if not line.startswith(b"data: "):
                continue
            data = line[6:].strip()
            if data == b"[DONE]":
                break
            for choice in json.loads(data)["choices"]:
                delta = choice["delta"]
                if content := delta.get("content"):
                    if not seen_text:
                        seen_text = True
                        first_text()
                    text.append(content)
                for part in delta.get("tool_calls") or ():
                    _merge_call(calls, part)
        message = {"content": "".join(text), "tool_calls": [calls[i] for i in sorted(calls)]}
        answer = _step(messages, message)
        if answer is not None:
            return answer
    raise RuntimeError("bare loop: the model never gave a final answer")


def _merge_call(calls: dict[int, dict[str, Any]], part: dict[str, Any]) -> None:
    """Fold one streamed tool-call delta into the call it belongs to."""
    call = calls.get(part["index"])
    function = part.get("function") or {}
    if call is None:
        calls[part["index"]] = {
            "id": part.get("id"),
            "type": "function",
            "function": {"name": function.get("name"), "arguments": function.get("arguments", "")},
        }
    else:
        call["function"]["arguments"] += function.get("arguments") or ""
