"""Valid response shapes of the three protocols, and the mutations the wire fuzzer applies.

Seeds are valid answers (text, parallel tool calls, server-side tools, reasoning) rendered
by :mod:`reliability.wire` or written here after real recorded traffic (Anthropic's
web search stream in pydantic-ai's ``test_anthropic_model_web_search_tool_stream`` cassette;
the Responses API's built-in tool items). A mutation changes one place of a JSON document
(any field of any event): a wrong type, a missing or ``null`` value, an extra key, a list
item dropped, duplicated, swapped or replaced by a non-object, a stream cut short.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import httpx2

from exo.models.anthropic import AnthropicProvider
from exo.models.base import Provider
from exo.models.openai import OpenAIProvider
from exo.models.openai_responses import OpenAIResponsesProvider
from reliability.wire import Call, Turn, render_events, render_json

__all__ = [
    "KEY",
    "MUTATIONS",
    "WRONG",
    "Boundary",
    "anthropic_server_tool_stream",
    "build",
    "encode_stream",
    "json_seeds",
    "mutate",
    "paths",
    "stream_seeds",
]

MODEL = "fuzz-model"
KEY = "sk-fuzz-0123456789"


class Boundary:
    """The HTTP boundary: answers every request with the body set for the next call."""

    def __init__(self, body: bytes = b"", content_type: str = "application/json") -> None:
        self.body = body
        self.content_type = content_type
        self.requests = 0

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        self.requests += 1
        return httpx2.Response(200, headers={"content-type": self.content_type}, content=self.body)


def build(protocol: str, raw: bool, boundary: Boundary) -> Provider:
    """The real provider of ``protocol`` (official SDK inside), answered by ``boundary``."""
    client = httpx2.AsyncClient(transport=httpx2.MockTransport(boundary.handle))
    if protocol == "openai":
        return OpenAIProvider(MODEL, api_key=KEY, http_client=client, raw=raw)
    if protocol == "openai-responses":
        return OpenAIResponsesProvider(MODEL, api_key=KEY, http_client=client, raw=raw)
    return AnthropicProvider(MODEL, api_key=KEY, http_client=client, raw=raw)


WRONG: tuple[Any, ...] = (
    None,
    0,
    -1,
    2.5,
    True,
    "",
    "x",
    "0",
    [],
    {},
    [None],
    [1, "a"],
    {"x": 1},
    [{"type": "text", "text": "part"}],
    2**70,
)
"""Values a field is replaced with: every JSON type, empty ones, and a list of text parts."""

MUTATIONS = ("replace", "delete", "extra", "junk_item", "duplicate", "drop", "swap", "truncate")

_TURNS = (
    Turn(text="Hello there, friend.", pieces=3),
    Turn(
        text="Two calls.",
        calls=(Call("add", '{"a": 1, "b": 2}'), Call("echo", '{"text": "hi"}')),
        pieces=2,
    ),
    Turn(calls=(Call("lookup", '{"q": "x"}'),), pieces=2),
)


def _events(raw: list[bytes]) -> list[Any]:
    """Parse rendered SSE events back to JSON documents (``[DONE]`` stays a string)."""
    out: list[Any] = []
    for event in raw:
        data = next(line[6:] for line in event.split(b"\n") if line.startswith(b"data: "))
        out.append("[DONE]" if data == b"[DONE]" else json.loads(data))
    return out


def json_seeds(protocol: str) -> list[dict[str, Any]]:
    """Valid whole responses of ``protocol``."""
    seeds = [render_json(protocol, turn, MODEL) for turn in _TURNS]
    if protocol == "openai":
        parts = [{"type": "text", "text": "in "}, {"type": "text", "text": "parts"}]
        seeds.append(
            seeds[0]
            | {
                "choices": [
                    seeds[0]["choices"][0] | {"message": {"role": "assistant", "content": parts}}
                ]
            }
        )
    elif protocol == "openai-responses":
        seeds.append(seeds[0] | {"output": [_WEB_SEARCH_CALL, *seeds[0]["output"]]})
    else:
        seeds.append(seeds[0] | {"content": [*_SERVER_TOOL_BLOCKS, *seeds[0]["content"]]})
    return seeds


def stream_seeds(protocol: str) -> list[list[Any]]:
    """Valid streams of ``protocol``, each a list of event documents."""
    seeds = [_events(render_events(protocol, turn, MODEL)) for turn in _TURNS]
    if protocol == "anthropic":
        seeds.append(anthropic_server_tool_stream())
    elif protocol == "openai-responses":
        text = seeds[0]
        added = {"type": "response.output_item.added", "output_index": 0, "item": _WEB_SEARCH_CALL}
        done = {"type": "response.output_item.done", "output_index": 0, "item": _WEB_SEARCH_CALL}
        seeds.append([text[0], added, done, *text[1:]])
    return seeds


def encode_stream(protocol: str, events: list[Any]) -> bytes:
    """Render event documents as an SSE body (the event name from each one's ``type``)."""
    out: list[bytes] = []
    for event in events:
        if event == "[DONE]":
            out.append(b"data: [DONE]\n\n")
            continue
        kind = event.get("type") if isinstance(event, dict) else None
        head = (
            f"event: {kind}\n".encode() if protocol != "openai" and isinstance(kind, str) else b""
        )
        out.append(head + b"data: " + json.dumps(event).encode() + b"\n\n")
    return b"".join(out)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a JSON document, the root included."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for n, item in enumerate(value):
            yield from paths(item, (*prefix, n))


def mutate(doc: Any, path: tuple[Any, ...], op: str, wrong: Any, at: int) -> Any:
    """A copy of ``doc`` with mutation ``op`` applied at ``path``.

    ``wrong`` is the value used by ``replace`` and ``junk_item``; ``at`` picks a position for
    the list operations (taken modulo the list's length).
    """
    doc = copy.deepcopy(doc)
    if not path:
        parent: Any = None
        target = doc
    else:
        parent = _get(doc, path[:-1])
        target = parent[path[-1]]
    if op == "replace":
        if parent is None:
            return copy.deepcopy(wrong)
        parent[path[-1]] = copy.deepcopy(wrong)
    elif op == "delete" and parent is not None:
        del parent[path[-1]]
    elif op == "extra" and isinstance(target, dict):
        target["unexpected_field"] = {"nested": [1, None]}
    elif isinstance(target, list) and target:
        n = at % len(target)
        if op == "junk_item":
            target.insert(n, copy.deepcopy(wrong))
        elif op == "duplicate":
            target.insert(n, copy.deepcopy(target[n]))
        elif op == "drop":
            del target[n]
        elif op == "swap":
            m = (n + 1) % len(target)
            target[n], target[m] = target[m], target[n]
        elif op == "truncate":
            del target[n:]
    return doc


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


# --------------------------------------------------------------------------- server-side tools
# Shapes as in real recorded traffic; ids and encrypted payloads shortened.

_WEB_SEARCH_CALL = {
    "id": "ws_0a1b2c",
    "type": "web_search_call",
    "status": "completed",
    "action": {"type": "search", "query": "weather in San Francisco today"},
}

_SEARCH_RESULT = {
    "type": "web_search_tool_result",
    "tool_use_id": "srvtoolu_01FYcUbz",
    "content": [
        {
            "type": "web_search_result",
            "title": "San Francisco, CA Weather Forecast",
            "url": "https://www.example.com/sf/weather",
            "encrypted_content": "EroTCioIBxgCIiQ0NGFl",
            "page_age": "6 days ago",
        }
    ],
}

_SERVER_TOOL_BLOCKS = [
    {
        "type": "server_tool_use",
        "id": "srvtoolu_01FYcUbz",
        "name": "web_search",
        "input": {"query": "San Francisco weather today"},
    },
    _SEARCH_RESULT,
]


def anthropic_server_tool_stream() -> list[Any]:
    """A web search answered on Anthropic's side, streamed as the API streams it."""

    def delta(index: int, **fields: Any) -> dict[str, Any]:
        return {"type": "content_block_delta", "index": index, "delta": fields}

    start = {
        "id": "msg_01Qmx",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 2068, "output_tokens": 8},
    }
    tool = {"type": "server_tool_use", "id": "srvtoolu_01FYcUbz", "name": "web_search", "input": {}}
    cited = {"citations": [], "type": "text", "text": ""}
    citation = {
        "type": "web_search_result_location",
        "cited_text": "Average mid-September highs are around 70 degrees.",
        "url": "https://www.example.com/sf/weather",
        "title": "Weather",
        "encrypted_index": "EpABCioIBxgC",
    }
    return [
        {"type": "message_start", "message": start},
        {"type": "content_block_start", "index": 0, "content_block": tool},
        delta(0, type="input_json_delta", partial_json=""),
        delta(0, type="input_json_delta", partial_json='{"query": "San Fr'),
        delta(0, type="input_json_delta", partial_json='ancisco weather"}'),
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": _SEARCH_RESULT},
        {"type": "content_block_stop", "index": 1},
        {"type": "content_block_start", "index": 2, "content_block": cited},
        delta(2, type="citations_delta", citation=citation),
        delta(2, type="text_delta", text="Around 70 degrees."),
        {"type": "content_block_stop", "index": 2},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 120, "server_tool_use": {"web_search_requests": 1}},
        },
        {"type": "message_stop"},
    ]
