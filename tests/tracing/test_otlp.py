"""The wire: exo's spans over OTLP/HTTP to a local receiver that decodes the protobuf, and the
``exo run --trace otlp|console`` flag end to end (in a subprocess: it sets the global provider)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from exo import Agent, run
from exo.testing import FunctionModel, call
from exo.tracing import use_tracer_provider


class Receiver:
    """An OTLP/HTTP trace receiver on loopback: keeps each request's path, headers and spans."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], ExportTraceServiceRequest]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                headers = {k.lower(): v for k, v in self.headers.items()}
                owner.requests.append((self.path, headers, request))
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def spans(self) -> list[Any]:
        """Every received span, in the order they started."""
        found = [
            span
            for _, _, request in self.requests
            for resource_spans in request.resource_spans
            for scope_spans in resource_spans.scope_spans
            for span in scope_spans.spans
        ]
        return sorted(found, key=lambda s: s.start_time_unix_nano)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    yield made
    made.server.shutdown()
    made.server.server_close()


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    return getattr(value, kind)


def _attributes(span: Any) -> dict[str, Any]:
    return {a.key: _value(a.value) for a in span.attributes}


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


async def test_spans_arrive_over_otlp_http(receiver: Receiver) -> None:
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(f"{receiver.url}/v1/traces")))
    turns = [call("add", a=1, b=2), "3"]
    model = FunctionModel(lambda messages, info: turns.pop(0))
    with use_tracer_provider(provider):
        await run(Agent(name="w", model="test:x", tools=[add]), "add", provider=model)
    provider.shutdown()  # flushes the batch
    [(path, headers, _)] = receiver.requests
    assert path == "/v1/traces"
    assert headers["content-type"] == "application/x-protobuf"
    got = receiver.spans()
    assert [s.name for s in got] == [
        "invoke_agent w",
        "chat function",
        "execute_tool add",
        "chat function",
    ]
    root, chat, tool, _ = got
    assert chat.parent_span_id == tool.parent_span_id == root.span_id
    assert root.parent_span_id == b""
    assert chat.kind == chat.SPAN_KIND_CLIENT and root.kind == root.SPAN_KIND_INTERNAL
    chat_attributes = _attributes(chat)
    assert chat_attributes["gen_ai.operation.name"] == "chat"
    assert chat_attributes["gen_ai.provider.name"] == "exo.test"
    assert chat_attributes["gen_ai.response.finish_reasons"] == ["tool_calls"]
    assert isinstance(chat_attributes["gen_ai.usage.input_tokens"], int)
    assert _attributes(tool)["gen_ai.tool.name"] == "add"
    assert _attributes(root)["exo.steps"] == 2


AGENT_PY = '''
from exo import Agent

def search(query: str) -> str:
    """Search the web."""
    return f"results for {query}"

agent = Agent(name="tester", model="test:exec", tools=[search], planning_enabled=True)
'''


def _exo(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "agent.py").write_text(AGENT_PY)
    return subprocess.run(
        [sys.executable, "-c", "from exo._cli_entry import main; main()", *args],
        cwd=tmp_path,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_exo_run_trace_otlp_honours_the_otlp_variables(receiver: Receiver, tmp_path: Path) -> None:
    done = _exo(
        tmp_path,
        "run",
        "agent.py",
        "Compare React vs Svelte",
        "--trace",
        "otlp",
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url,
        OTEL_EXPORTER_OTLP_HEADERS="x-collector-key=abc123",
        OTEL_SERVICE_NAME="exo-cli-test",
    )
    assert done.returncode == 0, done.stderr
    assert receiver.requests, done.stderr
    assert {path for path, _, _ in receiver.requests} == {"/v1/traces"}
    assert all(h["x-collector-key"] == "abc123" for _, h, _ in receiver.requests)
    services = {
        _value(a.value)
        for _, _, request in receiver.requests
        for rs in request.resource_spans
        for a in rs.resource.attributes
        if a.key == "service.name"
    }
    assert services == {"exo-cli-test"}
    names = {s.name for s in receiver.spans()}
    assert {"invoke_agent tester", "invoke_agent tester_planner", "execute_tool search"} <= names


def test_exo_run_trace_console_prints_the_tree(tmp_path: Path) -> None:
    done = _exo(tmp_path, "run", "agent.py", "Compare React vs Svelte", "--trace", "console")
    assert done.returncode == 0, done.stderr
    tree = [
        re.split(r"  (?=[\d.]+ m?s)", line)[0]
        for line in done.stderr.splitlines()
        if "invoke_agent" in line or "chat exec" in line or "execute_tool" in line
    ]
    assert tree == [
        "invoke_agent tester",
        "├── invoke_agent tester_planner",
        "│   ├── chat exec",
        "│   ├── execute_tool search",
        "│   └── chat exec",
        "├── chat exec",
        "├── execute_tool search",
        "└── chat exec",
    ]
    assert done.stdout.startswith("1. Understand the task")  # the answer stays on stdout
