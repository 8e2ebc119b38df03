"""Replay the real recorded provider traffic vendored in tests/traffic/ at the HTTP boundary.

Both cassette flavours (pydantic-ai's ``parsed_body`` and mirascope's raw / gzip ``!!binary``
bodies) load into :class:`Interaction` objects. :class:`Replayer` hands them out in recorded
order through an ``httpx2.MockTransport`` (the transport layer the official SDKs use), records
every request the SDK really sent, and can check it against the recording.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import yaml

from exo.models.base import (
    ModelChunk,
    ModelRequest,
    ModelResponse,
    ModelSettings,
    Provider,
    ToolSpec,
)
from exo.types import Message

# Vendored in the repository (with its licences and attribution in traffic/README.md), so a
# bare clone runs the suite with no environment variable and nothing beside the checkout.
TRAFFIC = Path(__file__).resolve().parent / "traffic"


@dataclass
class Interaction:
    """One recorded request and its response."""

    method: str
    uri: str
    request_body: Any  # parsed JSON (dict) or None
    status: int
    response_headers: dict[str, str]
    response_body: bytes  # decoded (never gzip)

    @property
    def path(self) -> str:
        return httpx2.URL(self.uri).path

    @property
    def is_sse(self) -> bool:
        return "text/event-stream" in self.response_headers.get("content-type", "")


def _header_dict(raw: dict[str, list[str]] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, values in (raw or {}).items():
        out[key.lower()] = values[0] if isinstance(values, list) and values else str(values)
    return out


def _request_body(req: dict[str, Any]) -> Any:
    if "parsed_body" in req:
        return req["parsed_body"]
    body = req.get("body")
    if body in (None, ""):
        return None
    if isinstance(body, dict) and "content" in body:  # newer pydantic-ai: {type, content}
        if body.get("type") == "json":
            return body["content"]
        body = body["content"]
    elif isinstance(body, dict):  # {string: ...}
        body = body.get("string")
    if isinstance(body, bytes):
        body = body.decode()
    try:
        return json.loads(body)
    except (TypeError, ValueError):
        return body


def _response_body(resp: dict[str, Any], headers: dict[str, str]) -> bytes:
    if "parsed_body" in resp:
        return json.dumps(resp["parsed_body"]).encode()
    body = resp.get("body", {})
    if isinstance(body, dict) and "content" in body:  # newer pydantic-ai: {type, content}
        if body.get("type") == "json":
            return json.dumps(body["content"]).encode()
        body = {"string": body["content"]}
    raw = body.get("string", "") if isinstance(body, dict) else body
    data = raw if isinstance(raw, bytes) else str(raw).encode()
    if headers.get("content-encoding") == "gzip" or data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data


def load(relative: str) -> list[Interaction]:
    """Load a cassette by its path under tests/traffic/ (e.g. ``openai/pydantic-ai/x.yaml``)."""
    with open(TRAFFIC / relative, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    out: list[Interaction] = []
    for item in doc["interactions"]:
        req, resp = item["request"], item["response"]
        headers = _header_dict(resp.get("headers"))
        body = _response_body(resp, headers)
        headers.pop("content-encoding", None)  # served decoded
        headers.pop("content-length", None)
        headers.pop("transfer-encoding", None)
        out.append(
            Interaction(
                method=req["method"],
                uri=req["uri"],
                request_body=_request_body(req),
                status=int(resp["status"]["code"]),
                response_headers=headers,
                response_body=body,
            )
        )
    return out


@dataclass
class Replayer:
    """Serve interactions in order; record what the client sent.

    Use ``replayer.transport`` as the transport of the ``httpx2.AsyncClient`` handed to the
    official SDK (``http_client=``).
    """

    interactions: list[Interaction]
    sent: list[Any] = field(default_factory=list)  # parsed JSON bodies actually sent
    paths: list[str] = field(default_factory=list)
    position: int = 0

    @classmethod
    def from_cassette(cls, relative: str) -> Replayer:
        return cls(load(relative))

    def _handle(self, request: httpx2.Request) -> httpx2.Response:
        if self.position >= len(self.interactions):
            return httpx2.Response(599, json={"error": {"message": "replay: no interaction left"}})
        inter = self.interactions[self.position]
        self.position += 1
        raw = request.content
        self.sent.append(json.loads(raw) if raw else None)
        self.paths.append(request.url.path)
        return httpx2.Response(
            inter.status, headers=inter.response_headers, content=inter.response_body
        )

    @property
    def transport(self) -> httpx2.MockTransport:
        return httpx2.MockTransport(self._handle)

    def client(self) -> httpx2.AsyncClient:
        """An ``httpx2.AsyncClient`` replaying this cassette."""
        return httpx2.AsyncClient(transport=self.transport)


async def call(
    provider: Provider,
    messages: Sequence[Message],
    tools: Sequence[ToolSpec],
    stream: bool,
    settings: ModelSettings | None = None,
) -> tuple[ModelResponse, list[ModelChunk]]:
    """One call, whole or streamed; for a stream, check the response comes last, once."""
    request = ModelRequest(
        messages=list(messages), tools=list(tools), settings=settings or ModelSettings()
    )
    if not stream:
        return await provider.complete(request), []
    chunks = [c async for c in provider.stream(request)]
    assert isinstance(chunks[-1], ModelResponse)
    assert not any(isinstance(c, ModelResponse) for c in chunks[:-1])
    return chunks[-1], chunks[:-1]
